//! `netagent check FILE...`: every problem of every file, with file:line:col.

use std::path::PathBuf;

use netagent::config;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Check {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

impl Check {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let mut bad = Vec::new();
        for f in &self.files {
            match config::load(Some(f)) {
                Ok((cfg, _)) => println!(
                    "{}: ok ({} network{})",
                    f.display(),
                    cfg.networks.len(),
                    if cfg.networks.len() == 1 { "" } else { "s" }
                ),
                Err(e) => bad.push(e),
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Check(bad))
        }
    }
}
