//! The `netagent` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use netagent::config::{self, LoadError};
use netagent::plan::plan;

#[derive(Parser)]
#[command(
    name = "netagent",
    version,
    about = "Virtual networks for VM hosts: bridges, NAT, routing, isolation, DHCP and DNS from one TOML file"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check config files; print every problem with file:line:col (exit 2 if any).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print what a config makes: links, sysctls, the nft ruleset, DHCP pools and DNS zones.
    Plan {
        /// The config file; without one, the embedded default network.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { files } => {
            let mut bad = false;
            for f in &files {
                match config::load(Some(f)) {
                    Ok((cfg, _)) => println!(
                        "{}: ok ({} network{})",
                        f.display(),
                        cfg.networks.len(),
                        if cfg.networks.len() == 1 { "" } else { "s" }
                    ),
                    Err(e) => {
                        eprintln!("{e}");
                        bad = true;
                    }
                }
            }
            if bad {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Cmd::Plan { file } => {
            let loaded = match &file {
                Some(f) => config::load(Some(f)),
                None => Ok((config::default_config(), config::Source::Embedded)),
            };
            match loaded {
                Ok((cfg, _)) => {
                    print!("{}", plan(&cfg));
                    ExitCode::SUCCESS
                }
                Err(e @ LoadError::Invalid(_)) | Err(e @ LoadError::Read { .. }) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
