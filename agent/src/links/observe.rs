//! A snapshot of the kernel's links, IPv4 addresses and main-table IPv4
//! routes, as plain data the pure `diff` can compare with the plan.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

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
    /// Backed by a device (a real or virtual NIC), not a software link.
    pub physical: bool,
    pub loopback: bool,
}

impl Link {
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub net: Ipv4Net,
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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kernel {
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    pub routes: Vec<Route>,
}

impl Kernel {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.addrs.iter().filter(move |a| a.index == index).map(|a| a.net)
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
