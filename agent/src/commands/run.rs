//! `netagent run`: the daemon, on an async runtime.

use std::io::IsTerminal;

use std::path::PathBuf;
use tracing_subscriber::filter::Targets;

use netagent::daemon;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Run {
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
    /// Choose an `auto` uplink only once this file exists (the appliance's
    /// PID 1 makes it when the hardware's drivers have loaded).
    #[arg(long)]
    hardware_settled: Option<PathBuf>,
}

impl Run {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let rt = runtime()?;
        rt.block_on(daemon::run(daemon::Options {
            config: self.config,
            state_dir: self.state_dir,
            lease_dir: self.lease_dir,
            once: self.once,
            hardware_settled: self.hardware_settled,
        }))?;
        Ok(())
    }
}

fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // NETAGENT_LOG: a level ("debug"), or levels by module
    // ("info,netagent::dns=debug"). A plain list of targets, not
    // regular expressions: a regex engine would be a fifth of the binary.
    let info = Targets::new().with_default(tracing::Level::INFO);
    let filter = match std::env::var("NETAGENT_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("netagent: NETAGENT_LOG={spec:?}: {e}; logging at info");
            info
        }),
        _ => info,
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = tracing_subscriber::registry().with(fmt).with(filter).try_init();
}

/// Logging and the async runtime, for the commands that talk to the kernel.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CmdError> {
    init_logging();
    // One thread: the servers' sockets are served in order, with no wake-ups
    // or stealing between workers. What waits on the kernel or a child
    // process runs elsewhere, so it never holds the servers up: nft calls
    // and sysctl writes on tokio's blocking pool, netlink on a thread of
    // its own (`Netlink::connect`).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CmdError::Runtime)
}
