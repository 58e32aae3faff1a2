//! Rules between networks, and between networks and the uplink: names,
//! bridges, MACs and subnets are unique; a port belongs to one network; the
//! uplink is nobody's port; networks that route out have an uplink.

use std::collections::HashMap;

use super::ifname::{is_glob, patterns_overlap, ALL_NICS};
use super::model::*;
use super::problem::Collector;
use super::raw::{RawNetwork, RawUplink, S};

pub(super) fn check_cross(
    c: &mut Collector<'_>,
    uplink: Option<(&S<RawUplink>, &Uplink)>,
    nets: &[(&S<RawNetwork>, &Network)],
) {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut bridges: HashMap<&str, &str> = HashMap::new();
    for (raw, n) in nets {
        let r = raw.get_ref();
        if let Some(v) = &r.name {
            if names.insert(&n.name, &n.name).is_some() {
                c.add(
                    v.span(),
                    format!("network \"{}\" name", n.name),
                    "another network has this name: names must be unique",
                );
            }
        }
        if let Some(v) = &r.bridge {
            if let Some(other) = bridges.insert(&n.bridge, &n.name) {
                c.add(
                    v.span(),
                    format!("network \"{}\" bridge", n.name),
                    format!(
                        "bridge {} is already used by network \"{other}\": give each network its own bridge",
                        n.bridge
                    ),
                );
            }
        }
    }

    // MACs: bridge MACs and static hosts' MACs across all networks.
    let mut macs: HashMap<super::units::MacAddr, String> = HashMap::new();
    for (raw, n) in nets {
        if let (Some(m), Some(v)) = (n.mac, &raw.get_ref().mac) {
            if let Some(other) = macs.insert(m, format!("bridge of network \"{}\"", n.name)) {
                c.add(
                    v.span(),
                    format!("network \"{}\" mac", n.name),
                    format!("{m} is already the MAC of the {other}"),
                );
            }
        }
    }
    for (raw, n) in nets {
        let (Some(d), Some(rd)) = (&n.dhcp, &raw.get_ref().dhcp) else {
            continue;
        };
        for h in &d.hosts {
            if let Some(other) = macs.get(&h.mac) {
                if other.starts_with("bridge") {
                    let span = rd
                        .get_ref()
                        .host
                        .iter()
                        .find(|rh| {
                            rh.get_ref().mac.as_ref().and_then(|m| m.get_ref().parse().ok()) == Some(h.mac)
                        })
                        .map(|rh| rh.span())
                        .unwrap_or(rd.span());
                    c.add(
                        span,
                        format!("network \"{}\" dhcp.host", n.name),
                        format!("{} is the MAC of the {other}", h.mac),
                    );
                }
            }
        }
    }

    // A resolver that is one of our own addresses would send queries in a
    // circle (a forwarder to ourselves, an uplink resolver on a bridge).
    let own: HashMap<std::net::IpAddr, &str> = nets
        .iter()
        .flat_map(|(_, n)| {
            let v4 = n
                .address
                .map(|a| (std::net::IpAddr::V4(a.addr()), n.name.as_str()));
            let v6 = n
                .address6
                .map(|a| (std::net::IpAddr::V6(a.addr()), n.name.as_str()));
            v4.into_iter().chain(v6)
        })
        .collect();
    let circle = |ip: &std::net::IpAddr| {
        own.get(ip).map(|n| {
            format!("{ip} is network \"{n}\"'s own address: queries sent there would come back to netagent; name a resolver outside")
        })
    };
    if let Some((ru, u)) = uplink {
        for (v, ip) in ru.get_ref().dns.iter().zip(&u.dns) {
            if let Some(why) = circle(ip) {
                c.add(v.span(), "uplink.dns", why);
            }
        }
    }
    for (raw, n) in nets {
        let (Some(rd), Some(d)) = (&raw.get_ref().dns, &n.dns) else {
            continue;
        };
        for (i, (rf, f)) in rd.get_ref().forwarder.iter().zip(&d.forwarders).enumerate() {
            if let (Some(v), Some(why)) = (&rf.get_ref().addr, f.addr.as_ref().and_then(circle)) {
                c.add(
                    v.span(),
                    format!("network \"{}\" dns.forwarder[{i}].addr", n.name),
                    why,
                );
            }
        }
    }

    // A static route must not take another network's subnet or the uplink's.
    for (raw, n) in nets {
        for (i, (rr, r)) in raw.get_ref().route.iter().zip(&n.routes).enumerate() {
            let Some(v) = &rr.get_ref().to else { continue };
            let overlaps = |s: ipnet::Ipv4Net| s.contains(&r.to.network()) || r.to.contains(&s.network());
            let clash = nets
                .iter()
                .filter(|(_, o)| o.name != n.name)
                .find_map(|(_, o)| {
                    o.subnet()
                        .filter(|s| overlaps(*s))
                        .map(|s| format!("{s} of network \"{}\"", o.name))
                })
                .or_else(|| {
                    uplink.and_then(|(_, u)| match u.addressing {
                        Addressing::Static { address, .. } if overlaps(address.trunc()) => {
                            Some(format!("the uplink's subnet {}", address.trunc()))
                        }
                        _ => None,
                    })
                });
            if let Some(what) = clash {
                c.add(
                    v.span(),
                    format!("network \"{}\" route[{i}].to", n.name),
                    format!("{} overlaps {what}: the route would take that traffic to a guest; route a subnet of its own", r.to),
                );
            }
        }
    }

    // Subnets must not overlap: the kernel could not route between them.
    let uplink_net = uplink.and_then(|(_, u)| match u.addressing {
        Addressing::Static { address, .. } => Some(address.trunc()),
        Addressing::Dhcp | Addressing::Host => None,
    });
    for (i, (raw, n)) in nets.iter().enumerate() {
        let (Some(sub), Some(v)) = (n.subnet(), &raw.get_ref().address) else {
            continue;
        };
        for (_, o) in &nets[..i] {
            if let Some(os) = o.subnet() {
                if os.contains(&sub.network()) || sub.contains(&os.network()) {
                    c.add(
                        v.span(),
                        format!("network \"{}\" address", n.name),
                        format!(
                            "subnet {sub} overlaps {os} of network \"{}\": pick a separate subnet",
                            o.name
                        ),
                    );
                }
            }
        }
        if let Some(us) = uplink_net {
            if us.contains(&sub.network()) || sub.contains(&us.network()) {
                c.add(
                    v.span(),
                    format!("network \"{}\" address", n.name),
                    format!("subnet {sub} overlaps the uplink's subnet {us}"),
                );
            }
        }
    }

    // IPv6 prefixes too: a guest's address would be ambiguous.
    for (i, (raw, n)) in nets.iter().enumerate() {
        let (Some(pre), Some(v)) = (n.prefix6(), &raw.get_ref().address6) else {
            continue;
        };
        for (_, o) in &nets[..i] {
            if let Some(op) = o.prefix6() {
                if op.contains(&pre.network()) || pre.contains(&op.network()) {
                    c.add(
                        v.span(),
                        format!("network \"{}\" address6", n.name),
                        format!(
                            "prefix {pre} overlaps {op} of network \"{}\": pick a separate prefix",
                            o.name
                        ),
                    );
                }
            }
        }
    }

    // A delegated prefix comes from the router on netagent's own uplink,
    // and each network takes a /64 of its own.
    let mut subnets: HashMap<u16, &str> = HashMap::new();
    for (raw, n) in nets {
        let (Some(d), Some(v)) = (n.delegated, &raw.get_ref().address6) else {
            continue;
        };
        let field = format!("network \"{}\" address6", n.name);
        match uplink.map(|(_, u)| &u.addressing) {
            None => c.add(v.span(), &field, "prefix delegation asks the uplink's router: add an [uplink]"),
            Some(Addressing::Host) => c.add(
                v.span(),
                &field,
                "with address = \"host\" the host's own tools run the uplink's DHCPv6: give this network a prefix of its own (address6 = \"...::1/64\")",
            ),
            Some(_) => {}
        }
        if let Delegated::Subnet(i) = d {
            if let Some(other) = subnets.insert(i, &n.name) {
                c.add(
                    v.span(),
                    &field,
                    format!("subnet {i} of the delegated prefix is network \"{other}\"'s: pick another"),
                );
            }
        }
    }

    // A port belongs to one network.
    for (i, (raw, n)) in nets.iter().enumerate() {
        let r = raw.get_ref();
        for (pi, p) in n.ports.iter().enumerate() {
            let span = r.ports.get(pi).map(|v| v.span()).unwrap_or(raw.span());
            for (_, o) in &nets[..i] {
                // A name given outright beats another network's pattern
                // (`vnet3` in one, `vnet*` in another); two names or two
                // patterns that meet are a conflict.
                let exact = |x: &str| !is_glob(x) && x != ALL_NICS;
                if let Some(op) = o
                    .ports
                    .iter()
                    .find(|op| exact(p) == exact(op) && patterns_overlap(p, op))
                {
                    c.add(
                        span.clone(),
                        format!("network \"{}\" ports[{pi}]", n.name),
                        format!("port `{p}` is also claimed by network \"{}\" (`{op}`): an interface can be a port of one bridge only", o.name),
                    );
                }
            }
            if let Some(o) = nets
                .iter()
                .find(|(_, o)| o.bridge != n.bridge && patterns_overlap(p, &o.bridge))
            {
                c.add(
                    span.clone(),
                    format!("network \"{}\" ports[{pi}]", n.name),
                    format!(
                        "`{p}` matches bridge {} of network \"{}\": a bridge cannot be a port",
                        o.1.bridge, o.1.name
                    ),
                );
            }
            if let Some((_, u)) = uplink {
                if let UplinkInterface::Named(up) = &u.interface {
                    if patterns_overlap(p, up) {
                        c.add(
                            span.clone(),
                            format!("network \"{}\" ports[{pi}]", n.name),
                            format!("`{p}` takes the uplink {up} as a port: the uplink carries the appliance's own traffic; use a kind = \"bridge\" network and set uplink.interface to its bridge to share the NIC"),
                        );
                    }
                }
            }
        }
    }

    // The uplink may be a bridge only if it is a `bridge` network's bridge.
    if let Some((ru, u)) = uplink {
        if let UplinkInterface::Named(up) = &u.interface {
            if let Some((_, n)) = nets
                .iter()
                .find(|(_, n)| &n.bridge == up && n.kind != Kind::Bridge)
            {
                let span = ru
                    .get_ref()
                    .interface
                    .as_ref()
                    .map(|v| v.span())
                    .unwrap_or(ru.span());
                c.add(
                    span,
                    "uplink.interface",
                    format!("{up} is the guest bridge of {} network \"{}\": the uplink must be a NIC or a kind = \"bridge\" network's bridge", n.kind, n.name),
                );
            }
        }
    }

    // NAT and routed networks send guests' traffic out through the uplink.
    if uplink.is_none() {
        for (raw, n) in nets {
            if n.kind.needs_uplink() {
                let span = raw
                    .get_ref()
                    .kind
                    .as_ref()
                    .map(|v| v.span())
                    .unwrap_or(raw.span());
                c.add(
                    span,
                    format!("network \"{}\" kind", n.name),
                    format!("a {} network needs an uplink: add [uplink] with interface = \"auto\" (or a NIC name), or use kind = \"isolated\"", n.kind),
                );
            }
        }
    }

    // A port of the appliance is forwarded to one guest only.
    let mut seen: Vec<(&str, &Forward)> = Vec::new();
    for (raw, n) in nets {
        let r = raw.get_ref();
        for (j, fw) in n.forwards.iter().enumerate() {
            let span = match (n.forwards.len() == r.forward.len(), r.forward.get(j)) {
                (true, Some(v)) => v.span(),
                _ => raw.span(),
            };
            if let Some((other, o)) = seen.iter().find(|(_, o)| {
                o.protocol == fw.protocol && o.ports.start <= fw.ports.end && fw.ports.start <= o.ports.end
            }) {
                c.add(
                    span,
                    format!("network \"{}\" forward[{j}]", n.name),
                    format!(
                        "{} port {} is already forwarded to {} by network \"{other}\": a port goes to one guest",
                        fw.protocol, fw.ports, o.to
                    ),
                );
            }
            seen.push((&n.name, fw));
        }
    }
}
