//! The `netagent` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use netagent::config::{self, LoadError};
use netagent::daemon;
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
        /// Print the nft ruleset as the JSON netagent gives `nft -j`.
        #[arg(long)]
        nft_json: bool,
    },
    /// Bring the networks up and keep them matching the config until stopped.
    /// Stopping leaves them up; `netagent down` removes them.
    Run {
        /// The config file (default /etc/netagent/netagent.toml, else the embedded default).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Where netagent records what it created.
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Where DHCP leases are kept across restarts.
        #[arg(long, default_value = daemon::DEFAULT_LEASE_DIR)]
        lease_dir: PathBuf,
        /// Apply once, print how many changes were needed, and exit.
        #[arg(long)]
        once: bool,
    },
    /// List DHCP leases like `virsh net-dhcp-leases`.
    Leases {
        /// Only this network.
        network: Option<String>,
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = daemon::DEFAULT_LEASE_DIR)]
        lease_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run as the appliance's init (what PID 1 does): mounts, modules, the
    /// config from the boot disk, then `netagent run` under supervision.
    Init,
    /// Remove everything netagent created: bridges, routes, its nft table.
    Down {
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NETAGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Logging and the async runtime, for the commands that talk to the kernel.
fn start() -> Option<tokio::runtime::Runtime> {
    init_logging();
    match runtime() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("netagent: cannot start: {e}");
            None
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One thread: the servers' sockets are served in order, with no wake-ups
    // or stealing between workers; the blocking nft calls run on tokio's
    // blocking pool, so they never hold the servers up.
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn main() -> ExitCode {
    // The kernel starts the appliance's /init with no arguments as PID 1.
    if std::process::id() == 1 {
        netagent::appliance::init::run();
    }
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
        Cmd::Run {
            config,
            state_dir,
            lease_dir,
            once,
        } => {
            let Some(rt) = start() else {
                return ExitCode::from(1);
            };
            match rt.block_on(daemon::run(daemon::Options {
                config,
                state_dir,
                lease_dir,
                once,
            })) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ daemon::RunError::Config(_)) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Leases {
            network,
            config,
            lease_dir,
            json,
        } => {
            let cfg = match config::load(config.as_deref()) {
                Ok((c, _)) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match netagent::dhcp::show::rows(
                &cfg,
                network.as_deref(),
                &lease_dir,
                netagent::dhcp::lease::now(),
            ) {
                Ok(rows) if json => {
                    println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Ok(rows) => {
                    print!("{}", netagent::dhcp::show::table(&rows));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("netagent leases: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Init => netagent::appliance::init::run(),
        Cmd::Down { config, state_dir } => {
            let Some(rt) = start() else {
                return ExitCode::from(1);
            };
            match rt.block_on(daemon::down(config, state_dir)) {
                Ok(n) => {
                    println!(
                        "netagent: removed {n} bridge{} and routes, and table inet netagent",
                        if n == 1 { "" } else { "s" }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("netagent down: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Plan { file, nft_json } => {
            let loaded = match &file {
                Some(f) => config::load(Some(f)),
                None => Ok((config::default_config(), config::Source::Embedded)),
            };
            match loaded {
                Ok((cfg, _)) if nft_json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&plan(&cfg).ruleset).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
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
