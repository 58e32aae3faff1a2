//! DHCPv6 prefix delegation on the uplink (RFC 8415 §18.2, requesting
//! router): SOLICIT → ADVERTISE → REQUEST → REPLY, then RENEW at T1,
//! REBIND at T2, and back to SOLICIT when the prefix's lifetime runs out.
//! The state machine is pure (`Client`); `run` gives it a socket on the
//! uplink and publishes the delegated prefix on a watch channel, from
//! which the daemon gives each `address6 = "pd"` network its /64.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use dhcproto::v6::{DhcpOption, DhcpOptions, IAPrefix, Message, MessageType, OptionCode, IAPD, ORO};
use dhcproto::{Encodable, Encoder};
use ipnet::Ipv6Net;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Our IA_PD's identifier: one delegation per uplink.
const IAID: u32 = 1;
/// Retransmission (RFC 8415 §15): from one second, doubling, at most this.
const FIRST_RT: Duration = Duration::from_secs(1);
const MAX_RT: Duration = Duration::from_secs(30);
/// REQUEST tries before starting over (REQ_MAX_RC).
const REQUEST_TRIES: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    prefix: Ipv6Net,
    server: Vec<u8>,
    renew_at: Instant,
    rebind_at: Instant,
    expires: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Soliciting,
    Requesting {
        server: Vec<u8>,
        offer: IAPD,
        tries: u32,
    },
    Bound(Held),
    Renewing(Held),
    Rebinding(Held),
}

/// The requesting router's side, without I/O.
#[derive(Debug)]
pub(crate) struct Client {
    duid: Vec<u8>,
    state: State,
    xid: [u8; 3],
    /// When the current exchange started (for the elapsed-time option).
    started: Instant,
    next_send: Instant,
    rt: Duration,
}

fn fresh_xid() -> [u8; 3] {
    let mut b = [0u8; 3];
    let _ = getrandom::fill(&mut b);
    b
}

/// The IA_PD of a server's message: its best prefix (the longest valid
/// lifetime, none of 0) with T1, T2 and lifetimes; None with a status code
/// (NoPrefixAvail, NoBinding) or no prefix.
fn offered(m: &Message) -> Option<(IAPD, Ipv6Net, u32, u32, u32)> {
    let ia = m.opts().get_all(OptionCode::IAPD)?.iter().find_map(|o| match o {
        DhcpOption::IAPD(ia) if ia.id == IAID => Some(ia.clone()),
        _ => None,
    })?;
    if ia
        .opts
        .get(OptionCode::StatusCode)
        .is_some_and(|s| !matches!(s, DhcpOption::StatusCode(c) if c.status == dhcproto::v6::Status::Success))
    {
        return None;
    }
    let best = ia
        .opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IAPrefix(p) if p.valid_lifetime > 0 && p.prefix_len <= 64 => Some(p.clone()),
            _ => None,
        })
        .max_by_key(|p| p.valid_lifetime)?;
    let net = Ipv6Net::new(best.prefix_ip, best.prefix_len).ok()?.trunc();
    Some((ia.clone(), net, ia.t1, ia.t2, best.valid_lifetime))
}

impl Client {
    pub(crate) fn new(duid: Vec<u8>, now: Instant) -> Client {
        Client {
            duid,
            state: State::Soliciting,
            xid: fresh_xid(),
            started: now,
            next_send: now,
            rt: FIRST_RT,
        }
    }

    /// The delegated prefix now, if any.
    pub(crate) fn prefix(&self) -> Option<Ipv6Net> {
        match &self.state {
            State::Bound(h) | State::Renewing(h) | State::Rebinding(h) => Some(h.prefix),
            _ => None,
        }
    }

    fn begin(&mut self, state: State, now: Instant) {
        self.state = state;
        self.xid = fresh_xid();
        self.started = now;
        self.next_send = now;
        self.rt = FIRST_RT;
    }

    /// Move on with time: timers of a held prefix. Returns the message to
    /// send now, if one is due, and when to be asked again.
    pub(crate) fn poll(&mut self, now: Instant) -> (Option<Message>, Instant) {
        // A held prefix's timers first, all that are due: renew, rebind,
        // expire.
        loop {
            match &self.state {
                State::Bound(h) if now >= h.renew_at => {
                    let h = h.clone();
                    self.begin(State::Renewing(h), now);
                }
                State::Renewing(h) if now >= h.rebind_at => {
                    let h = h.clone();
                    self.begin(State::Rebinding(h), now);
                }
                State::Rebinding(h) if now >= h.expires => {
                    warn!(
                        "uplink: delegated prefix {} expired without a renewal; asking again",
                        h.prefix
                    );
                    self.begin(State::Soliciting, now);
                }
                _ => break,
            }
        }
        if let State::Bound(h) = &self.state {
            return (None, h.renew_at);
        }
        if now < self.next_send {
            return (None, self.wake_at());
        }
        if let State::Requesting { tries, .. } = &mut self.state {
            if *tries >= REQUEST_TRIES {
                self.begin(State::Soliciting, now);
            } else {
                *tries += 1;
            }
        }
        let msg = self.message(now);
        self.next_send = now + self.rt;
        self.rt = (self.rt * 2).min(MAX_RT);
        (Some(msg), self.wake_at())
    }

    fn wake_at(&self) -> Instant {
        let timer = match &self.state {
            State::Renewing(h) => Some(h.rebind_at),
            State::Rebinding(h) => Some(h.expires),
            _ => None,
        };
        timer.map_or(self.next_send, |t| t.min(self.next_send))
    }

    fn message(&self, now: Instant) -> Message {
        let (kind, server, ia) = match &self.state {
            State::Soliciting | State::Bound(_) => (MessageType::Solicit, None, None),
            State::Requesting { server, offer, .. } => {
                (MessageType::Request, Some(server.clone()), Some(offer.clone()))
            }
            State::Renewing(h) => (
                MessageType::Renew,
                Some(h.server.clone()),
                Some(self.ia_for(h.prefix)),
            ),
            State::Rebinding(h) => (MessageType::Rebind, None, Some(self.ia_for(h.prefix))),
        };
        let mut m = Message::new_with_id(kind, self.xid);
        let o = m.opts_mut();
        o.insert(DhcpOption::ClientId(self.duid.clone()));
        if let Some(s) = server {
            o.insert(DhcpOption::ServerId(s));
        }
        let elapsed = now.saturating_duration_since(self.started).as_millis() / 10;
        o.insert(DhcpOption::ElapsedTime(
            u16::try_from(elapsed).unwrap_or(u16::MAX),
        ));
        o.insert(DhcpOption::ORO(ORO {
            opts: vec![OptionCode::DomainNameServers],
        }));
        o.insert(DhcpOption::IAPD(ia.unwrap_or(IAPD {
            id: IAID,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        })));
        m
    }

    fn ia_for(&self, prefix: Ipv6Net) -> IAPD {
        let mut opts = DhcpOptions::new();
        opts.insert(DhcpOption::IAPrefix(IAPrefix {
            preferred_lifetime: 0,
            valid_lifetime: 0,
            prefix_len: prefix.prefix_len(),
            prefix_ip: prefix.network(),
            opts: DhcpOptions::new(),
        }));
        IAPD {
            id: IAID,
            t1: 0,
            t2: 0,
            opts,
        }
    }

    /// A message from a server. Returns the new prefix (or its loss) when
    /// the delegation changed.
    pub(crate) fn receive(&mut self, m: &Message, now: Instant) -> Option<Option<Ipv6Net>> {
        let ours = m.xid() == self.xid
            && matches!(m.opts().get(OptionCode::ClientId), Some(DhcpOption::ClientId(c)) if *c == self.duid);
        let server = match m.opts().get(OptionCode::ServerId) {
            Some(DhcpOption::ServerId(s)) if !s.is_empty() => s.clone(),
            _ => return None,
        };
        if !ours {
            return None;
        }
        let before = self.prefix();
        match (&self.state, m.msg_type()) {
            (State::Soliciting, MessageType::Advertise) => {
                let (ia, net, ..) = offered(m)?;
                debug!("uplink: {net} offered for delegation");
                self.begin(
                    State::Requesting {
                        server,
                        offer: ia,
                        tries: 0,
                    },
                    now,
                );
                None
            }
            (State::Requesting { .. } | State::Renewing(_) | State::Rebinding(_), MessageType::Reply) => {
                match offered(m) {
                    Some((_, net, t1, t2, valid)) => {
                        let valid_d = Duration::from_secs(u64::from(valid));
                        // T1 and T2 of 0 leave them to us: half and 80 %.
                        let t1 = if t1 == 0 {
                            valid_d / 2
                        } else {
                            Duration::from_secs(u64::from(t1))
                        };
                        let t2 = if t2 == 0 {
                            valid_d * 4 / 5
                        } else {
                            Duration::from_secs(u64::from(t2))
                        };
                        let held = Held {
                            prefix: net,
                            server,
                            renew_at: now + t1,
                            rebind_at: now + t2.max(t1),
                            expires: now + valid_d,
                        };
                        self.state = State::Bound(held);
                    }
                    // NoBinding, NoPrefixAvail: ask anew.
                    None => self.begin(State::Soliciting, now),
                }
                let after = self.prefix();
                (after != before).then_some(after)
            }
            _ => None,
        }
    }
}

/// Our DUID-LL from the uplink's MAC.
pub(crate) fn duid(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

fn socket(ifname: &str) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    // The uplink only: the guests' DHCPv6 server listens on the bridges.
    s.bind_device(Some(ifname.as_bytes()))?;
    s.bind(&SocketAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 546, 0, 0)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// All_DHCP_Relay_Agents_and_Servers.
const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Ask the uplink's router for a prefix and keep it, publishing changes.
pub(crate) async fn run(ifname: String, ifindex: u32, mac: [u8; 6], out: watch::Sender<Option<Ipv6Net>>) {
    let sock = loop {
        match socket(&ifname) {
            Ok(s) => break s,
            Err(e) => {
                warn!("uplink {ifname}: DHCPv6 socket: {e}; trying again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    info!("uplink {ifname}: asking for a delegated IPv6 prefix");
    let mut client = Client::new(duid(mac), Instant::now());
    let to = SocketAddrV6::new(ALL_SERVERS, 547, 0, ifindex);
    let mut buf = vec![0u8; 2048];
    loop {
        let (msg, wake) = client.poll(Instant::now());
        if let Some(m) = msg {
            let mut b = Vec::new();
            if m.encode(&mut Encoder::new(&mut b)).is_ok() {
                if let Err(e) = sock.send_to(&b, to).await {
                    debug!("uplink {ifname}: DHCPv6 send: {e}");
                }
            }
        }
        let wait = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = r else {
                    // A lasting error (the uplink going) must not spin.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let Ok(m) = crate::dhcp6::wire::decode(&buf[..n]) else { continue };
                if let Some(change) = client.receive(&m, Instant::now()) {
                    match change {
                        Some(p) => info!("uplink {ifname}: delegated prefix {p}"),
                        None => warn!("uplink {ifname}: the delegated prefix is gone"),
                    }
                    let _ = out.send(change);
                }
            }
            _ = tokio::time::sleep(wait) => {
                // A prefix that expired in poll(): say so.
                if client.prefix().is_none() && out.borrow().is_some() {
                    let _ = out.send(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
