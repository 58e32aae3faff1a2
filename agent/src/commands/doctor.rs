//! `netagent doctor NETWORK`: send a probe packet of the network and show
//! which table's rule it met and what each said (see `netagent::doctor`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use netagent::config;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Doctor {
    /// The network whose guests' traffic to trace.
    network: String,
    /// The config the agent runs (default: /etc/netagent/netagent.toml).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Where the probe goes (a TCP SYN); default 192.0.2.1, an address for
    /// documentation that no one answers.
    #[arg(long, default_value = "192.0.2.1")]
    to: Ipv4Addr,
    /// Its TCP port.
    #[arg(long, default_value_t = 443)]
    port: u16,
    /// The guest address it comes from (default: the subnet's last free one).
    #[arg(long)]
    from: Option<Ipv4Addr>,
}

impl Doctor {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let (cfg, _) = config::load(self.config.as_deref())?;
        let probe = netagent::doctor::probe_for(&cfg, &self.network, self.to, self.port, self.from)
            .map_err(CmdError::Doctor)?;
        let report = super::runtime()?
            .block_on(netagent::doctor::run(&probe))
            .map_err(|e| CmdError::Doctor(e.to_string()))?;
        print!("{report}");
        Ok(())
    }
}
