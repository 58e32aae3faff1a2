//! `netagent run` and `netagent down`: load, plan, check, then keep the
//! kernel matching the plan until told to stop. Stopping leaves the data
//! plane in place, as libvirtd does; `down` removes it.

mod control_calls;
mod delegation;
mod down;
mod guard;
mod history;
mod libvirt;
mod notify;
mod reconcile;
mod reload;
pub(crate) mod state;

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{self, Addressing, Config, Source};
use crate::control;
use crate::dhcp::service::DhcpServers;
use crate::dhcp6::service::Dhcp6Servers;
use crate::dns::server::DnsServers;
use crate::firewall::{apply as fw, watch as nft_watch};
use crate::links::{watch as link_watch, LinkError, Netlink};
use crate::plan::{plan, Plan};
use crate::ra::service::RaServers;
use crate::service::Supervised;
use crate::uplink::{client, UplinkLease};
use reconcile::{Reconciler, Scope};

pub use down::down;
pub(crate) use libvirt::record_names as record_libvirt_names;
use state::StateDir;

pub const DEFAULT_STATE_DIR: &str = "/run/netagent";
pub const DEFAULT_LEASE_DIR: &str = "/var/lib/netagent/leases";

/// The safety net: a full pass this often, for what no event announces.
/// Links and our nft table are followed by their events within
/// milliseconds; this pass only catches what slipped past them.
const FULL_PASS: Duration = Duration::from_secs(30);
/// How often the services are checked: a task that ended, a retry due.
/// Cheap: no kernel dump, no child process.
const SERVICE_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// Where DHCP leases are kept.
    pub lease_dir: PathBuf,
    /// Apply once, print the number of changes, and exit.
    pub once: bool,
    /// A file that exists once the hardware's drivers have loaded (the
    /// appliance's PID 1 makes it): an `auto` uplink is chosen only then,
    /// so a NIC whose driver loaded first cannot take the role.
    pub hardware_settled: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(#[from] config::LoadError),
    #[error("{0}")]
    Firewall(#[from] fw::FirewallError),
    #[error("{0}")]
    Link(#[from] LinkError),
    #[error("another netagent is running (it answers on {0}): stop it first")]
    AlreadyRunning(PathBuf),
    #[error("{0}")]
    Control(#[from] control::server::ListenError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: the kernel lacks bridge support (module bridge)")]
    NoBridges(String),
    /// `run --once` applied what it could; these failed.
    #[error("{}", .0.join("; "))]
    Incomplete(Vec<String>),
    #[error("{0}")]
    State(#[from] state::StateError),
}

impl RunError {
    /// The exit status: 2 for a config the check refuses (nothing was
    /// touched), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(e) => e.exit_code(),
            _ => 1,
        }
    }
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

/// Every network holds sockets (DHCP, DNS over UDP and TCP), and each DNS
/// client over TCP one more: the soft limit on open files goes up to the
/// hard one, so a busy host never runs out at the default 1,024.
fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

pub async fn run(opts: Options) -> Result<(), RunError> {
    let (cfg, src) = config::load(opts.config.as_deref())?;
    crate::util::sys::give_back();
    raise_open_files();
    describe(&cfg, &src);
    let p = plan(&cfg);

    // One agent per state directory: a second one would fight the first
    // over the same bridges, so it stops here, before touching anything.
    let socket = control::socket_path(&opts.state_dir);
    let mut calls = if opts.once {
        if control::client::call(&socket, &control::proto::Request::Status).is_ok() {
            return Err(RunError::AlreadyRunning(socket));
        }
        None
    } else {
        Some(control::server::listen(&socket)?)
    };
    let nl = Netlink::connect()?;
    let mut link_events = link_watch::watch()?;
    let mut nft_events = nft_watch::watch().map_err(|source| RunError::Io {
        what: "nftables events",
        source,
    })?;
    let (lease_tx, lease_rx) = watch::channel(None);
    if let Err(e) = crate::util::clock_watch::start() {
        warn!("clock watch: {e}; lease times do not follow a clock that is set while netagent runs");
    }
    let mut rec = Reconciler::new(nl.clone(), StateDir::new(&opts.state_dir));
    rec.wait_for_hardware(opts.hardware_settled.clone());
    // Our table first, while the kernel is read: a host whose nft or
    // kernel cannot take the rules is left as it was, no link touched.
    let rules = rec.start_firewall(&p);
    rec.read_whole().await?;
    let loaded = match rec.finish_rules(rules).await {
        Ok(n) => n,
        Err(e) => {
            // Nothing was touched: leave no socket behind either.
            if calls.is_some() {
                let _ = std::fs::remove_file(&socket);
            }
            return Err(e.into());
        }
    };

    let mut first = rec.apply(&p, None, Scope::All).await?;
    first.changes += loaded;
    if let Some(e) = first
        .errors
        .iter()
        .find(|e| matches!(e, reconcile::ReconcileError::Link(l) if l.is_unsupported()))
    {
        return Err(RunError::NoBridges(e.to_string()));
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
            Err(RunError::Incomplete(
                first.errors.iter().map(|e| e.to_string()).collect(),
            ))
        };
    }
    let (events_tx, mut lease_events) = mpsc::unbounded_channel();
    let (events6_tx, mut lease_events6) = mpsc::unbounded_channel();
    let (pd_tx, mut pd_rx) = watch::channel(None);
    // The status page asks what the control socket is asked, read-only.
    let (page_tx, mut page_calls) = mpsc::channel::<control::server::Call>(8);
    let opts_state_dir = opts.state_dir.clone();
    let mut d = Daemon {
        page: crate::status::Page::new(page_tx),
        dns: DnsServers::new(uplink_dns(&p, None)),
        dhcp: DhcpServers::new(opts.lease_dir.clone(), Some(events_tx)),
        ra: RaServers::default(),
        dhcp6: Dhcp6Servers::new(opts.lease_dir.clone(), Some(events6_tx)),
        opts,
        cfg,
        src,
        plan: p,
        nl,
        rec,
        lease: lease_rx,
        since: crate::util::time::now(),
        history: history::ErrorLog::default(),
        last_reload: None,
        lease_tx,
        uplink_dhcp: UplinkDhcp::Waiting,
        nics: Vec::new(),
        hosts: crate::dns::hosts_file::HostsFile::new("/etc/hosts"),
        delegated: None,
        pd_task: None,
        pd_tx,
        libvirt: libvirt::Libvirt::new(&opts_state_dir, crate::libvirt::status::DNSMASQ_DIR.into()),
        ready: false,
        guard: guard::Guard::default(),
        clock: std::env::var_os(crate::status::ON_APPLIANCE).map(|_| {
            let (tx, rx) = watch::channel(Vec::new());
            tokio::spawn(crate::clock::run(rx));
            tx
        }),
    };
    d.reread_hosts();
    d.sync_services();
    d.sync_guard(guard::Why::Full).await;
    d.libvirt_names_to_dns();
    d.note_errors();
    let signal = |kind| {
        signal(kind).map_err(|source| RunError::Io {
            what: "signals",
            source,
        })
    };
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut lease_changes = d.lease.clone();
    let mut full = tokio::time::interval_at(tokio::time::Instant::now() + FULL_PASS, FULL_PASS);
    let mut services = tokio::time::interval(SERVICE_CHECK);
    info!("networks are up");
    // The first pass's burst (kernel dumps, the ruleset's JSON) is freed.
    crate::util::sys::give_back();
    d.page.follow(d.cfg.status.as_ref());
    d.note_nics();
    d.notify_ready();
    loop {
        d.start_uplink_dhcp();
        d.start_delegation();
        let scope = tokio::select! {
            _ = full.tick() => Scope::All,
            Some(changed) = link_events.next() => Scope::Kernel(changed),
            Some(()) = nft_events.recv() => Scope::Firewall,
            _ = services.tick() => {
                // The hardware settled since: the `auto` uplink is chosen now.
                if d.rec.hardware_just_settled() {
                    d.apply(Scope::Kernel(Default::default())).await;
                    continue;
                }
                let reread = d.reread_hosts();
                if reread || d.dhcp.due() || d.dns.due() || d.ra.due() || d.dhcp6.due() {
                    d.sync_services();
                    d.note_errors();
                }
                d.flush_libvirt_leases().await;
                d.sync_guard(guard::Why::Tick).await;
                d.notify_ready();
                continue;
            }
            Some((network, change)) = lease_events.recv() => {
                d.libvirt.lease_changed(&network);
                d.guard.lease_changed();
                d.dns.lease_changed(&network, &change.name());
                continue;
            }
            Some((network, bound, lease)) = lease_events6.recv() => {
                d.libvirt.lease_changed(&network);
                d.guard.lease_changed();
                d.dns.lease_changed(&network, &lease.name(bound));
                continue;
            }
            Ok(()) = pd_rx.changed() => {
                let prefix = *pd_rx.borrow();
                d.delegated(prefix).await;
                continue;
            }
            Ok(()) = lease_changes.changed() => {
                d.dns.set_uplink_dns(uplink_dns(&d.plan, d.lease.borrow().as_ref()));
                // What we want changed, not the kernel: nothing to read again.
                Scope::Kernel(Default::default())
            }
            Some((req, reply)) = next_call(&mut calls) => {
                let answer = d.handle(req).await;
                let _ = reply.send(answer);
                continue;
            }
            Some((req, reply)) = page_calls.recv() => {
                use control::proto::Request as R;
                let answer = match req {
                    R::Status | R::List | R::Nics | R::Info { .. } | R::Leases { .. } => d.handle(req).await,
                    _ => control::proto::Response::error("the status page changes nothing"),
                };
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
        };
        let all = matches!(scope, Scope::All);
        d.apply(scope).await;
        if all {
            // What the pass read and built (kernel dumps, the rules it
            // compared) goes back to the kernel, not into the allocator's
            // free lists for the agent's life.
            crate::util::sys::give_back();
        }
    }
    notify::notify("STOPPING=1");
    let _ = std::fs::remove_file(control::socket_path(&d.opts.state_dir));
    Ok(())
}

/// The running agent's state, owned by its main loop: requests from the
/// control socket, events and signals are handled one at a time. It owns
/// the plan and hands it to the reconciler and the services.
struct Daemon {
    opts: Options,
    cfg: Config,
    src: Source,
    plan: Plan,
    nl: Netlink,
    rec: Reconciler,
    dhcp: DhcpServers,
    dns: DnsServers,
    ra: RaServers,
    dhcp6: Dhcp6Servers,
    /// `[status]`: the status page and metrics.
    page: crate::status::Page,
    /// The uplink's DHCP lease, as its client last reported it.
    lease: watch::Receiver<Option<UplinkLease>>,
    /// Unix seconds.
    since: u64,
    /// What is wrong now, and every error met since the start, for `status`.
    history: history::ErrorLog,
    last_reload: Option<String>,
    /// Where the uplink's DHCP client reports its lease.
    /// The appliance's clock task's time servers (None on a host).
    clock: Option<watch::Sender<Vec<std::net::IpAddr>>>,
    lease_tx: watch::Sender<Option<UplinkLease>>,
    uplink_dhcp: UplinkDhcp,
    /// The NIC table as last logged (name, bus, role).
    nics: Vec<(String, String, String, Option<bool>)>,
    /// The host's /etc/hosts, for the networks that serve it.
    hosts: crate::dns::hosts_file::HostsFile,
    /// The uplink's delegated IPv6 prefix, and the client that keeps it.
    delegated: Option<ipnet::Ipv6Net>,
    pd_task: Option<tokio::task::JoinHandle<()>>,
    pd_tx: watch::Sender<Option<ipnet::Ipv6Net>>,
    /// The networks handed over by `adopt-libvirt`: libvirt's lease files
    /// and the domains' names.
    libvirt: libvirt::Libvirt,
    /// systemd heard READY=1.
    ready: bool,
    /// Port security's table and sets.
    guard: guard::Guard,
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
    /// One reconcile pass over `scope`, then the services follow the plan.
    /// Returns the pass's errors.
    async fn apply(&mut self, scope: Scope) -> Vec<String> {
        let lease = self.lease.borrow().clone();
        let why = match &scope {
            Scope::All => guard::Why::Full,
            Scope::Firewall => guard::Why::Firewall,
            Scope::Kernel(_) => guard::Why::Kernel,
        };
        let errors = match self.rec.apply(&self.plan, lease.as_ref(), scope).await {
            Ok(r) => {
                for e in &r.events {
                    self.history.event(crate::util::time::now(), e);
                }
                r.errors.iter().map(|e| e.to_string()).collect()
            }
            Err(e) => {
                if e.is_unsupported() {
                    error!("{e}");
                } else {
                    tracing::warn!("{e}");
                }
                vec![e.to_string()]
            }
        };
        self.sync_services();
        self.sync_guard(why).await;
        self.note_errors();
        self.note_nics();
        errors
    }

    /// Which NIC is the uplink and which are ports, logged where a new user
    /// looks first (the appliance's console) whenever that changes: NICs
    /// come as their drivers load.
    fn note_nics(&mut self) {
        let Some(k) = self.rec.kernel() else { return };
        let rows = control::view::nic_rows(k, self.rec.uplink());
        // A cable plugged or pulled shows too: a port's carrier drops for a
        // moment as it joins its bridge, and a table printed then said
        // "no" until the next change of role.
        let key: Vec<(String, String, String, Option<bool>)> = rows
            .iter()
            .map(|r| (r.name.clone(), r.bus.clone(), r.role.clone(), r.carrier))
            .collect();
        if key == self.nics || rows.is_empty() {
            return;
        }
        self.nics = key;
        for line in control::view::nics_text(&rows).lines() {
            info!("{line}");
        }
    }

    /// The host's /etc/hosts, when a network serves it and it changed:
    /// true if the DNS servers got new entries (they take them on sync).
    fn reread_hosts(&mut self) -> bool {
        if !self.plan.dns.iter().any(|z| z.etc_hosts) {
            return false;
        }
        match self.hosts.changed() {
            Some(entries) => {
                info!("/etc/hosts: {} entries for the guests", entries.len());
                self.dns.set_hosts(entries);
                true
            }
            None => false,
        }
    }

    /// Tell systemd the agent is ready, once: when every bridge a libvirt
    /// network names exists, since libvirt's daemons (ordered after
    /// netagent) plug their domains' taps into them as they start.
    fn notify_ready(&mut self) {
        if self.ready {
            return;
        }
        let missing: Vec<&str> = self
            .plan
            .bridges
            .iter()
            .filter(|b| b.libvirt && self.rec.ifindex(&b.name).is_none())
            .map(|b| b.name.as_str())
            .collect();
        if missing.is_empty() {
            self.ready = true;
            notify::notify(&format!("READY=1\nSTATUS={}", self.summary()));
        } else {
            notify::notify(&format!(
                "STATUS=waiting for the bridges libvirt's networks name: {}",
                missing.join(", ")
            ));
        }
    }

    /// The services follow the plan, on the bridges as last seen.
    fn sync_services(&mut self) {
        self.sync_clock();
        self.libvirt.sync(&self.plan);
        let rec = &self.rec;
        self.dhcp.sync(&self.plan.dhcp, |l| rec.ifindex(l));
        self.dns.sync(&self.plan, |l| rec.ifindex(l));
        self.ra.sync(&self.plan.ra, |l| rec.ifindex(l));
        self.dhcp6.sync(&self.plan.dhcp6, |l| rec.ifindex(l));
    }

    /// The time servers for the appliance's clock: the uplink's DHCP
    /// server's (option 42), else the config's.
    fn sync_clock(&self) {
        let Some(tx) = &self.clock else { return };
        let from_dhcp: Vec<std::net::IpAddr> = self
            .lease
            .borrow()
            .as_ref()
            .map(|l| l.ntp.iter().map(|a| (*a).into()).collect())
            .unwrap_or_default();
        let want = match from_dhcp.is_empty() {
            false => from_dhcp,
            true => self
                .cfg
                .uplink
                .as_ref()
                .map(|u| u.ntp.clone())
                .unwrap_or_default(),
        };
        tx.send_if_modified(|have| {
            let changed = *have != want;
            if changed {
                *have = want;
            }
            changed
        });
    }

    fn service_problems(&self) -> Vec<String> {
        let mut v = self.dhcp.problems();
        v.extend(self.dns.problems());
        v.extend(self.ra.problems());
        v.extend(self.dhcp6.problems());
        v.extend(self.guard_trouble());
        v
    }

    /// What is wrong now: what the last passes over links and over the
    /// firewall could not do, and the services that do not serve.
    fn note_errors(&mut self) {
        let mut now = self.rec.unresolved();
        now.extend(self.service_problems());
        now.extend(self.page.trouble());
        self.history.note(crate::util::time::now(), &now);
        // `netagent_network_up`: its bridge is there and no service of it fails.
        for n in &self.cfg.networks {
            let failing = [
                self.dhcp.state(&n.name),
                self.dns.state(&n.name),
                self.ra.state(&n.name),
                self.dhcp6.state(&n.name),
            ]
            .iter()
            .any(|s| matches!(s, Some(Err(_))));
            crate::metrics::set_up(&n.name, !failing && self.rec.ifindex(&n.bridge).is_some());
        }
    }

    /// Start the uplink's DHCP client once the uplink is known and has a MAC.
    fn start_uplink_dhcp(&mut self) {
        if !matches!(self.uplink_dhcp, UplinkDhcp::Waiting) {
            return;
        }
        if self
            .plan
            .uplink
            .as_ref()
            .is_none_or(|u| u.addressing != Addressing::Dhcp)
        {
            self.uplink_dhcp = UplinkDhcp::NotNeeded;
            return;
        }
        let Some(name) = self.rec.uplink().map(str::to_string) else {
            return;
        };
        // From the kept copy of the kernel: this runs on every turn of the
        // loop until the uplink appears, and must not read the kernel each time.
        let Some(mac) = self.rec.mac_of(&name) else {
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
/// those of the host's resolv.conf (host mode), then those its DHCP lease
/// brought. Never one of our own bridges' addresses: queries sent there
/// would come back to us in a circle (`check` refuses them in the config;
/// resolv.conf and a DHCP lease are not checked).
fn uplink_dns(plan: &Plan, lease: Option<&UplinkLease>) -> Vec<std::net::IpAddr> {
    use std::net::IpAddr;
    let own: Vec<IpAddr> = plan
        .bridges
        .iter()
        .flat_map(|b| {
            let v4 = b.address.map(|a| IpAddr::V4(a.addr()));
            v4.into_iter().chain(b.address6.map(|a| IpAddr::V6(a.addr())))
        })
        .collect();
    let mut v: Vec<IpAddr> = Vec::new();
    let mut add = |d: IpAddr| {
        if !v.contains(&d) && !own.contains(&d) {
            v.push(d);
        }
    };
    let uplink = plan.uplink.as_ref();
    uplink.iter().flat_map(|u| u.dns.iter()).for_each(|d| add(*d));
    if uplink.is_some_and(|u| u.addressing == Addressing::Host) {
        crate::dns::resolv_conf::read().into_iter().for_each(&mut add);
    }
    lease
        .iter()
        .flat_map(|l| l.dns.iter())
        .for_each(|d| add(IpAddr::V4(*d)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_of_last_resort_never_include_our_own_bridges() {
        let src = "[uplink]\ninterface = \"eth0\"\naddress = \"dhcp\"\ndns = [\"9.9.9.9\"]\n\
                   [[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\n";
        let cfg = config::parse(src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
        let p = plan(&cfg);
        let lease = UplinkLease {
            address: "10.99.0.5/24".parse().unwrap_or_default(),
            router: None,
            // A LAN's DHCP server may name the appliance's own bridge.
            dns: vec![
                "10.0.0.1".parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                "9.9.9.9".parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                "1.1.1.1".parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            ],
            ntp: Vec::new(),
            server: std::net::Ipv4Addr::UNSPECIFIED,
            lease: Duration::from_secs(60),
            renew: Duration::from_secs(30),
            rebind: Duration::from_secs(50),
        };
        let got: Vec<String> = uplink_dns(&p, Some(&lease))
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["9.9.9.9", "1.1.1.1"]);
    }
}
