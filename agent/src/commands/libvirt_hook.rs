//! `netagent libvirt-hook NETWORK OPERATION SUBOP -`: what libvirt's network
//! hook runs (the script `adopt-libvirt` installs). A domain's port made
//! or gone is told to the running agent, which names the guest after its
//! domain. It always succeeds and gives up within two seconds: libvirt
//! would refuse to plug the port if it failed, and the domain's start
//! waits for it.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use netagent::control::{self, client, proto::Request};
use netagent::daemon;

use super::CmdError;

/// Enough for any port's XML; the rest of a larger input is read and dropped.
const MAX_INPUT: u64 = 1 << 20;

#[derive(Debug, clap::Args)]
pub(crate) struct LibvirtHook {
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// What libvirt passes: the network's name, the operation, its step, `-`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl LibvirtHook {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let mut input = String::new();
        let stdin = std::io::stdin();
        let _ = stdin.lock().take(MAX_INPUT).read_to_string(&mut input);
        // libvirt writes all of its XML; what is past the limit is drained.
        let _ = std::io::copy(&mut stdin.lock(), &mut std::io::sink());
        let Some(port) = netagent::libvirt::hook::parse(&self.args, &input) else {
            return Ok(());
        };
        let req = Request::LibvirtPort { port };
        let socket = control::socket_path(&self.state_dir);
        if let Err(e) = client::call_within(&socket, &req, Duration::from_secs(2)) {
            eprintln!("netagent libvirt-hook: {e}");
        }
        Ok(())
    }
}
