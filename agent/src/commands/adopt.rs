//! `netagent adopt-libvirt -o FILE [NETWORK...]`: take libvirt's networks
//! over on a running host (every domain starts unchanged), and
//! `--undo` to give them back.

use std::path::PathBuf;

use netagent::daemon;
use netagent::libvirt::adopt::{self, virsh::Virsh};

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct AdoptLibvirt {
    /// Only these networks (default: every network libvirt has, active or defined).
    networks: Vec<String>,
    /// The netagent config to write (the running agent's own, if one runs):
    /// its other networks and uplink stay.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "/etc/netagent/netagent.toml"
    )]
    output: PathBuf,
    /// Print what would be done, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Adopt networks whose <bandwidth> or portgroup floor cannot be kept.
    #[arg(long)]
    force: bool,
    /// Give libvirt back the networks adopted earlier (all, or those named).
    #[arg(long)]
    undo: bool,
    /// The libvirt URI, as virsh takes it (default: virsh's).
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    connect: Option<String>,
    /// Where libvirt's original definitions are kept for --undo.
    #[arg(long, default_value = "/var/lib/netagent/libvirt")]
    save_dir: PathBuf,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long, default_value = daemon::DEFAULT_LEASE_DIR)]
    lease_dir: PathBuf,
}

impl AdoptLibvirt {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let o = adopt::Options {
            output: self.output,
            networks: self.networks,
            dry_run: self.dry_run,
            force: self.force,
            virsh: Virsh { uri: self.connect },
            save_dir: self.save_dir,
            state_dir: self.state_dir,
            lease_dir: self.lease_dir,
            libvirt_dir: netagent::libvirt::status::DNSMASQ_DIR.into(),
            hook_dir: netagent::libvirt::hook::HOOK_DIR.into(),
        };
        let mut out = std::io::stdout();
        let r = if self.undo {
            adopt::undo(&o, &mut out)
        } else {
            adopt::adopt(&o, &mut out)
        };
        r.map_err(CmdError::Adopt)
    }
}
