//! `netagent down`: remove what netagent created.

use std::path::PathBuf;

use netagent::daemon;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Down {
    #[arg(short, long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
}

impl Down {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let rt = super::runtime()?;
        let n = rt
            .block_on(daemon::down(self.config, self.state_dir))
            .map_err(CmdError::Down)?;
        println!(
            "netagent: removed {n} bridge{} and routes, and table inet netagent",
            if n == 1 { "" } else { "s" }
        );
        Ok(())
    }
}
