//! `netagent leases`: from the running agent, or from the lease files when
//! none runs.

use std::path::PathBuf;

use netagent::config;
use netagent::control::{self, client, proto::Request};
use netagent::daemon;
use netagent::dhcp::show;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Leases {
    /// Only this network.
    network: Option<String>,
    /// The config, for reading lease files when no agent runs.
    #[arg(short, long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = daemon::DEFAULT_LEASE_DIR)]
    lease_dir: PathBuf,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// End the leases of this address or MAC (in NETWORK, or in every
    /// network), as if their clients had released them; prints them.
    #[arg(long, value_name = "IP|MAC")]
    release: Option<String>,
}

impl Leases {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        if let Some(target) = self.release {
            let req = Request::Release {
                network: self.network,
                target,
            };
            let r = client::call(&control::socket_path(&self.state_dir), &req)?;
            if !r.ok {
                return Err(CmdError::Refused(r.error.unwrap_or_default()));
            }
            let rows: Vec<show::Row> = serde_json::from_value(r.data)?;
            if self.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("released:");
                print!("{}", show::table(&rows));
            }
            return Ok(());
        }
        let req = Request::Leases {
            network: self.network.clone(),
        };
        let rows: Vec<show::Row> = match client::call(&control::socket_path(&self.state_dir), &req) {
            Ok(r) if r.ok => serde_json::from_value(r.data)?,
            Ok(r) => return Err(CmdError::Refused(r.error.unwrap_or_default())),
            Err(client::ClientError::NotRunning(_)) => {
                let (cfg, _) = config::load(self.config.as_deref())?;
                eprintln!(
                    "netagent is not running; leases from {}",
                    self.lease_dir.display()
                );
                show::rows(
                    &cfg,
                    self.network.as_deref(),
                    &self.lease_dir,
                    netagent::util::time::now(),
                )
                .map_err(CmdError::LeaseFiles)?
            }
            Err(e) => return Err(e.into()),
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", show::table(&rows));
        }
        Ok(())
    }
}
