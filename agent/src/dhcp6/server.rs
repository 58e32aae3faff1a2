//! The DHCPv6 server of one network: a socket on UDP 547 of its bridge
//! (joined to ff02::1:2), a pool, a lease journal. A lease is on disk
//! before the reply that grants it leaves.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

use dhcproto::{Encodable, Encoder};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::lease::Lease6;
use super::pool::Pool6;
use super::reply::{self, Changes, Context, Drop};
use crate::dhcp::journal::{path_for6, Journal, JournalError};
use crate::plan::Dhcp6Pool;
use crate::util::time::now;

const SERVER_PORT: u16 = 547;
const CLIENT_PORT: u16 = 546;
/// All_DHCP_Relay_Agents_and_Servers.
const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    #[error("dhcp6 {network}: socket on {ifname}: {err}")]
    Socket {
        network: String,
        ifname: String,
        err: std::io::Error,
    },
    #[error("dhcp6 {0}")]
    Journal(#[from] JournalError),
}

/// Lease changes for the DNS names: network, bound (true) or gone, lease.
pub(crate) type Events = mpsc::UnboundedSender<(String, bool, Lease6)>;

pub(crate) enum Control {
    Reconfigure(Box<Dhcp6Pool>),
    /// `netagent leases`: the leases that have not expired.
    Leases(tokio::sync::oneshot::Sender<Vec<Lease6>>),
}

fn socket(ifname: &str) -> std::io::Result<UdpSocket> {
    let ifindex = nix::net::if_::if_nametoindex(ifname).map_err(std::io::Error::from)?;
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    // The guests' bridge only: never the uplink.
    s.bind_device(Some(ifname.as_bytes()))?;
    s.join_multicast_v6(&ALL_SERVERS, ifindex)?;
    s.bind(&SocketAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, SERVER_PORT, 0, 0)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// Our DUID-LL (RFC 8415 §11.4): type 3, hardware type 1, the bridge's MAC,
/// which netagent keeps stable.
pub(crate) fn server_duid(ifname: &str) -> Vec<u8> {
    let mac = crate::ra::bridge_mac(ifname).unwrap_or([0x52, 0x54, 0, 0, 0, 0]);
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

pub(crate) struct Server {
    pool: Pool6,
    sock: UdpSocket,
    journal: Journal<Lease6>,
    duid: Vec<u8>,
    events: Option<Events>,
    trouble: crate::dhcp::server::Trouble,
    /// Dropped packets said at most once a second.
    last_complaint: Option<std::time::Instant>,
    metrics: crate::metrics::Dhcp6,
    /// Whether the wall clock was set (`follow_clock`).
    clock: crate::util::clock_watch::Follow,
}

impl Server {
    pub(crate) fn start(
        cfg: Dhcp6Pool,
        lease_dir: &Path,
        events: Option<Events>,
    ) -> Result<Server, ServerError> {
        let sock = socket(&cfg.interface).map_err(|err| ServerError::Socket {
            network: cfg.network.clone(),
            ifname: cfg.interface.clone(),
            err,
        })?;
        let (journal, leases) = Journal::open(path_for6(lease_dir, &cfg.network))?;
        let duid = server_duid(&cfg.interface);
        let mut pool = Pool6::new(cfg);
        pool.load(leases, now());
        if let Some(tx) = &events {
            for l in pool.leases() {
                let _ = tx.send((pool.cfg.network.clone(), true, l.clone()));
            }
        }
        info!(
            "dhcp6 {}: serving {} on {} ({} leases kept)",
            pool.cfg.network,
            pool.cfg
                .ranges
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(","),
            pool.cfg.interface,
            pool.leases().count()
        );
        let metrics = crate::metrics::Dhcp6::of(&pool.cfg.network);
        Ok(Server {
            metrics,
            clock: crate::util::clock_watch::Follow::new(),
            pool,
            sock,
            journal,
            duid,
            events,
            trouble: Default::default(),
            last_complaint: None,
        })
    }

    pub(crate) fn trouble(&self) -> crate::dhcp::server::Trouble {
        self.trouble.clone()
    }

    fn complain(&mut self, what: std::fmt::Arguments<'_>) {
        let now = std::time::Instant::now();
        if self
            .last_complaint
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            warn!("dhcp6 {}: {what}", self.pool.cfg.network);
            self.last_complaint = Some(now);
        } else {
            debug!("dhcp6 {}: {what}", self.pool.cfg.network);
        }
    }

    /// Journal the changes; false (and the reply withheld) if they could
    /// not be saved.
    async fn commit(&mut self, changes: &Changes) -> bool {
        let saved = self
            .journal
            .record_off_thread(changes.iter().map(|(b, l)| (*b, l)))
            .await;
        let now_wrong = saved.as_ref().err().map(|e| {
            format!(
                "dhcp6 {}: {e}: no lease is granted until it can be saved",
                self.pool.cfg.network
            )
        });
        if let Ok(mut t) = self.trouble.lock() {
            if *t != now_wrong {
                if let Some(w) = &now_wrong {
                    warn!("{w}");
                }
                *t = now_wrong;
            }
        }
        for (bound, l) in changes {
            debug!(
                "dhcp6 {}: {} {} {}",
                self.pool.cfg.network,
                l.ip,
                if *bound { "bound to" } else { "released by" },
                l.duid.to_hex()
            );
        }
        if let (true, Some(tx)) = (saved.is_ok(), &self.events) {
            for (bound, l) in changes {
                let _ = tx.send((self.pool.cfg.network.clone(), *bound, l.clone()));
            }
        }
        if saved.is_ok() && self.journal.wants_compaction(self.pool.leases().count()) {
            if let Err(e) = self.journal.compact(self.pool.leases()) {
                warn!("dhcp6 {e}");
            }
        }
        saved.is_ok()
    }

    pub(crate) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let mut buf = vec![0u8; 4096];
        let mut sweep = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    let (n, from) = match r {
                        Ok(x) => x,
                        Err(e) => {
                            // A lasting error (the bridge going, until the
                            // supervisor restarts us) must not spin.
                            self.complain(format_args!("receive: {e}"));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let SocketAddr::V6(from) = from else { continue };
                    self.follow_clock();
                    self.answer(&buf[..n], from).await;
                }
                Ok(()) = self.clock.set.changed() => self.follow_clock(),
                _ = sweep.tick() => {
                    self.follow_clock();
                    let gone: Changes = self.pool.expire(now()).into_iter().map(|l| (false, l)).collect();
                    if !gone.is_empty() {
                        self.commit(&gone).await;
                        self.metrics.pool(self.pool.counts());
                    }
                }
                c = control.recv() => match c {
                    Some(Control::Reconfigure(cfg)) => {
                        let gone: Changes = self.pool.reconfigure(*cfg).into_iter().map(|l| (false, l)).collect();
                        self.commit(&gone).await;
                        info!("dhcp6 {}: settings reloaded", self.pool.cfg.network);
                    }
                    Some(Control::Leases(reply)) => {
                        let t = now();
                        let _ = reply.send(self.pool.leases().filter(|l| !l.expired(t)).cloned().collect());
                    }
                    None => return,
                },
            }
        }
    }

    /// When the wall clock was set, move every lease time with it (see the
    /// DHCPv4 server's `follow_clock`).
    fn follow_clock(&mut self) {
        let Some(by) = self.clock.moved() else { return };
        self.pool.shift(by);
        info!(
            "dhcp6 {}: the clock moved {by:+} s: lease times moved with it",
            self.pool.cfg.network
        );
        if let Err(e) = self.journal.compact(self.pool.leases()) {
            warn!("dhcp6 {}: {e}", self.pool.cfg.network);
        }
    }

    async fn answer(&mut self, bytes: &[u8], from: SocketAddrV6) {
        self.metrics.received(bytes.first().copied());
        let msg = match super::wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.metrics.dropped();
                self.complain(format_args!("malformed packet from {} dropped: {e}", from.ip()));
                return;
            }
        };
        let ctx = Context {
            server_id: &self.duid,
            from: *from.ip(),
            now: now(),
        };
        let out = match reply::handle(&mut self.pool, &ctx, &msg) {
            Ok(o) => o,
            Err(Drop::NotForUs) => return,
            Err(why) => {
                self.metrics.dropped();
                self.complain(format_args!("packet from {} dropped: {why}", from.ip()));
                return;
            }
        };
        if !out.changes.is_empty() && !self.commit(&out.changes).await {
            return;
        }
        let mut b = Vec::new();
        if let Err(e) = out.reply.encode(&mut Encoder::new(&mut b)) {
            warn!("dhcp6 {}: cannot encode a reply: {e}", self.pool.cfg.network);
            return;
        }
        let to = SocketAddrV6::new(*from.ip(), CLIENT_PORT, 0, from.scope_id());
        self.metrics.sent(b.first().copied());
        self.metrics.pool(self.pool.counts());
        if let Err(e) = self.sock.send_to(&b, to).await {
            self.complain(format_args!("send to {to}: {e}"));
        }
    }
}
