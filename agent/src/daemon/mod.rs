//! `netagent run` and `netagent down`: load, plan, check, then keep the
//! kernel matching the plan until told to stop. Stopping leaves the data
//! plane in place, as libvirtd does; `down` removes it.

mod control_calls;
mod down;
mod history;
mod names;
mod notify;
mod reconcile;
mod reload;
mod services;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, Addressing, Config, Source};
use crate::control;
use crate::dns::server::DnsServers;
use crate::firewall::apply as fw;
use crate::links::netlink::is_unsupported;
use crate::links::{watch as link_watch, Netlink};
use crate::plan::{plan, Plan};
use crate::uplink::client;
use names::{lease_names, pump_lease_names, NameMap};
use reconcile::Reconciler;

pub use down::down;
use state::StateDir;
use std::sync::{Arc, RwLock};

pub const DEFAULT_STATE_DIR: &str = "/run/netagent";
pub const DEFAULT_LEASE_DIR: &str = "/var/lib/netagent/leases";

pub struct Options {
    pub config: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// Where DHCP leases are kept.
    pub lease_dir: PathBuf,
    /// Apply once, print the number of changes, and exit.
    pub once: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(#[from] config::LoadError),
    #[error("{0}")]
    Firewall(#[from] fw::FirewallError),
    #[error("{0}")]
    Link(#[from] crate::links::LinkError),
    #[error("{0}")]
    Io(String),
}

fn describe(cfg: &Config, src: &Source) {
    info!("netagent {} starting with {src}", env!("CARGO_PKG_VERSION"));
    for n in &cfg.networks {
        let addr = n
            .address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "no address".into());
        info!("network {}: {} on {} ({addr})", n.name, n.kind, n.bridge);
    }
}

/// Check what can be checked before touching anything, so that a kernel
/// without nf_tables or a missing nft leaves the machine as it was.
fn preflight(p: &Plan) -> Result<(), RunError> {
    if !p.ruleset.objects.is_empty() {
        fw::check(&p.ruleset)?;
    }
    Ok(())
}

pub async fn run(opts: Options) -> Result<(), RunError> {
    let (cfg, src) = config::load(opts.config.as_deref())?;
    describe(&cfg, &src);
    let p = plan(&cfg);
    preflight(&p)?;

    // One agent per state directory: a second one would fight the first
    // over the same bridges, so it stops here, before touching anything.
    let socket = control::socket_path(&opts.state_dir);
    let mut calls = if opts.once {
        if control::client::call(&socket, &control::proto::Request::Status).is_ok() {
            return Err(RunError::Io(format!(
                "another netagent is running (it answers on {}): stop it first",
                socket.display()
            )));
        }
        None
    } else {
        Some(control::server::listen(&socket).map_err(|e| RunError::Io(e.to_string()))?)
    };
    let nl = Netlink::connect()?;
    let mut events = link_watch::watch()?;
    let (lease_tx, lease_rx) = watch::channel(None);
    let mut rec = Reconciler::new(nl.clone(), p, StateDir::new(&opts.state_dir), lease_rx);

    let first = match rec.tick().await {
        Ok(r) => r,
        Err(e) => return Err(e.into()),
    };
    if let Some(e) = first.errors.iter().find(|e| e.contains("not supported")) {
        return Err(RunError::Io(format!(
            "{e}: the kernel lacks bridge support (module bridge)"
        )));
    }
    if opts.once {
        println!(
            "{} change{}",
            first.changes,
            if first.changes == 1 { "" } else { "s" }
        );
        return if first.errors.is_empty() {
            Ok(())
        } else {
            Err(RunError::Io(first.errors.join("; ")))
        };
    }
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut dns = DnsServers::new(uplink_dns(&rec));
    let names = Arc::new(RwLock::new(lease_names(&mut dns, &rec.plan)));
    tokio::spawn(pump_lease_names(events_rx, names.clone()));
    let servers = services::DhcpServers::new(opts.lease_dir.clone(), Some(events_tx));
    let mut d = Daemon {
        opts,
        cfg,
        src,
        rec,
        servers,
        dns,
        names,
        since: crate::dhcp::lease::now(),
        history: {
            let mut h = history::ErrorLog::default();
            h.note(crate::dhcp::lease::now(), &first.errors);
            h
        },
        last_reload: None,
        lease_tx,
        uplink_dhcp: UplinkDhcp::Waiting,
    };
    d.servers.sync(&d.rec.plan.dhcp);
    d.dns.sync(&d.rec.plan);
    let mut term = signal(SignalKind::terminate()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut lease_changes = d.rec.lease.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    info!("networks are up");
    notify::notify(&format!("READY=1\nSTATUS={}", d.summary()));
    loop {
        d.start_uplink_dhcp(&nl).await;
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = events.recv() => {
                // Let a burst of events settle (a new tap comes up in steps).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(()) = lease_changes.changed() => {
                if let Ok(mut w) = d.dns.uplink_dns.write() {
                    *w = uplink_dns(&d.rec);
                }
            }
            Some((req, reply)) = next_call(&mut calls) => {
                let answer = d.handle(req).await;
                let _ = reply.send(answer);
                continue;
            }
            _ = term.recv() => { info!("SIGTERM: stopping; bridges, rules and guests stay up"); break; }
            _ = int.recv() => { info!("SIGINT: stopping; bridges, rules and guests stay up"); break; }
            _ = hup.recv() => {
                // Errors are logged and kept for `status`; nothing to answer.
                let _ = d.reload(false, None).await;
                continue;
            }
        }
        d.apply().await;
    }
    notify::notify("STOPPING=1");
    let _ = std::fs::remove_file(control::socket_path(&d.opts.state_dir));
    Ok(())
}

/// The running agent's state, owned by its main loop: requests from the
/// control socket and signals are handled one at a time, between ticks.
struct Daemon {
    opts: Options,
    cfg: Config,
    src: Source,
    rec: Reconciler,
    servers: services::DhcpServers,
    dns: DnsServers,
    names: Arc<RwLock<NameMap>>,
    /// Unix seconds.
    since: u64,
    /// What is wrong now, and every error met since the start, for `status`.
    history: history::ErrorLog,
    last_reload: Option<String>,
    /// Where the uplink's DHCP client reports its lease.
    lease_tx: watch::Sender<Option<crate::uplink::UplinkLease>>,
    uplink_dhcp: UplinkDhcp,
}

/// The uplink's own DHCP client.
enum UplinkDhcp {
    /// Needed, but the uplink is not known yet.
    Waiting,
    Running(tokio::task::JoinHandle<()>),
    /// The uplink is static, left to the host, or there is none.
    NotNeeded,
}

impl Daemon {
    /// One reconcile pass, then the servers follow the plan.
    async fn apply(&mut self) -> Vec<String> {
        let errors = match self.rec.tick().await {
            Ok(r) => r.errors,
            Err(e) => {
                if is_unsupported(&e) {
                    error!("{e}");
                } else {
                    warn!("{e}");
                }
                vec![e.to_string()]
            }
        };
        self.servers.sync(&self.rec.plan.dhcp);
        self.dns.sync(&self.rec.plan);
        let mut now = errors.clone();
        now.extend(self.servers.problems());
        now.extend(self.dns.problems());
        self.history.note(crate::dhcp::lease::now(), &now);
        errors
    }

    /// Start the uplink's DHCP client once the uplink is known and has a MAC.
    async fn start_uplink_dhcp(&mut self, nl: &Netlink) {
        if !matches!(self.uplink_dhcp, UplinkDhcp::Waiting) {
            return;
        }
        if self
            .rec
            .plan
            .uplink
            .as_ref()
            .is_none_or(|u| u.addressing != Addressing::Dhcp)
        {
            self.uplink_dhcp = UplinkDhcp::NotNeeded;
            return;
        }
        let Some(name) = self.rec.uplink.clone() else {
            return;
        };
        let Ok(links) = nl.links().await else { return };
        let Some(mac) = links.iter().find(|l| l.name == name).and_then(|l| l.mac) else {
            return;
        };
        info!("uplink {name}: starting DHCP client");
        let task = tokio::spawn(client::run(name, mac, "netagent".into(), self.lease_tx.clone()));
        self.uplink_dhcp = UplinkDhcp::Running(task);
    }

    fn summary(&self) -> String {
        let n = self.cfg.networks.len();
        format!("{n} network{} from {}", if n == 1 { "" } else { "s" }, self.src)
    }
}

/// The next control request; never, in `--once` mode (no socket).
async fn next_call(
    calls: &mut Option<tokio::sync::mpsc::Receiver<control::server::Call>>,
) -> Option<control::server::Call> {
    match calls {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The resolvers of last resort: those the config gives the uplink, then
/// those its DHCP lease brought.
fn uplink_dns(rec: &Reconciler) -> Vec<std::net::Ipv4Addr> {
    let mut v = rec
        .plan
        .uplink
        .as_ref()
        .map(|u| u.dns.clone())
        .unwrap_or_default();
    if rec
        .plan
        .uplink
        .as_ref()
        .is_some_and(|u| u.addressing == Addressing::Host)
    {
        // Never our own bridges: a host whose resolv.conf points at a
        // bridge would send queries in a circle.
        let own: Vec<std::net::Ipv4Addr> = rec
            .plan
            .bridges
            .iter()
            .filter_map(|b| b.address.map(|a| a.addr()))
            .collect();
        for d in crate::dns::resolv_conf::read() {
            if !v.contains(&d) && !own.contains(&d) {
                v.push(d);
            }
        }
    }
    if let Some(l) = &*rec.lease.borrow() {
        v.extend(
            l.dns
                .iter()
                .filter(|d| !v.contains(d))
                .copied()
                .collect::<Vec<_>>(),
        );
    }
    v
}
