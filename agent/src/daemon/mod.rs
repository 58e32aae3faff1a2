//! `netagent run` and `netagent down`: load, plan, check, then keep the
//! kernel matching the plan until told to stop. Stopping leaves the data
//! plane in place, as libvirtd does; `down` removes it.

mod reconcile;
mod services;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, Addressing, Config, Source};
use crate::dhcp::reply::Change;
use crate::dns::server::DnsServers;
use crate::dns::zone::LeaseNames;
use crate::firewall::apply as fw;
use crate::links::netlink::is_unsupported;
use crate::links::{watch as link_watch, Netlink};
use crate::plan::{plan, Plan};
use crate::uplink::client;
use reconcile::Reconciler;
use state::StateDir;
use std::collections::HashMap;
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
    let mut dhcp_started = false;
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut dns = DnsServers::new(uplink_dns(&rec));
    let names = Arc::new(RwLock::new(lease_names(&mut dns, &rec.plan)));
    tokio::spawn(pump_lease_names(events_rx, names.clone()));
    let mut servers = services::DhcpServers::new(opts.lease_dir.clone(), Some(events_tx));
    servers.sync(&rec.plan.dhcp);
    dns.sync(&rec.plan);
    let mut term = signal(SignalKind::terminate()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| RunError::Io(format!("signals: {e}")))?;
    let mut lease_changes = rec.lease.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    info!("networks are up");
    loop {
        if !dhcp_started {
            dhcp_started = start_uplink_dhcp(&rec, &nl, lease_tx.clone()).await;
        }
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = events.recv() => {
                // Let a burst of events settle (a new tap comes up in steps).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(()) = lease_changes.changed() => {
                if let Ok(mut w) = dns.uplink_dns.write() {
                    *w = uplink_dns(&rec);
                }
            }
            _ = term.recv() => { info!("SIGTERM: stopping; bridges, rules and guests stay up"); return Ok(()); }
            _ = int.recv() => { info!("SIGINT: stopping; bridges, rules and guests stay up"); return Ok(()); }
            _ = hup.recv() => {
                reload(&mut rec, &opts);
                if let Ok(mut w) = names.write() {
                    *w = lease_names(&mut dns, &rec.plan);
                }
                if let Ok(mut w) = dns.uplink_dns.write() {
                    *w = uplink_dns(&rec);
                }
            }
        }
        if let Err(e) = rec.tick().await {
            if is_unsupported(&e) {
                error!("{e}");
            } else {
                warn!("{e}");
            }
        }
        servers.sync(&rec.plan.dhcp);
        dns.sync(&rec.plan);
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

type NameMap = HashMap<String, (Arc<LeaseNames>, Option<String>)>;

/// Per network with DNS: where its leases' names go, and its domain.
fn lease_names(dns: &mut DnsServers, plan: &Plan) -> NameMap {
    plan.dns
        .iter()
        .map(|z| (z.network.clone(), (dns.lease_names(&z.network), z.domain.clone())))
        .collect()
}

/// DHCP lease changes become DNS names: a hostname on ACK, gone on release
/// or expiry.
async fn pump_lease_names(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(String, Change)>,
    names: Arc<RwLock<NameMap>>,
) {
    while let Some((network, change)) = rx.recv().await {
        let Some((ln, domain)) = names.read().ok().and_then(|m| m.get(&network).cloned()) else {
            continue;
        };
        match change {
            Change::Bound(l) => match &l.hostname {
                Some(h) => ln.add(l.ip, h, domain.as_deref()),
                None => ln.remove(l.ip),
            },
            Change::Gone(l) => ln.remove(l.ip),
        }
    }
}

async fn start_uplink_dhcp(
    rec: &Reconciler,
    nl: &Netlink,
    tx: watch::Sender<Option<crate::uplink::UplinkLease>>,
) -> bool {
    let Some(u) = &rec.plan.uplink else { return true };
    if u.addressing != Addressing::Dhcp {
        return true;
    }
    let Some(name) = rec.uplink.clone() else {
        return false;
    };
    let Ok(links) = nl.links().await else { return false };
    let Some(mac) = links.iter().find(|l| l.name == name).and_then(|l| l.mac) else {
        return false;
    };
    info!("uplink {name}: starting DHCP client");
    tokio::spawn(client::run(name, mac, "netagent".into(), tx));
    true
}

/// SIGHUP: a config that fails the check changes nothing.
fn reload(rec: &mut Reconciler, opts: &Options) {
    match config::load(opts.config.as_deref()) {
        Ok((cfg, src)) => {
            info!("reloading {src}");
            rec.plan = plan(&cfg);
        }
        Err(e) => error!("reload refused, the running networks stay as they are:\n{e}"),
    }
}

/// Remove everything netagent owns: its nft table, the bridges it made or
/// that the config names as guest bridges, and its routes.
pub async fn down(config: Option<PathBuf>, state_dir: PathBuf) -> Result<usize, RunError> {
    let cfg = match config::load(config.as_deref()) {
        Ok((c, _)) => c,
        Err(e) => {
            warn!("{e}; removing only what the state directory records");
            Config {
                uplink: None,
                networks: Vec::new(),
            }
        }
    };
    let p = plan(&cfg);
    let nl = Netlink::connect()?;
    let (_tx, rx) = watch::channel(None);
    let state = StateDir::new(&state_dir);
    let rec = Reconciler::new(nl.clone(), p, state.clone(), rx);
    let mut removed = 0;
    fw::remove()?;
    let links = nl.links().await?;
    for name in rec.owned_for_down() {
        if let Some(l) = links.iter().find(|l| l.name == name && l.is_bridge()) {
            nl.delete(l).await?;
            info!("bridge {name}: deleted");
            removed += 1;
        }
    }
    let k = nl.observe().await?;
    for r in crate::links::apply::owned_routes(&k) {
        if let Some(l) = k.link(&r.dev) {
            let route = crate::links::observe::Route {
                proto: crate::links::diff::RTPROT_NETAGENT,
                to: r.to,
                via: r.via,
                oif: None,
                metric: r.metric,
            };
            if nl.del_route(&route, l).await.is_ok() {
                removed += 1;
            }
        }
    }
    state.clear().map_err(|e| RunError::Io(e.to_string()))?;
    Ok(removed)
}
