//! `netagent import-libvirt FILE.xml...`: libvirt networks become a config.

use std::path::PathBuf;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct ImportLibvirt {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Run while libvirt's networks are still up: each network but the
    /// first keeps, by name, the guest taps on its bridge now.
    #[arg(long)]
    keep_taps: bool,
    /// Write the config to FILE (atomically: the old file stays whole
    /// until the new one is complete) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

impl ImportLibvirt {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let mut docs = Vec::new();
        for f in &self.files {
            let text = std::fs::read_to_string(f).map_err(|source| CmdError::ImportRead {
                path: f.clone(),
                source,
            })?;
            docs.push((f.display().to_string(), text));
        }
        let attached = if self.keep_taps {
            super::runtime()?
                .block_on(netagent::links::observe::bridge_ports())
                .map_err(CmdError::ImportLinks)?
        } else {
            Default::default()
        };
        let out = netagent::libvirt::import(&docs, &attached).map_err(CmdError::Import)?;
        for w in &out.warnings {
            eprintln!("warning: {w}");
        }
        match &self.output {
            Some(path) => {
                netagent::util::fs::write_atomic(path, out.toml.as_bytes())
                    .map_err(|e| CmdError::Import(e.to_string()))?;
                eprintln!("netagent import-libvirt: wrote {}", path.display());
            }
            None => print!("{}", out.toml),
        }
        if out.refused.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Import(format!(
                "not imported (the others were):\n{}",
                out.refused.join("\n")
            )))
        }
    }
}
