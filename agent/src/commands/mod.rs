//! One module per subcommand, each a clap `Args` struct with its own
//! `run`; `main` only parses and dispatches. The exit status comes from
//! the error type (`CmdError::exit_code`), never from a hand-written number
//! at the call site.

mod adopt;
mod ask;
mod check;
mod doctor;
mod down;
mod import;
mod leases;
mod libvirt_hook;
mod plan;
mod run;

use std::path::PathBuf;

use clap::Subcommand;

use netagent::config::LoadError;
use netagent::control::client::ClientError;
use netagent::daemon::RunError;

pub(crate) use run::runtime;

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Check config files; print every problem with file:line:col (exit 2 if any).
    Check(check::Check),
    /// Print what a config makes: links, sysctls, the nft ruleset, DHCP pools and DNS zones.
    Plan(plan::Plan),
    /// Bring the networks up and keep them matching the config until stopped.
    /// Stopping leaves them up; `netagent down` removes them.
    Run(run::Run),
    /// List DHCP leases like `virsh net-dhcp-leases`, from the running agent
    /// (or from the lease files when it is not running).
    Leases(leases::Leases),
    /// One row per network: name, kind, bridge, address, state, leases (like `virsh net-list`).
    List(ask::List),
    /// Everything about one network: addresses, ports, uplink, DHCP, DNS, forwards.
    Info(ask::Info),
    /// Whether the agent runs, since when, with which config, and what is wrong.
    Status(ask::Status),
    /// Check the config file and apply only what changed (like SIGHUP); a
    /// file that fails the check changes nothing.
    Reload(ask::Reload),
    /// What the running agent would change if FILE were its config.
    Diff(ask::Diff),
    /// Turn libvirt network XML (`virsh net-dumpxml NAME`) into a netagent
    /// config on stdout; what has no equivalent is named on stderr and in
    /// comments at the top.
    ImportLibvirt(import::ImportLibvirt),
    /// Take libvirt's networks over on a running host: existing domains
    /// start unchanged, `virsh` keeps seeing the networks and leases;
    /// `--undo` gives them back.
    AdoptLibvirt(adopt::AdoptLibvirt),
    /// What libvirt's network hook runs (installed by adopt-libvirt): tell
    /// the running agent which domain owns a port. Always succeeds.
    #[command(hide = true)]
    LibvirtHook(libvirt_hook::LibvirtHook),
    /// Run as the appliance's init (what PID 1 does): mounts, modules, the
    /// config from the boot disk, then `netagent run` under supervision.
    Init,
    /// Remove everything netagent created: bridges, routes, its nft table.
    Down(down::Down),
    /// Trace a probe packet of NETWORK through every table's rules (nft
    /// tracing) and print what each said: which rule ate my packet.
    Doctor(doctor::Doctor),
}

impl Cmd {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        match self {
            Cmd::Check(c) => c.run(),
            Cmd::Plan(c) => c.run(),
            Cmd::Run(c) => c.run(),
            Cmd::Leases(c) => c.run(),
            Cmd::List(c) => c.run(),
            Cmd::Info(c) => c.run(),
            Cmd::Status(c) => c.run(),
            Cmd::Reload(c) => c.run(),
            Cmd::Diff(c) => c.run(),
            Cmd::ImportLibvirt(c) => c.run(),
            Cmd::AdoptLibvirt(c) => c.run(),
            Cmd::Doctor(c) => c.run(),
            Cmd::LibvirtHook(c) => c.run(),
            Cmd::Init => netagent::appliance::init::run(),
            Cmd::Down(c) => c.run(),
        }
    }
}

/// Why a command failed; it knows its exit status and how it is shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    /// A config that cannot be read or fails the check (nothing touched).
    #[error("{0}")]
    Config(#[from] LoadError),
    /// `check` over several files: every problem of every file.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Check(Vec<LoadError>),
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("netagent: cannot start: {0}")]
    Runtime(std::io::Error),
    /// No agent answers on the control socket.
    #[error("{0}")]
    NotRunning(ClientError),
    #[error("netagent: {0}")]
    Client(ClientError),
    /// The agent answered, and refused (a config that fails the check).
    #[error("{0}")]
    Refused(String),
    #[error("netagent: unreadable answer from the agent: {0}")]
    Answer(#[from] serde_json::Error),
    #[error("netagent leases: {0}")]
    LeaseFiles(String),
    #[error("netagent import-libvirt: {}: {source}", .path.display())]
    ImportRead { path: PathBuf, source: std::io::Error },
    #[error("netagent import-libvirt: {0}")]
    ImportLinks(netagent::links::LinkError),
    #[error("netagent import-libvirt: {0}")]
    Import(String),
    #[error("netagent down: {0}")]
    Down(RunError),
    #[error("netagent doctor: {0}")]
    Doctor(String),
    #[error("netagent adopt-libvirt: {0}")]
    Adopt(netagent::libvirt::adopt::AdoptError),
}

impl From<ClientError> for CmdError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotRunning(_) => CmdError::NotRunning(e),
            e => CmdError::Client(e),
        }
    }
}

impl CmdError {
    /// 2: the input was refused and nothing changed; 3: no agent runs (as
    /// `systemctl status` says of a stopped unit); 1: anything else.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CmdError::Config(e) => e.exit_code(),
            CmdError::Check(_) | CmdError::Refused(_) | CmdError::Import(_) => 2,
            CmdError::Run(e) => e.exit_code(),
            CmdError::NotRunning(_) => 3,
            CmdError::Adopt(e) => e.exit_code(),
            _ => 1,
        }
    }

    /// A config's problems go to stderr as they are; the running agent's
    /// failures go to its log.
    pub(crate) fn report(&self) {
        match self {
            CmdError::Run(e @ RunError::Config(_)) => eprintln!("{e}"),
            CmdError::Run(e) => tracing::error!("{e}"),
            e => eprintln!("{e}"),
        }
    }
}
