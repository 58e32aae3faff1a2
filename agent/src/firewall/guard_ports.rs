//! What port security's sets should hold (pure): which ports of the
//! guarded bridges are guests, segments or trusted, and which addresses
//! each guest port holds, from the leases and declared static guests
//! matched to ports by the MACs the kernel pinned on them.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::guard::Elements;
use crate::config::ifname::glob_match;
use crate::config::MacAddr;
use crate::plan::PortGuard;

/// A port of a bridge, as the kernel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub index: u32,
    pub name: String,
    pub bridge: String,
    /// A NIC (many machines may be behind it), not a tap or veth.
    pub physical: bool,
    /// The port's own MAC (a libvirt tap's says its guest's).
    pub mac: Option<MacAddr>,
}

/// How a port is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One guest: its MAC, its addresses, no servers.
    Guest,
    /// A NIC's segment: no servers.
    Segment,
    Trusted,
}

/// The role of `p` under `g` (a port of `g`'s bridge).
pub fn role(g: &PortGuard, p: &Port) -> Role {
    if g.trusted.iter().any(|t| glob_match(t, &p.name)) {
        Role::Trusted
    } else if p.physical {
        Role::Segment
    } else {
        Role::Guest
    }
}

/// The addresses each network's guests hold: network -> (address, MAC).
pub type Held = HashMap<String, Vec<(IpAddr, MacAddr)>>;

/// The sets for `guards`, given the bridges' ports, the MACs pinned on
/// them and the leases. A lease or static guest whose MAC is pinned on no
/// guest port of its bridge binds nothing yet (its port has not spoken):
/// until it does, nothing claims the address either, so nobody's own
/// traffic is dropped for it.
pub fn want(guards: &[PortGuard], ports: &[Port], pins: &HashMap<u32, MacAddr>, held: &Held) -> Elements {
    let mut e = Elements::default();
    for g in guards {
        let mine: Vec<&Port> = ports.iter().filter(|p| p.bridge == g.bridge).collect();
        let mut by_mac: HashMap<MacAddr, u32> = HashMap::new();
        for p in &mine {
            match role(g, p) {
                Role::Guest => {
                    e.guests.insert(p.index);
                    if let Some(m) = pins.get(&p.index) {
                        by_mac.insert(*m, p.index);
                    }
                }
                Role::Segment => {
                    e.segments.insert(p.index);
                }
                Role::Trusted => {}
            }
        }
        let statics = g.statics.iter().map(|(m, a)| (*a, *m));
        let leases = held.get(&g.network).into_iter().flatten().copied();
        for (addr, mac) in statics.chain(leases) {
            let Some(port) = by_mac.get(&mac) else { continue };
            match addr {
                IpAddr::V4(a) => {
                    e.port_ip4.insert((*port, a));
                }
                IpAddr::V6(a) => {
                    e.port_ip6.insert((*port, a));
                }
            }
        }
        e.claimed4.extend(g.gateway4.iter().copied());
        e.claimed6.extend(g.gateway6.iter().copied());
    }
    e.claimed4.extend(e.port_ip4.iter().map(|(_, a)| *a));
    e.claimed6.extend(e.port_ip6.iter().map(|(_, a)| *a));
    e
}

/// The MAC libvirt gave the guest behind `port`, before the guest has
/// sent anything: libvirt makes a domain's tap with the guest's MAC but
/// for a first byte of 0xfe (so that the bridge never takes it for its
/// own), and its hook told netagent the guests' MACs (`known`).
pub fn libvirt_guest(port: &Port, known: &[MacAddr]) -> Option<MacAddr> {
    let tap = port.mac?;
    if tap.0[0] != 0xfe {
        return None;
    }
    known.iter().copied().find(|m| m.0[1..] == tap.0[1..])
}

/// The guest ports of `before` that are no longer guests: their pins go.
pub fn gone(before: &Elements, now: &Elements) -> BTreeSet<u32> {
    before.guests.difference(&now.guests).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn guard() -> PortGuard {
        PortGuard {
            network: "n".into(),
            bridge: "virbr0".into(),
            trusted: vec!["router-*".into(), "vx150".into()],
            leases_per_port: 4,
            gateway4: vec!["192.168.122.1".parse().unwrap()],
            gateway6: vec!["fe80::1".parse().unwrap()],
            statics: vec![(
                "52:54:00:00:00:09".parse().unwrap(),
                "192.168.122.9".parse().unwrap(),
            )],
        }
    }

    fn port(index: u32, name: &str, bridge: &str, physical: bool) -> Port {
        Port {
            index,
            name: name.into(),
            bridge: bridge.into(),
            physical,
            mac: None,
        }
    }

    #[test]
    fn a_libvirt_tap_says_its_guests_mac() {
        let mut tap = port(3, "vnet0", "virbr0", false);
        let known: Vec<MacAddr> = vec!["52:54:00:12:34:56".parse().unwrap()];
        assert_eq!(libvirt_guest(&tap, &known), None);
        tap.mac = Some("fe:54:00:12:34:56".parse().unwrap());
        assert_eq!(libvirt_guest(&tap, &known), Some(known[0]));
        tap.mac = Some("fe:54:00:12:34:57".parse().unwrap());
        assert_eq!(libvirt_guest(&tap, &known), None);
        // A veth's own MAC says nothing.
        tap.mac = Some("52:54:00:12:34:56".parse().unwrap());
        assert_eq!(libvirt_guest(&tap, &known), None);
    }

    #[test]
    fn taps_are_guests_nics_segments_and_the_trusted_pass() {
        let g = guard();
        assert_eq!(role(&g, &port(3, "vnet0", "virbr0", false)), Role::Guest);
        assert_eq!(role(&g, &port(4, "eth1", "virbr0", true)), Role::Segment);
        assert_eq!(role(&g, &port(5, "router-1", "virbr0", false)), Role::Trusted);
        assert_eq!(role(&g, &port(6, "vx150", "virbr0", false)), Role::Trusted);
    }

    #[test]
    fn addresses_bind_to_the_port_their_mac_is_pinned_on() {
        let ports = [
            port(3, "vnet0", "virbr0", false),
            port(4, "vnet1", "virbr0", false),
            port(5, "eth1", "virbr0", true),
            // Another bridge's port, not guarded here.
            port(7, "vnet9", "docker0", false),
        ];
        let pins: HashMap<u32, MacAddr> = [
            (3, "52:54:00:00:00:03".parse().unwrap()),
            (4, "52:54:00:00:00:09".parse().unwrap()),
        ]
        .into();
        let held: Held = [(
            "n".to_string(),
            vec![
                (
                    "192.168.122.30".parse().unwrap(),
                    "52:54:00:00:00:03".parse().unwrap(),
                ),
                ("fd00::30".parse().unwrap(), "52:54:00:00:00:03".parse().unwrap()),
                // A lease whose guest's port has not spoken yet.
                (
                    "192.168.122.40".parse().unwrap(),
                    "52:54:00:00:00:04".parse().unwrap(),
                ),
            ],
        )]
        .into();
        let e = want(&[guard()], &ports, &pins, &held);
        assert_eq!(e.guests, [3, 4].into());
        assert_eq!(e.segments, [5].into());
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            e.port_ip4,
            [(3, ip("192.168.122.30")), (4, ip("192.168.122.9"))].into()
        );
        assert_eq!(e.port_ip6, [(3, "fd00::30".parse().unwrap())].into());
        // The gateway and every bound address are claimed; the unbound lease is not.
        assert_eq!(
            e.claimed4,
            [ip("192.168.122.1"), ip("192.168.122.9"), ip("192.168.122.30")].into()
        );
        assert!(e.claimed6.contains(&"fe80::1".parse().unwrap()));
        let mut later = e.clone();
        later.guests.remove(&4);
        assert_eq!(gone(&e, &later), [4].into());
    }
}
