//! A snapshot of the kernel's links, IPv4 and global IPv6 addresses and
//! main-table IPv4 routes, as plain data the pure `diff` can compare with
//! the plan.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::MacAddr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The rtnetlink kind: "bridge", "veth", "tun"...; None for plain NICs.
    pub kind: Option<String>,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    pub up: bool,
    pub controller: Option<u32>,
    /// For bridges: whether STP is on.
    pub stp: Option<bool>,
    /// For bridge ports: the isolation flag.
    pub isolated: Option<bool>,
    /// For bridge ports: whether the bridge learns source MACs on it, and
    /// whether it answers ARP and neighbour solicitations for the hosts
    /// behind it (neighbour suppression).
    pub learning: Option<bool>,
    pub neigh_suppress: Option<bool>,
    /// For VXLAN devices: what they were made with.
    pub vxlan: Option<Vxlan>,
    /// Backed by a device (a real or virtual NIC), not a software link.
    pub physical: bool,
    /// Where its device sits under /sys/devices (`pci0000:00/0000:00:02.0/
    /// virtio0`): the hardware order NICs are taken in, stable across
    /// boots and driver load order.
    pub bus: Option<String>,
    /// The device's driver (`virtio_net`, `e1000`), for the NIC table.
    pub driver: Option<String>,
    /// Whether the NIC sees a link (a cable, a peer); None when unknown.
    pub carrier: Option<bool>,
    pub loopback: bool,
}

impl Link {
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }

    pub fn is_vxlan(&self) -> bool {
        self.kind.as_deref() == Some("vxlan")
    }
}

/// A VXLAN device's settings, which the kernel fixes when it is made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vxlan {
    pub vni: u32,
    pub local: Option<Ipv4Addr>,
    pub port: u16,
    pub learning: bool,
}

/// A VXLAN device's all-zero FDB entry: frames for unknown MACs and
/// broadcasts go to `dst` (head-end replication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    pub index: u32,
    pub dst: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    /// IPv4, or IPv6 of global scope: the link-local addresses are the
    /// kernel's own and never in the plan.
    pub net: IpNet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route protocol: who added it (netagent marks its own).
    pub proto: u8,
    pub to: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
}

/// An IPv6 default route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route6 {
    pub proto: u8,
    pub via: Option<std::net::Ipv6Addr>,
    pub oif: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kernel {
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    pub routes: Vec<Route>,
    /// IPv6 default routes, read whole on each full read (no events: the
    /// full pass every 30 s catches one that went).
    pub routes6: Vec<Route6>,
    /// The VXLAN devices' flood lists (read only when there are any).
    pub flood: Vec<Flood>,
    /// `links` by name, for `link`.
    pub names: NameIndex,
}

/// Where each link sits in `links`, by name. A pass at 1,000 networks asks
/// for links by name some 10^4 times, and a scan each was a third of the
/// time a new port took to join its bridge. Built on first use after a
/// change; a hit is checked against the link itself and a miss falls back
/// to a scan, so a copy changed behind its back is still answered right.
#[derive(Debug, Clone, Default)]
pub struct NameIndex(std::sync::OnceLock<std::collections::HashMap<String, usize>>);

/// A cache: never part of what a copy of the kernel says.
impl PartialEq for NameIndex {
    fn eq(&self, _: &NameIndex) -> bool {
        true
    }
}

impl Eq for NameIndex {}

/// One change the kernel announced, as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    Link(Link),
    /// Deleted: its addresses and routes went with it (the kernel does not
    /// announce the routes it flushes).
    LinkGone(u32),
    /// A bridge port's own settings changed (the event carries only those):
    /// read this link again.
    Reread(u32),
    Addr(Addr),
    AddrGone(Addr),
    Route(Route),
    RouteGone(Route),
}

impl Kernel {
    /// Bring the copy up to date with one announced change.
    pub fn apply(&mut self, d: Delta) {
        if matches!(d, Delta::Link(_) | Delta::LinkGone(_)) {
            self.names = NameIndex::default();
        }
        match d {
            Delta::Link(l) => {
                // Set down, a link loses its routes without a word.
                if !l.up {
                    self.routes.retain(|r| r.oif != Some(l.index));
                }
                match self.links.iter_mut().find(|x| x.index == l.index) {
                    Some(x) => *x = l,
                    None => self.links.push(l),
                }
            }
            Delta::LinkGone(i) => {
                self.links.retain(|l| l.index != i);
                self.addrs.retain(|a| a.index != i);
                self.routes.retain(|r| r.oif != Some(i));
                self.routes6.retain(|r| r.oif != Some(i));
                self.flood.retain(|f| f.index != i);
            }
            Delta::Reread(_) => {}
            Delta::Addr(a) => {
                if !self.addrs.contains(&a) {
                    self.addrs.push(a);
                }
            }
            Delta::AddrGone(a) => self.addrs.retain(|x| *x != a),
            Delta::Route(r) => {
                // A route is the one to its destination at its metric.
                self.routes.retain(|x| !(x.to == r.to && x.metric == r.metric));
                self.routes.push(r);
            }
            Delta::RouteGone(r) => self.routes.retain(|x| !(x.to == r.to && x.metric == r.metric)),
        }
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        let names = self.names.0.get_or_init(|| {
            self.links
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i))
                .collect()
        });
        names
            .get(name)
            .and_then(|&i| self.links.get(i))
            .filter(|l| l.name == name)
            .or_else(|| self.links.iter().find(|l| l.name == name))
    }

    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.addrs
            .iter()
            .filter(move |a| a.index == index)
            .filter_map(|a| match a.net {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
    }

    pub fn addrs6_of(&self, index: u32) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.addrs
            .iter()
            .filter(move |a| a.index == index)
            .filter_map(|a| match a.net {
                IpNet::V6(n) => Some(n),
                IpNet::V4(_) => None,
            })
    }

    /// Each bridge's ports by name.
    pub fn ports_by_bridge(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for l in &self.links {
            if let Some(b) = l
                .controller
                .and_then(|c| self.by_index(c))
                .filter(|b| b.is_bridge())
            {
                out.entry(b.name.clone()).or_default().push(l.name.clone());
            }
        }
        out
    }
}

/// The bridges' ports in this network namespace now.
pub async fn bridge_ports() -> Result<HashMap<String, Vec<String>>, super::LinkError> {
    let nl = super::Netlink::connect()?;
    Ok(nl.observe().await?.ports_by_bridge())
}

#[cfg(test)]
mod delta_tests {
    use super::*;

    fn link(index: u32, name: &str, up: bool) -> Link {
        Link {
            index,
            name: name.into(),
            mtu: 1500,
            up,
            ..Link::default()
        }
    }

    fn route(to: &str, oif: u32) -> Route {
        Route {
            proto: 4,
            to: to.parse().unwrap_or_default(),
            via: None,
            oif: Some(oif),
            metric: None,
        }
    }

    #[test]
    fn deltas_keep_the_copy_as_the_kernel_has_it() {
        let mut k = Kernel::default();
        k.apply(Delta::Link(link(5, "virbr0", true)));
        k.apply(Delta::Addr(Addr {
            index: 5,
            net: "10.0.0.1/24".parse().unwrap_or_default(),
        }));
        k.apply(Delta::Route(route("10.1.0.0/24", 5)));
        k.apply(Delta::Route(route("10.1.0.0/24", 5)));
        assert_eq!((k.links.len(), k.addrs.len(), k.routes.len()), (1, 1, 1), "{k:?}");
        // A port appears, then is enslaved: the later message wins.
        k.apply(Delta::Link(link(9, "vnet0", false)));
        let mut enslaved = link(9, "vnet0", true);
        enslaved.controller = Some(5);
        k.apply(Delta::Link(enslaved));
        assert_eq!(k.link("vnet0").and_then(|l| l.controller), Some(5));
        // Set down, the bridge loses its routes; deleted, its addresses too.
        k.apply(Delta::Link(link(5, "virbr0", false)));
        assert!(k.routes.is_empty());
        k.apply(Delta::LinkGone(5));
        assert!(k.link("virbr0").is_none() && k.addrs.is_empty());
    }
}
