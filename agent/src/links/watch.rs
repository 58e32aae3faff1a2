//! Events from the kernel: a VM's tap (`vnet7`) appearing, a bridge deleted
//! by hand, an address removed, forwarding switched off. Each wakes the
//! reconciler and carries the changed object itself, so the reconciler
//! brings its copy of the kernel up to date without reading the kernel
//! again: a pass costs what the event touched, not the size of the host.

use std::sync::{Arc, Mutex};

use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use rtnetlink::packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use tokio::sync::mpsc;

use super::netlink::{addr_from, link_from, route_from, LinkError};
use super::observe::Delta;

/// The event socket's receive buffer (the kernel doubles it; root may
/// exceed net.core.rmem_max only with SO_RCVBUFFORCE, which this is not).
const EVENT_BUFFER: usize = 4 << 20;

/// The most changes kept between two passes; past it the next pass reads
/// everything again instead.
const MAX_PENDING: usize = 4096;

/// What the kernel announced since the last look.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    /// Each change, in order, to bring a kept copy of the kernel up to date.
    pub deltas: Vec<Delta>,
    /// Too many to keep, or one the library could not read: read everything.
    pub everything: bool,
    /// Forwarding, rp_filter or IPv6 settings: the sysctls.
    pub settings: bool,
}

impl Changed {
    pub(crate) fn all() -> Changed {
        Changed {
            deltas: Vec::new(),
            everything: true,
            settings: true,
        }
    }

    /// Record one event.
    fn note(&mut self, msg: &NetlinkPayload<RouteNetlinkMessage>) {
        use RouteNetlinkMessage as M;
        let delta = match msg {
            NetlinkPayload::InnerMessage(m) => match m {
                // A bridge port's own attributes come as an AF_BRIDGE
                // message that carries only those: read that link again.
                M::NewLink(l) | M::SetLink(l) if l.header.interface_family == AddressFamily::Bridge => {
                    Some(Delta::Reread(l.header.index))
                }
                M::NewLink(l) | M::SetLink(l) => Some(Delta::Link(link_from(l))),
                M::DelLink(l) if l.header.interface_family == AddressFamily::Bridge => {
                    Some(Delta::Reread(l.header.index))
                }
                M::DelLink(l) => Some(Delta::LinkGone(l.header.index)),
                M::NewAddress(a) if a.header.family == AddressFamily::Inet => addr_from(a).map(Delta::Addr),
                M::DelAddress(a) if a.header.family == AddressFamily::Inet => {
                    addr_from(a).map(Delta::AddrGone)
                }
                // IPv6 addresses also come and go with IPv6 being on (a
                // bridge's disable_ipv6): the settings are read again too.
                M::NewAddress(a) if a.header.family == AddressFamily::Inet6 => {
                    self.settings = true;
                    addr_from(a).map(Delta::Addr)
                }
                M::DelAddress(a) if a.header.family == AddressFamily::Inet6 => {
                    self.settings = true;
                    addr_from(a).map(Delta::AddrGone)
                }
                M::NewRoute(r) if r.header.address_family == AddressFamily::Inet => {
                    route_from(r).map(Delta::Route)
                }
                M::DelRoute(r) if r.header.address_family == AddressFamily::Inet => {
                    route_from(r).map(Delta::RouteGone)
                }
                // IPv4 routes of other tables are not ours to watch.
                M::NewRoute(_) | M::DelRoute(_) if !settings_route(m) => None,
                // IPv6 routes come and go with IPv6 being on: the
                // bridges' disable_ipv6 setting.
                _ => {
                    self.settings = true;
                    None
                }
            },
            _ => {
                self.everything = true;
                None
            }
        };
        if let Some(d) = delta {
            if self.deltas.len() >= MAX_PENDING {
                self.everything = true;
                self.deltas.clear();
            }
            if !self.everything {
                self.deltas.push(d);
            }
        }
    }
}

/// An IPv6 route (the other routes that reach `note`'s catch-all arm).
fn settings_route(m: &RouteNetlinkMessage) -> bool {
    matches!(m, RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) if r.header.address_family == AddressFamily::Inet6)
}

/// Link events, kept while the reconciler is busy.
#[derive(Debug)]
pub(crate) struct Events {
    wake: mpsc::Receiver<()>,
    pending: Arc<Mutex<Changed>>,
}

impl Events {
    /// What changed since the last call; waits for a change.
    pub(crate) async fn next(&mut self) -> Option<Changed> {
        self.wake.recv().await?;
        let mut p = self.pending.lock().ok()?;
        Some(std::mem::take(&mut *p))
    }
}

/// rtnetlink groups: links, IPv4 addresses and routes, IPv6 addresses,
/// IPv4 and IPv6 netconf (forwarding, rp_filter).
const GROUPS: [u32; 6] = [1, 5, 7, 9, 24, 25];
const RTM_NEWNETCONF: u16 = 80;
const RTM_DELNETCONF: u16 = 81;

impl Changed {
    /// Record every message of one datagram from the event socket. Each
    /// message is parsed, turned into a delta and dropped at once: a burst
    /// of thousands of events costs the kernel's socket buffer, not ours.
    pub(crate) fn note_datagram(&mut self, buf: &[u8]) {
        let mut off = 0;
        while off < buf.len() {
            let Ok(nb) = NetlinkBuffer::new_checked(&buf[off..]) else {
                self.everything = true;
                return;
            };
            let len = (nb.length() as usize).max(16);
            let kind = nb.message_type();
            let Some(one) = buf.get(off..off + len) else {
                self.everything = true;
                return;
            };
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) {
                Ok(m) => self.note(&m.payload),
                // Netconf messages are not parsed by the library: settings.
                Err(_) if kind == RTM_NEWNETCONF || kind == RTM_DELNETCONF => self.settings = true,
                Err(_) => self.everything = true,
            }
            off += (len + 3) & !3;
        }
    }
}

pub(crate) fn watch() -> Result<Events, LinkError> {
    let mut sock = TokioSocket::new(NETLINK_ROUTE).map_err(LinkError::Socket)?;
    sock.socket_mut()
        .bind(&SocketAddr::new(0, 0))
        .map_err(LinkError::Socket)?;
    for g in GROUPS {
        sock.socket_ref().add_membership(g).map_err(LinkError::Socket)?;
    }
    // Room for the burst a start or a reload makes (hundreds of bridges and
    // ports each announce themselves several times). An overrun is noticed
    // (ENOBUFS) and the next pass reads everything.
    let _ = sock.socket_ref().set_rx_buf_sz(EVENT_BUFFER);
    // Capacity 1: a burst of events needs one pass, not one each; what they
    // said is kept in `pending` meanwhile.
    let (tx, wake) = mpsc::channel(1);
    let pending = Arc::new(Mutex::new(Changed::default()));
    let shared = pending.clone();
    tokio::spawn(async move {
        loop {
            let got = sock.recv_from_full().await;
            if let Ok(mut p) = shared.lock() {
                match &got {
                    Ok((buf, _)) => p.note_datagram(buf),
                    Err(_) => p.everything = true,
                }
            }
            if tx.try_send(()).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Ok(Events { wake, pending })
}
