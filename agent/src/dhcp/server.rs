//! The DHCP server of one network: a socket bound to its bridge, a pool, a
//! lease journal. Packets are read in batches; the batch's lease changes are
//! written with one fdatasync; then its replies go out. No lock is held
//! across an await: the task owns its pool.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::direct::Direct;
use super::journal::{Journal, JournalError};
use super::pool::Pool;
use super::port_guard::Refusal;
use super::reply::{self, Change, Dest, Reply};
use super::wire::{self, message_type};
use crate::plan::DhcpPool;
use crate::util::mmsg;
use crate::util::shelf::Shelf;
use crate::util::time::now;

pub(crate) const SERVER_PORT: u16 = 67;
pub(crate) const CLIENT_PORT: u16 = 68;
/// Packets handled per batch before their replies go out.
const BATCH: usize = 128;
/// The largest message taken: a DHCP message on a guest bridge fits one
/// Ethernet frame (and every client must accept 576 bytes); a longer one
/// arrives cut short and is dropped as malformed.
const PACKET_MAX: usize = 1536;
type Inbox = mmsg::Inbox<BATCH, PACKET_MAX>;
type Outbox = mmsg::Outbox<BATCH>;
/// Every network's server borrows its batch buffers (`shelf`).
static INBOXES: Shelf<Inbox> = Shelf::new(Inbox::with_marks);
static OUTBOXES: Shelf<Outbox> = Shelf::new(Outbox::new);
/// DISCOVERs answered per full batch when the server is behind.
const SHED_DISCOVERS_AFTER: usize = 48;
const DISCOVER: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    #[error("dhcp {network}: socket on {ifname}: {err}")]
    Socket {
        network: String,
        ifname: String,
        err: std::io::Error,
    },
    #[error("dhcp {network}: packet socket on {ifname} (for replies to clients without an address): {err}")]
    Direct {
        network: String,
        ifname: String,
        err: std::io::Error,
    },
    #[error("dhcp {0}")]
    Journal(#[from] JournalError),
}

/// Messages from the daemon to a running server. Kept small (the large
/// ones boxed): a server's channel holds a block of 32 of them from the
/// start, whether a message ever comes or not.
pub(crate) enum Control {
    /// The network's DHCP settings changed (reload): keep leases that fit.
    Reconfigure(Box<DhcpPool>),
    /// `netagent leases`: the leases that have not expired.
    Leases(tokio::sync::oneshot::Sender<Vec<super::lease::Lease>>),
    /// `netagent leases --release`: end the leases of this address or MAC.
    Release(
        super::pool::Holder,
        tokio::sync::oneshot::Sender<Vec<super::lease::Lease>>,
    ),
    /// Port security: the guest ports that exist and the MACs pinned on them.
    #[allow(clippy::type_complexity)]
    Ports(
        Box<(
            std::collections::HashSet<u32>,
            std::collections::HashMap<u32, crate::config::MacAddr>,
        )>,
    ),
    /// Port security: the leases of these MACs, as (address, MAC).
    #[allow(clippy::type_complexity)]
    LeasesOf(
        Box<(
            std::collections::HashSet<crate::config::MacAddr>,
            tokio::sync::oneshot::Sender<Vec<(Ipv4Addr, crate::config::MacAddr)>>,
        )>,
    ),
    /// Port security: the requests refused per port, and why, for `info`.
    Refusals(tokio::sync::oneshot::Sender<std::collections::HashMap<u32, u64>>),
}

/// The server's socket, not yet bound to its port (it takes no packet
/// until `listen`): made first, so that a bridge that is not there fails
/// the start before the leases are read.
fn socket(ifname: &str) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    // Answer on the guests' bridge only: never on the uplink.
    s.bind_device(Some(ifname.as_bytes()))?;
    // Port security marks a guest's requests with its port: read the mark.
    // A kernel before 5.19 cannot; the requests then come unmarked.
    let _ = crate::util::mmsg::receive_marks(std::os::fd::AsFd::as_fd(&s));
    // A modest queue: under overload a deep one only serves stale requests
    // whose clients have already given up (measured: 4 MiB collapsed to
    // 97% drops at full load; this size keeps answering fresh ones).
    let _ = s.set_recv_buffer_size(256 << 10);
    let _ = s.set_send_buffer_size(1 << 20);
    s.set_nonblocking(true)?;
    Ok(s)
}

fn socket_error(cfg: &DhcpPool, err: std::io::Error) -> ServerError {
    ServerError::Socket {
        network: cfg.network.clone(),
        ifname: cfg.interface.clone(),
        err,
    }
}

/// Bind the socket to the server's port: from here on it queues packets.
fn listen(s: Socket) -> std::io::Result<UdpSocket> {
    s.bind(&SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, SERVER_PORT)).into())?;
    UdpSocket::from_std(s.into())
}

/// Port security's word on a request from `port` (None: unmarked).
fn guard(
    ports: &mut super::port_guard::Ports,
    pool: &Pool,
    msg: &dhcproto::v4::Message,
    port: Option<u32>,
    cap: u32,
) -> Result<(), Refusal> {
    let Ok(mac) = reply::mac_of(msg) else {
        // reply::handle says why.
        return Ok(());
    };
    let client = reply::client_id(msg, mac);
    ports.check(pool, msg, &client, mac, port, cap)
}

/// One log line per second at most for dropped packets, with a count of
/// those not logged: a flood of junk must not flood the log.
struct RateLimit {
    last: Option<Instant>,
    quiet: u64,
}

impl RateLimit {
    fn note(&mut self, network: &str, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_secs(1))
        {
            self.quiet += 1;
            return;
        }
        if self.quiet > 0 {
            warn!(
                "dhcp {network}: {what} ({} more dropped since the last line)",
                self.quiet
            );
        } else {
            warn!("dhcp {network}: {what}");
        }
        self.last = Some(now);
        self.quiet = 0;
    }
}

/// What keeps a running server from acknowledging leases, shared with its
/// supervisor for `status` and `info`.
pub(crate) type Trouble = std::sync::Arc<std::sync::Mutex<Option<String>>>;

pub(crate) struct Server {
    trouble: Trouble,
    pool: Pool,
    sock: UdpSocket,
    /// Replies to clients that have no address yet (`direct.rs`).
    direct: Direct,
    /// A direct reply's message, encoded.
    scratch: Vec<u8>,
    journal: Journal,
    events: Option<mpsc::UnboundedSender<(String, Change)>>,
    drops: RateLimit,
    /// DISCOVERs left unanswered to catch up (logged with the sweep).
    shed: u64,
    /// The first lease expiry (Unix seconds): the sweep sleeps until then,
    /// so an idle server does not wake every few seconds for nothing.
    next_expiry: Option<u64>,
    /// Port security: which port holds which lease (`port_guard.rs`).
    ports: super::port_guard::Ports,
    /// Requests refused by port security, per port.
    refused: std::collections::HashMap<u32, u64>,
    metrics: crate::metrics::Dhcp4,
    /// Whether the wall clock was set (`follow_clock`).
    clock: crate::util::clock_watch::Follow,
}

/// Positions in `metrics::dhcp4::DROP_REASONS`.
const DROP_MALFORMED: usize = 0;
const DROP_PORT_SECURITY: usize = 1;
const DROP_OVERLOAD: usize = 2;
const DROP_REFUSED: usize = 3;

/// The longest an idle server sleeps between sweeps.
const MAX_SWEEP: Duration = Duration::from_secs(3600);
/// How soon a sweep follows when offers are held or DISCOVERs were shed.
const BUSY_SWEEP: Duration = Duration::from_secs(5);

impl Server {
    /// Load the pool's leases, then listen on its bridge.
    pub(crate) fn start(
        cfg: DhcpPool,
        lease_dir: &std::path::Path,
        events: Option<mpsc::UnboundedSender<(String, Change)>>,
    ) -> Result<Server, ServerError> {
        let sock = socket(&cfg.interface).map_err(|e| socket_error(&cfg, e))?;
        let direct = Direct::open(&cfg.interface).map_err(|err| ServerError::Direct {
            network: cfg.network.clone(),
            ifname: cfg.interface.clone(),
            err,
        })?;
        // Replayed straight into the pool: a /16's leases are never also
        // held in a list or a second table on the way.
        let mut pool = Pool::new(cfg);
        let mut journal =
            Journal::open_into(super::journal::path_for(lease_dir, &pool.cfg.network), &mut pool)?;
        pool.settle(now());
        // Start from a clean file: it also drops a torn last line.
        journal.compact(pool.leases())?;
        // Bound to its port once the leases are back, not before: a bound
        // socket says the server answers. Bound first, it queued what
        // clients sent while a /16's leases loaded (~0.2 s) and then
        // answered it all at once; perfdhcp, one socket for thousands of
        // clients, lost 0.4-1.8 % of a 5,000/s run to that burst in its
        // own queue (skb:kfree_skb, SOCKET_RCVBUFF on its socket), and a
        // client that waited for the socket to appear was told too early.
        let sock = listen(sock).map_err(|e| socket_error(&pool.cfg, e))?;
        // The names of the leases kept, for DNS. Only leases with a name:
        // one without has nothing to tell it, and a /16 of them queued at
        // once was 7 MB held until the daemon had read them all; but on a
        // libvirt network a nameless guest is named after its domain.
        if let Some(tx) = &events {
            let all = pool.cfg.announce_nameless;
            for l in pool.leases().filter(|l| all || l.hostname.is_some()) {
                let _ = tx.send((pool.cfg.network.clone(), Change::Bound(l.clone())));
            }
        }
        info!(
            "dhcp {}: serving {} on {} ({} leases kept; {:.3} s since boot)",
            pool.cfg.network,
            pool.cfg
                .ranges
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(","),
            pool.cfg.interface,
            pool.lease_count(),
            crate::util::time::since_boot()
        );
        let metrics = crate::metrics::Dhcp4::of(&pool.cfg.network);
        Ok(Server {
            trouble: Trouble::default(),
            next_expiry: pool.next_expiry(),
            pool,
            sock,
            direct,
            scratch: Vec::with_capacity(PACKET_MAX),
            journal,
            events,
            drops: RateLimit { last: None, quiet: 0 },
            shed: 0,
            ports: Default::default(),
            refused: Default::default(),
            metrics,
            clock: crate::util::clock_watch::Follow::new(),
        })
    }

    pub(crate) fn trouble(&self) -> Trouble {
        self.trouble.clone()
    }

    pub(crate) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let sweep = tokio::time::sleep(self.until_sweep());
        tokio::pin!(sweep);
        loop {
            tokio::select! {
                r = self.sock.readable() => {
                    if r.is_ok() {
                        self.follow_clock();
                        self.batch().await;
                        let at = tokio::time::Instant::now() + self.until_sweep();
                        if at < sweep.deadline() {
                            sweep.as_mut().reset(at);
                        }
                    }
                }
                Ok(()) = self.clock.set.changed() => {
                    self.follow_clock();
                    sweep.as_mut().reset(tokio::time::Instant::now() + self.until_sweep());
                }
                _ = &mut sweep => {
                    self.follow_clock();
                    self.expire().await;
                    sweep.as_mut().reset(tokio::time::Instant::now() + self.until_sweep());
                }
                c = control.recv() => match c {
                    Some(Control::Reconfigure(cfg)) => {
                        let dropped = self.pool.reconfigure(*cfg);
                        let changes: Vec<Change> = dropped.into_iter().map(Change::Gone).collect();
                        self.commit(&changes).await;
                        info!("dhcp {}: settings reloaded", self.pool.cfg.network);
                    }
                    Some(Control::Release(holder, reply)) => {
                        let gone = self.pool.release_holder(&holder);
                        let changes: Vec<Change> = gone.iter().cloned().map(Change::Gone).collect();
                        if self.commit(&changes).await {
                            for l in &gone {
                                info!("dhcp {}: lease of {} ({}) ended by the admin", self.pool.cfg.network, l.ip, l.mac);
                            }
                            let _ = reply.send(gone);
                        }
                    }
                    Some(Control::Ports(p)) => {
                        let (live, pins) = *p;
                        self.ports.set(live, pins);
                    }
                    Some(Control::LeasesOf(q)) => {
                        let (macs, reply) = *q;
                        let t = now();
                        let _ = reply.send(
                            self.pool
                                .leases()
                                .filter(|l| !l.expired(t) && macs.contains(&l.mac))
                                .map(|l| (l.ip, l.mac))
                                .collect(),
                        );
                    }
                    Some(Control::Refusals(reply)) => {
                        let _ = reply.send(self.refused.clone());
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

    /// When the wall clock was set (the appliance's SNTP, an admin), move
    /// every lease time with it before anything reads them: a box booted
    /// with its RTC in 2001 would otherwise see its leases expire (or last
    /// years) the moment its clock is set. The journal is rewritten with
    /// the moved times, so a restart reads what the pool holds.
    fn follow_clock(&mut self) {
        let Some(by) = self.clock.moved() else { return };
        self.pool.shift(by);
        self.next_expiry = self.pool.next_expiry();
        info!(
            "dhcp {}: the clock moved {by:+} s: lease times moved with it",
            self.pool.cfg.network
        );
        if let Err(e) = self.journal.compact(self.pool.leases()) {
            warn!("dhcp {}: {e}", self.pool.cfg.network);
        }
    }

    /// Read up to BATCH packets, decide, persist, then reply.
    ///
    /// When the queue holds a full batch the server is behind: it then
    /// answers every REQUEST (a client one step from a lease) but only a share
    /// of the DISCOVERs, which cost the most and start new work. Shedding new
    /// work first keeps leases completing under overload instead of every
    /// exchange timing out half-way.
    async fn batch(&mut self) {
        let t = now();
        // One system call for what has queued (`mmsg`); the socket's
        // readiness is cleared when it had nothing.
        let mut inbox = INBOXES.take();
        let got = self
            .sock
            .try_io(Interest::READABLE, || inbox.recv(self.sock.as_fd(), false));
        let n = match got {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => {
                self.drops
                    .note(&self.pool.cfg.network, format_args!("receive: {e}"));
                return;
            }
        };
        let behind = n == BATCH;
        let mut replies: Vec<Reply> = Vec::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut discovers = 0;
        for (bytes, from, port) in inbox.iter_marked() {
            let kind = message_type(bytes);
            self.metrics.received(kind.unwrap_or(0));
            if behind && kind == Some(DISCOVER) {
                discovers += 1;
                if discovers > SHED_DISCOVERS_AFTER {
                    self.shed += 1;
                    self.metrics.dropped(DROP_OVERLOAD);
                    continue;
                }
            }
            let msg = match wire::decode(bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.metrics.dropped(DROP_MALFORMED);
                    self.drops.note(
                        &self.pool.cfg.network,
                        format_args!("malformed packet from {from} dropped: {e}"),
                    );
                    continue;
                }
            };
            if let Some(cap) = self.pool.cfg.leases_per_port {
                if let Err(r) = guard(&mut self.ports, &self.pool, &msg, port, cap) {
                    if let Some(p) = port {
                        *self.refused.entry(p).or_default() += 1;
                    }
                    self.metrics.dropped(DROP_PORT_SECURITY);
                    match r {
                        Refusal::Full { first: false, .. } => {}
                        Refusal::Full { .. } => warn!("dhcp {}: {r}", self.pool.cfg.network),
                        r => self.drops.note(
                            &self.pool.cfg.network,
                            format_args!("packet from {from} dropped: {r}"),
                        ),
                    }
                    continue;
                }
            }
            match reply::handle(&mut self.pool, &msg, t) {
                Ok(out) => {
                    for c in &out.changes {
                        match c {
                            Change::Bound(l) => self.ports.bound(&l.client, port),
                            Change::Gone(l) => self.ports.gone(&l.client),
                        }
                    }
                    changes.extend(out.changes);
                    replies.extend(out.reply);
                }
                Err(reply::Drop::NotForUs) => {}
                Err(why) => {
                    if why == reply::Drop::Exhausted {
                        self.metrics.allocation_failed();
                    }
                    self.metrics.dropped(DROP_REFUSED);
                    self.drops.note(
                        &self.pool.cfg.network,
                        format_args!("packet from {from} dropped: {why}"),
                    )
                }
            }
        }
        self.metrics.pool(
            self.pool.size(),
            self.pool.lease_count() as u64,
            self.pool.declined_count() as u64,
        );
        // Back on the shelf for the next server while this one writes.
        drop(inbox);
        // Durable before acknowledged: the lease is on disk when the ACK leaves.
        if !self.commit(&changes).await {
            return;
        }
        let mut outbox = OUTBOXES.take();
        outbox.clear();
        for r in &replies {
            self.queue(&mut outbox, r);
        }
        self.flush(&mut outbox).await;
    }

    /// Journal and announce changes; false if they could not be saved (the
    /// replies are then withheld: the clients will retry).
    async fn commit(&mut self, changes: &[Change]) -> bool {
        if changes.is_empty() {
            return true;
        }
        for c in changes {
            if let Change::Gone(l) = c {
                self.ports.gone(&l.client);
            }
        }
        let saved = self.journal.append_off_thread(changes).await;
        let now_wrong = saved.as_ref().err().map(|e| {
            format!(
                "dhcp {}: {e}: no lease is acknowledged until it can be saved",
                self.pool.cfg.network
            )
        });
        if let Ok(mut t) = self.trouble.lock() {
            if *t != now_wrong {
                match &now_wrong {
                    Some(w) => warn!("{w}"),
                    None => info!("dhcp {}: lease file written again", self.pool.cfg.network),
                }
                *t = now_wrong;
            }
        }
        if saved.is_err() {
            return false;
        }
        for c in changes {
            if let Some(e) = match c {
                Change::Bound(l) => l.expiry(),
                _ => None,
            } {
                self.next_expiry = Some(self.next_expiry.map_or(e, |n| n.min(e)));
            }
            match c {
                Change::Bound(l) => debug!(
                    "dhcp {}: {} bound to {} {}",
                    self.pool.cfg.network,
                    l.ip,
                    l.mac,
                    l.hostname.as_deref().unwrap_or("")
                ),
                Change::Gone(l) => debug!("dhcp {}: {} released by {}", self.pool.cfg.network, l.ip, l.mac),
            }
            if let Some(tx) = &self.events {
                let _ = tx.send((self.pool.cfg.network.clone(), c.clone()));
            }
        }
        if self.journal.wants_compaction(self.pool.lease_count()) {
            if let Err(e) = self.journal.compact(self.pool.leases()) {
                warn!("dhcp {e}");
            }
        }
        true
    }

    /// How long until the next sweep is due.
    fn until_sweep(&self) -> Duration {
        let mut d = MAX_SWEEP;
        if self.shed > 0 || self.pool.has_offers() {
            d = BUSY_SWEEP;
        }
        if let Some(e) = self.next_expiry {
            d = d.min(Duration::from_secs(e.saturating_sub(now()) + 1));
        }
        d
    }

    async fn expire(&mut self) {
        if self.shed > 0 {
            warn!(
                "dhcp {}: overloaded: {} DISCOVERs left unanswered to finish leases in progress",
                self.pool.cfg.network, self.shed
            );
            self.shed = 0;
        }
        let gone: Vec<Change> = self.pool.expire(now()).into_iter().map(Change::Gone).collect();
        self.commit(&gone).await;
        self.next_expiry = self.pool.next_expiry();
    }

    /// Encode a reply into the outbox, addressed as its destination needs.
    fn queue(&mut self, outbox: &mut Outbox, r: &Reply) {
        if let Some(t) = r.msg.opts().msg_type() {
            self.metrics.sent(u8::from(t));
        }
        let to = match r.dest {
            Dest::Relay(g) => SocketAddrV4::new(g, SERVER_PORT),
            Dest::Unicast(ip) => SocketAddrV4::new(ip, CLIENT_PORT),
            Dest::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            Dest::Direct(ip, mac) => {
                let sent = wire::encode_into(&r.msg, &mut self.scratch)
                    .map_err(std::io::Error::other)
                    .and_then(|()| self.direct.send(self.pool.cfg.server, ip, mac, &self.scratch));
                match sent {
                    Ok(()) => return,
                    // Broadcast rather than lose the reply.
                    Err(e) => {
                        self.drops.note(
                            &self.pool.cfg.network,
                            format_args!("reply to {ip} at {mac}: {e}; broadcasting"),
                        );
                        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
                    }
                }
            }
        };
        let Some(buf) = outbox.next(to.into()) else {
            return;
        };
        if let Err(e) = wire::encode_into(&r.msg, buf) {
            outbox.unpush();
            warn!("dhcp {}: cannot encode a reply: {e}", self.pool.cfg.network);
        }
    }

    /// Send the outbox, waiting while the socket's send queue is full (the
    /// leases behind these replies are already on disk). A reply the kernel
    /// refuses (no route, a full neighbour table) is passed over and noted.
    async fn flush(&mut self, outbox: &mut Outbox) {
        while !outbox.is_empty() {
            let sent = self
                .sock
                .try_io(Interest::WRITABLE, || outbox.send(self.sock.as_fd()));
            match sent {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.sock.writable().await {
                        self.drops.note(&self.pool.cfg.network, format_args!("send: {e}"));
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => self.drops.note(&self.pool.cfg.network, format_args!("send: {e}")),
            }
        }
    }
}
