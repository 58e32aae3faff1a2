//! Which networks' ports are guarded, and what the guard must know of
//! each (pure): port security (`[network.port_security]`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{MacAddr, Network};

/// A network whose guests' ports are guarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortGuard {
    pub network: String,
    pub bridge: String,
    /// Names and globs of the ports that may do anything: the config's
    /// `trusted`, and the network's VXLAN device (the other hosts' guests
    /// and the home's DHCP come through it).
    pub trusted: Vec<String>,
    pub leases_per_port: u32,
    /// The bridge's own addresses (the guests' gateway, DHCP and DNS
    /// server): no port may claim them.
    pub gateway4: Vec<Ipv4Addr>,
    pub gateway6: Vec<Ipv6Addr>,
    /// Guests that set their own addresses: the static DHCP hosts and the
    /// config's `allow` list, as (MAC, address).
    pub statics: Vec<(MacAddr, IpAddr)>,
}

/// The guard of network `n`, if its ports are guarded; `mac` is the
/// bridge's planned MAC (its IPv6 link-local address comes from it).
pub(super) fn guard(n: &Network, mac: Option<MacAddr>, span_device: Option<&str>) -> Option<PortGuard> {
    let ps = &n.port_security;
    if !ps.enabled {
        return None;
    }
    let mut trusted = ps.trusted.clone();
    trusted.extend(span_device.map(String::from));
    let mut gateway6: Vec<Ipv6Addr> = n.address6.map(|a| a.addr()).into_iter().collect();
    gateway6.extend(mac.map(link_local));
    let mut statics: Vec<(MacAddr, IpAddr)> = ps.allow.clone();
    if let Some(d) = &n.dhcp {
        statics.extend(d.hosts.iter().map(|h| (h.mac, IpAddr::V4(h.ip))));
    }
    if let Some(d) = &n.dhcp6 {
        statics.extend(d.hosts.iter().filter_map(|h| match h.client {
            crate::config::Dhcp6Client::Mac(m) => Some((m, IpAddr::V6(h.ip))),
            crate::config::Dhcp6Client::Duid(_) => None,
        }));
    }
    statics.sort();
    statics.dedup();
    Some(PortGuard {
        network: n.name.clone(),
        bridge: n.bridge.clone(),
        trusted,
        leases_per_port: ps.leases_per_port,
        gateway4: n.address.map(|a| a.addr()).into_iter().collect(),
        gateway6,
        statics,
    })
}

/// The EUI-64 link-local address of `mac` (fe80::5054:ff:fe12:3456 for
/// 52:54:00:12:34:56), the bridge's own on its link.
pub fn link_local(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::plan::plan;

    #[test]
    fn a_guard_knows_the_gateway_the_statics_and_the_trusted_ports() {
        let cfg = parse(
            "[uplink]\ninterface = \"eth0\"\n\
             [[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\naddress6 = \"fd00:122::1/64\"\nmac = \"52:54:00:12:34:56\"\n\
             [network.port_security]\ntrusted = [\"router-*\"]\n\
             [[network.port_security.allow]]\nmac = \"52:54:00:00:00:09\"\nip = \"192.168.122.9\"\n\
             [network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:10\"\nip = \"192.168.122.10\"\n\
             [[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"eth1\"]\n",
            "t.toml",
        )
        .unwrap_or_else(|p| panic!("{p}"));
        let p = plan(&cfg);
        // The host's LAN bridge keeps what it had: no guard.
        assert_eq!(p.guards.len(), 1);
        let g = &p.guards[0];
        assert_eq!(g.bridge, "virbr0");
        assert_eq!(g.trusted, ["router-*"]);
        assert_eq!(g.gateway4, ["192.168.122.1".parse::<Ipv4Addr>().unwrap()]);
        let ll: Ipv6Addr = "fe80::5054:ff:fe12:3456".parse().unwrap();
        assert_eq!(g.gateway6, ["fd00:122::1".parse::<Ipv6Addr>().unwrap(), ll]);
        assert_eq!(g.statics.len(), 2);
        assert_eq!(g.leases_per_port, 4);
        // DHCP knows the cap.
        assert_eq!(p.dhcp[0].leases_per_port, Some(4));
    }
}
