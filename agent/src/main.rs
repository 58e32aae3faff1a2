//! The `netagent` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use netagent::config::{self, LoadError};
use netagent::control::{self, client, proto, proto::Request, view};
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
    /// List DHCP leases like `virsh net-dhcp-leases`, from the running agent
    /// (or from the lease files when it is not running).
    Leases {
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
    },
    /// One row per network: name, kind, bridge, address, state, leases (like `virsh net-list`).
    List {
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Everything about one network: addresses, ports, uplink, DHCP, DNS, forwards.
    Info {
        network: String,
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Whether the agent runs, since when, with which config, and what is wrong.
    Status {
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check the config file and apply only what changed (like SIGHUP); a
    /// file that fails the check changes nothing.
    Reload {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// What the running agent would change if FILE were its config.
    Diff {
        file: PathBuf,
        #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Turn libvirt network XML (`virsh net-dumpxml NAME`) into a netagent
    /// config on stdout; what has no equivalent is named on stderr and in
    /// comments at the top.
    ImportLibvirt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Run while libvirt's networks are still up: each network but the
        /// first keeps, by name, the guest taps on its bridge now.
        #[arg(long)]
        keep_taps: bool,
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
            state_dir,
            json,
        } => leases(network, config, &lease_dir, &state_dir, json),
        Cmd::List { state_dir, json } => ask(&state_dir, Request::List, json, |v| {
            let rows: Vec<proto::NetworkRow> = serde_json::from_value(v)?;
            Ok(view::list_text(&rows))
        }),
        Cmd::Info {
            network,
            state_dir,
            json,
        } => ask(&state_dir, Request::Info { network }, json, |v| {
            Ok(view::info_text(&serde_json::from_value(v)?))
        }),
        Cmd::Status { state_dir, json } => ask(&state_dir, Request::Status, json, |v| {
            Ok(view::status_text(
                &serde_json::from_value(v)?,
                netagent::dhcp::lease::now(),
            ))
        }),
        Cmd::Reload {
            dry_run,
            state_dir,
            json,
        } => ask(&state_dir, Request::Reload { dry_run, file: None }, json, |v| {
            Ok(view::reload_text(&serde_json::from_value(v)?))
        }),
        Cmd::Diff {
            file,
            state_dir,
            json,
        } => {
            // The agent reads the file itself: give it a path it can open.
            let file = std::path::absolute(&file).unwrap_or(file);
            ask(
                &state_dir,
                Request::Reload {
                    dry_run: true,
                    file: Some(file),
                },
                json,
                |v| Ok(view::reload_text(&serde_json::from_value(v)?)),
            )
        }
        Cmd::Init => netagent::appliance::init::run(),
        Cmd::ImportLibvirt { files, keep_taps } => {
            let mut docs = Vec::new();
            for f in &files {
                match std::fs::read_to_string(f) {
                    Ok(t) => docs.push((f.display().to_string(), t)),
                    Err(e) => {
                        eprintln!("netagent import-libvirt: {}: {e}", f.display());
                        return ExitCode::from(1);
                    }
                }
            }
            let attached = if keep_taps {
                let Some(rt) = start() else {
                    return ExitCode::from(1);
                };
                match rt.block_on(netagent::links::observe::bridge_ports()) {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("netagent import-libvirt: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                Default::default()
            };
            match netagent::libvirt::import(&docs, &attached) {
                Ok(out) => {
                    for w in &out.warnings {
                        eprintln!("warning: {w}");
                    }
                    print!("{}", out.toml);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("netagent import-libvirt: {e}");
                    ExitCode::from(2)
                }
            }
        }
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

/// Ask the running agent; print its answer as JSON or through `text`.
/// Exit 3 when no agent runs (as `systemctl status` does for a stopped
/// unit), 2 when the agent refuses (a config that fails the check).
fn ask(
    state_dir: &std::path::Path,
    req: Request,
    json: bool,
    text: impl FnOnce(serde_json::Value) -> Result<String, serde_json::Error>,
) -> ExitCode {
    match client::call(&control::socket_path(state_dir), &req) {
        Ok(r) if r.ok => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r.data).unwrap_or_default());
                return ExitCode::SUCCESS;
            }
            match text(r.data) {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("netagent: unreadable answer from the agent: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Ok(r) => {
            eprintln!("{}", r.error.unwrap_or_else(|| "the agent refused".into()));
            ExitCode::from(2)
        }
        Err(e @ client::ClientError::NotRunning(_)) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("netagent: {e}");
            ExitCode::from(1)
        }
    }
}

/// Leases from the running agent; when none runs, from the lease files.
fn leases(
    network: Option<String>,
    config: Option<PathBuf>,
    lease_dir: &std::path::Path,
    state_dir: &std::path::Path,
    json: bool,
) -> ExitCode {
    let req = Request::Leases {
        network: network.clone(),
    };
    let rows: Vec<netagent::dhcp::show::Row> = match client::call(&control::socket_path(state_dir), &req) {
        Ok(r) if r.ok => match serde_json::from_value(r.data) {
            Ok(rows) => rows,
            Err(e) => {
                eprintln!("netagent: unreadable answer from the agent: {e}");
                return ExitCode::from(1);
            }
        },
        Ok(r) => {
            eprintln!("{}", r.error.unwrap_or_default());
            return ExitCode::from(2);
        }
        Err(client::ClientError::NotRunning(_)) => {
            let cfg = match config::load(config.as_deref()) {
                Ok((c, _)) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            eprintln!("netagent is not running; leases from {}", lease_dir.display());
            match netagent::dhcp::show::rows(
                &cfg,
                network.as_deref(),
                lease_dir,
                netagent::dhcp::lease::now(),
            ) {
                Ok(rows) => rows,
                Err(e) => {
                    eprintln!("netagent leases: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        Err(e) => {
            eprintln!("netagent: {e}");
            return ExitCode::from(1);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        print!("{}", netagent::dhcp::show::table(&rows));
    }
    ExitCode::SUCCESS
}
