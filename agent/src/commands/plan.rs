//! `netagent plan [FILE]`: what a config makes, without touching anything.

use std::path::PathBuf;

use netagent::config;
use netagent::plan::plan;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Plan {
    /// The config file; without one, the embedded default network.
    file: Option<PathBuf>,
    /// Print the nft ruleset as the JSON netagent gives `nft -j`.
    #[arg(long)]
    nft_json: bool,
}

impl Plan {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let cfg = match &self.file {
            Some(f) => config::load(Some(f))?.0,
            None => config::default_config(),
        };
        let p = plan(&cfg);
        if self.nft_json {
            println!(
                "{}",
                serde_json::to_string_pretty(&netagent::firewall::ruleset(&p.bridges))?
            );
        } else {
            print!("{p}");
        }
        Ok(())
    }
}
