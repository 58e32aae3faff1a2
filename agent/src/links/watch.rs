//! Events from the kernel: a VM's tap (`vnet7`) appearing, a bridge deleted
//! by hand, an address removed, forwarding switched off. Each wakes the
//! reconciler and says what kind of object changed, so it reads again only
//! that kind from the kernel.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

use super::netlink::LinkError;

/// The event socket's receive buffer (the kernel doubles it; root may
/// exceed net.core.rmem_max only with SO_RCVBUFFORCE, which this is not).
const EVENT_BUFFER: usize = 4 << 20;

/// The kinds of kernel objects that changed since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    pub links: bool,
    pub addrs: bool,
    pub routes: bool,
    /// Forwarding, rp_filter or IPv6 settings: the sysctls.
    pub settings: bool,
}

impl Changed {
    pub const ALL: Changed = Changed {
        links: true,
        addrs: true,
        routes: true,
        settings: true,
    };

    fn merge(&mut self, o: Changed) {
        self.links |= o.links;
        self.addrs |= o.addrs;
        self.routes |= o.routes;
        self.settings |= o.settings;
    }

    /// What one event changed. A link that goes away takes its routes with
    /// it without a route event (the kernel does not announce routes it
    /// flushes), so a link event means routes are read again too.
    pub fn of(msg: &NetlinkPayload<RouteNetlinkMessage>) -> Changed {
        use RouteNetlinkMessage as M;
        let mut c = Changed::default();
        match msg {
            NetlinkPayload::InnerMessage(m) => match m {
                M::NewLink(_) | M::DelLink(_) | M::SetLink(_) => {
                    c.links = true;
                    c.routes = true;
                }
                M::NewAddress(a) | M::DelAddress(a) if a.header.family == AddressFamily::Inet => {
                    c.addrs = true
                }
                M::NewRoute(r) | M::DelRoute(r) if r.header.address_family == AddressFamily::Inet => {
                    c.routes = true
                }
                // IPv6 addresses and routes come and go with IPv6 being on:
                // the bridges' disable_ipv6 setting.
                _ => c.settings = true,
            },
            // A message the library could not read: look at everything.
            _ => c = Changed::ALL,
        }
        c
    }
}

/// Link events, merged while the reconciler is busy.
#[derive(Debug)]
pub struct Events {
    wake: mpsc::Receiver<()>,
    pending: Arc<Mutex<Changed>>,
}

impl Events {
    /// What changed since the last call; waits for a change.
    pub async fn next(&mut self) -> Option<Changed> {
        self.wake.recv().await?;
        let mut p = self.pending.lock().ok()?;
        Some(std::mem::take(&mut *p))
    }
}

pub fn watch() -> Result<Events, LinkError> {
    let (mut conn, _handle, mut events) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv4Route,
        // Forwarding and rp_filter changes (`sysctl net.ipv4.ip_forward=0`),
        // and IPv6 switched back on for a bridge (its addresses appear).
        MulticastGroup::Ipv4Netconf,
        MulticastGroup::Ipv6Netconf,
        MulticastGroup::Ipv6Ifaddr,
    ])
    .map_err(LinkError::Socket)?;
    // Room for the burst a start or a reload makes (hundreds of bridges
    // and ports each announce themselves several times): an overrun loses
    // events, and then only the safety-net pass would see what they said.
    {
        use rtnetlink::sys::AsyncSocket;
        let _ = conn.socket_mut().socket_ref().set_rx_buf_sz(EVENT_BUFFER);
    }
    tokio::spawn(conn);
    // Capacity 1: a burst of events needs one pass, not one each; what each
    // changed is merged in `pending` meanwhile.
    let (tx, wake) = mpsc::channel(1);
    let pending = Arc::new(Mutex::new(Changed::default()));
    let shared = pending.clone();
    tokio::spawn(async move {
        while let Some((msg, _)) = events.next().await {
            if let Ok(mut p) = shared.lock() {
                p.merge(Changed::of(&msg.payload));
            }
            if tx.try_send(()).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Ok(Events { wake, pending })
}
