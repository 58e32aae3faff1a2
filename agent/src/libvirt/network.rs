//! One libvirt `<network>` document as a netagent `Network`. Everything that
//! maps is mapped; everything that does not is named in a warning, so
//! nothing is dropped without the user being told.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use roxmltree::Document;

use super::services::{import_dhcp, import_dns, import_nat};
use super::xml::{check_attrs, child, children, ip_attr, yes, Ctx};
use crate::config::units::MacAddr;
use crate::config::{Kind, Nat, Network, StaticRoute};

/// A network read from XML, with what the importer must know beyond it.
#[derive(Debug)]
pub struct Imported {
    pub network: Network,
    /// `<forward dev='eth1'>`: the NIC libvirt sent this network's traffic out of.
    pub forward_dev: Option<String>,
    pub warnings: Vec<String>,
}

pub(super) fn import(xml: &str) -> Result<Imported, String> {
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "network" {
        return Err(format!(
            "<{}> is not a libvirt network: expected <network>",
            root.tag_name().name()
        ));
    }
    let raw_name = child(root, "name")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("the network has no <name>")?;
    let name: String = raw_name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.') {
                ch
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let mut c = Ctx {
        name: name.clone(),
        warnings: Vec::new(),
    };
    if name != raw_name {
        c.warn(format!(
            "renamed from \"{raw_name}\": netagent names use letters, digits, '-', '_' and '.'"
        ));
    }
    check_attrs(&mut c, root, &["connections", "ipv6", "trustGuestRxFilters"]);
    if yes(root.attribute("ipv6")) == Some(true) {
        c.warn("<network ipv6='yes'> (IPv6 between guests without an IPv6 address on the bridge) is not imported: give the network an <ip family='ipv6'> prefix and netagent serves IPv6 on it");
    }
    if yes(root.attribute("trustGuestRxFilters")) == Some(true) {
        c.warn("trustGuestRxFilters applies to macvtap guests; netagent does not manage guest interfaces");
    }

    // <forward>: the kind.
    let mut forward_dev = None;
    let mut nat = None;
    let kind = match child(root, "forward") {
        None => Kind::Isolated,
        Some(f) => {
            check_attrs(&mut c, f, &["mode", "dev"]);
            forward_dev = f.attribute("dev").map(String::from);
            let mode = f.attribute("mode").unwrap_or("nat");
            for el in f.children().filter(|n| n.is_element()) {
                match el.tag_name().name() {
                    "nat" if mode == "nat" => nat = Some(import_nat(&mut c, el)),
                    "interface" if matches!(mode, "nat" | "route") => {
                        let dev = el.attribute("dev").map(String::from);
                        if forward_dev.is_none() {
                            forward_dev = dev;
                        } else if dev != forward_dev {
                            c.warn(format!(
                                "<forward> lists several interfaces; netagent sends traffic out of one uplink ({})",
                                forward_dev.as_deref().unwrap_or("?")
                            ));
                        }
                    }
                    "interface" if mode == "bridge" => {}
                    other => c.drop_el(
                        el,
                        &format!("(in forward mode '{mode}': {other}) has no netagent equivalent"),
                    ),
                }
            }
            match mode {
                "nat" => Kind::Nat,
                "route" => Kind::Route,
                "open" => Kind::Open,
                "bridge" if child(root, "bridge").is_some() => Kind::Bridge,
                "bridge" | "private" | "vepa" | "passthrough" => {
                    return Err(format!(
                        "network \"{name}\": forward mode '{mode}' is a macvtap (direct) connection to host NICs; netagent builds bridges, not macvtap devices. Put the NIC in a kind = \"bridge\" network instead"
                    ));
                }
                "hostdev" => {
                    return Err(format!(
                        "network \"{name}\": forward mode 'hostdev' passes SR-IOV functions to guests; netagent has no equivalent"
                    ));
                }
                other => return Err(format!("network \"{name}\": unknown forward mode '{other}'")),
            }
        }
    };
    if kind == Kind::Nat && nat.is_none() {
        nat = Some(Nat::default());
    }

    // <bridge>
    let mut bridge = String::new();
    // As the XML says it; unsaid, netagent's choice (on where ports can loop).
    let mut stp = None;
    if let Some(b) = child(root, "bridge") {
        check_attrs(&mut c, b, &["name", "stp", "delay", "macTableManager", "zone"]);
        bridge = b.attribute("name").unwrap_or_default().to_string();
        stp = yes(b.attribute("stp"));
        if let Some(d) = b.attribute("delay").filter(|d| *d != "0") {
            c.warn(format!(
                "<bridge delay='{d}'> is not imported: netagent makes its bridges with a forward delay of 0 (with STP on, the kernel's minimum of 2 s)"
            ));
        }
        if b.attribute("macTableManager") == Some("libvirt") {
            c.warn("<bridge macTableManager='libvirt'> is not supported; the kernel learns MAC addresses");
        }
        if let Some(z) = b.attribute("zone") {
            c.warn(format!(
                "<bridge zone='{z}'> is a firewalld zone; netagent keeps its own nftables table"
            ));
        }
    }

    let mac = child(root, "mac").and_then(|m| {
        let v = m.attribute("address")?;
        match v.parse::<MacAddr>() {
            Ok(mac) => Some(mac),
            Err(_) => {
                c.warn(format!("<mac address='{v}'> is not a MAC address; not imported"));
                None
            }
        }
    });
    let mtu = child(root, "mtu")
        .and_then(|m| m.attribute("size"))
        .and_then(|s| s.parse::<u32>().ok());

    // <domain>
    let mut domain = None;
    let mut local_only = false;
    if let Some(d) = child(root, "domain") {
        check_attrs(&mut c, d, &["name", "localOnly", "register"]);
        domain = d
            .attribute("name")
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        local_only = yes(d.attribute("localOnly")).unwrap_or(false);
        if yes(d.attribute("register")) == Some(true) {
            c.warn("<domain register='yes'> (registering with systemd-resolved) is not supported");
        }
    }

    // <ip>: the first IPv4 one is the network's address, the first IPv6
    // one its prefix.
    let mut address: Option<Ipv4Net> = None;
    let mut address6: Option<ipnet::Ipv6Net> = None;
    let mut dhcp6 = None;
    let mut local_ptr = false;
    let mut dhcp = None;
    for ip in children(root, "ip") {
        if ip.attribute("family") == Some("ipv6") {
            if let Some((a6, d6)) = import_ip6(&mut c, ip, address6.is_some()) {
                address6 = Some(a6);
                dhcp6 = d6;
            }
            continue;
        }
        if address.is_some() {
            c.warn(format!(
                "a second IPv4 <ip address='{}'> is not imported: a netagent network has one subnet",
                ip.attribute("address").unwrap_or("?")
            ));
            continue;
        }
        check_attrs(
            &mut c,
            ip,
            &["family", "address", "netmask", "prefix", "localPtr"],
        );
        let Some(a) = ip_attr(&mut c, ip, "address") else {
            continue;
        };
        let prefix = match (ip.attribute("prefix"), ip.attribute("netmask")) {
            (Some(p), _) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or(format!("prefix='{p}' is not a prefix length (0 to 32)")),
            (None, Some(m)) => match m.parse::<Ipv4Addr>() {
                Err(_) => Err(format!("netmask='{m}' is not an IPv4 netmask")),
                Ok(mask) => ipnet::ipv4_mask_to_prefix(mask).map_err(|_| {
                    format!("netmask='{m}' is not contiguous (its ones must come first, like 255.255.255.0)")
                }),
            },
            (None, None) => Ok(24),
        };
        let net = match prefix.and_then(|p| Ipv4Net::new(a, p).map_err(|e| e.to_string())) {
            Ok(net) => net,
            Err(e) => return Err(format!("network \"{name}\": <ip address='{a}'>: {e}")),
        };
        address = Some(net);
        local_ptr = yes(ip.attribute("localPtr")) == Some(true);
        for el in ip.children().filter(|n| n.is_element()) {
            match el.tag_name().name() {
                "dhcp" => dhcp = Some(import_dhcp(&mut c, el, kind, domain.clone())),
                "tftp" => c.drop_el(el, "(a TFTP server) has no netagent equivalent: serve TFTP elsewhere and point <bootp> at it"),
                other => c.drop_el(el, &format!("({other}) is unknown")),
            }
        }
    }
    if kind == Kind::Bridge {
        if address.is_some() || address6.is_some() || dhcp.is_some() {
            c.warn("a bridged network has no address or DHCP of its own in netagent; <ip> not imported");
        }
        address = None;
        address6 = None;
        dhcp = None;
        dhcp6 = None;
    } else if address.is_none() {
        let article = if matches!(kind, Kind::Isolated | Kind::Open) {
            "an"
        } else {
            "a"
        };
        return Err(format!(
            "network \"{name}\": {article} {kind} network needs an IPv4 <ip address=...>; this one has none"
        ));
    }

    // <route>
    let mut routes = Vec::new();
    for r in children(root, "route") {
        if r.attribute("family") == Some("ipv6") {
            c.warn("an IPv6 <route> is not imported: netagent's static routes are IPv4 only");
            continue;
        }
        let to = ip_attr(&mut c, r, "address");
        let prefix = match (r.attribute("prefix"), r.attribute("netmask")) {
            (Some(p), _) => p.parse::<u8>().ok(),
            (None, Some(m)) => m
                .parse::<Ipv4Addr>()
                .ok()
                .and_then(|m| ipnet::ipv4_mask_to_prefix(m).ok()),
            (None, None) => Some(32),
        };
        let via = ip_attr(&mut c, r, "gateway");
        match (to.and_then(|t| Ipv4Net::new(t, prefix?).ok()), via) {
            (Some(to), Some(via)) => routes.push(StaticRoute {
                to: to.trunc(),
                via,
                metric: r.attribute("metric").and_then(|m| m.parse().ok()),
            }),
            _ => c.warn("a <route> without a valid address, prefix and gateway is not imported"),
        }
    }

    let dns = if kind == Kind::Bridge {
        if child(root, "dns").is_some() {
            c.warn("a bridged network has no DNS server in netagent; <dns> not imported");
        }
        None
    } else {
        Some(import_dns(
            &mut c,
            child(root, "dns"),
            kind,
            domain,
            local_only,
            local_ptr,
        ))
    };

    let port_isolation = child(root, "port")
        .and_then(|p| yes(p.attribute("isolated")))
        .unwrap_or(false);

    for el in root.children().filter(|n| n.is_element()) {
        let what = match el.tag_name().name() {
            "name" | "uuid" | "title" | "description" | "metadata" | "forward" | "bridge" | "mac" | "mtu"
            | "domain" | "ip" | "route" | "dns" | "port" => continue,
            "bandwidth" => "(QoS limits) has no netagent equivalent",
            "portgroup" => "(per-guest port groups) has no netagent equivalent",
            "virtualport" => {
                "(Open vSwitch / 802.1Qbh ports) has no netagent equivalent: netagent uses Linux bridges"
            }
            "vlan" => "(VLAN tags) has no netagent equivalent",
            _ => "is unknown to netagent",
        };
        c.drop_el(el, what);
    }
    if child(root, "dns").is_some_and(|d| {
        d.children()
            .any(|x| x.is_element() && x.tag_name().namespace().is_some())
    }) {
        c.warn("dnsmasq options in <dns> are not imported");
    }

    // <forward dev='eth1'>: libvirt's rules let this network's traffic out
    // by eth1 only; so do netagent's. An open network has no rules to limit.
    let egress = match (&forward_dev, kind) {
        (Some(d), Kind::Nat | Kind::Route) => Some(d.clone()),
        (Some(d), Kind::Open) => {
            c.warn(format!(
                "<forward dev='{d}'> on an open network: libvirt and netagent add no rules to an open network, so its traffic may leave by any interface"
            ));
            None
        }
        _ => None,
    };

    // No <bridge name=...>: left empty; the importer picks a free virbrN
    // and says so.
    let network = Network {
        name,
        kind,
        bridge,
        address,
        address6,
        delegated: None,
        mac,
        mtu,
        stp,
        ports: Vec::new(),
        port_isolation,
        egress,
        // libvirt (or the host's tools, for a bridged network) made the
        // bridge: the moved host's netagent takes it over as it is.
        adopt: true,
        serve_lan: false,
        libvirt: false,
        port_security: crate::config::PortSecurity::default_for(kind),
        routes,
        nat,
        dhcp,
        dhcp6,
        dns,
        forwards: Vec::new(),
        span: None,
    };
    Ok(Imported {
        network,
        forward_dev,
        warnings: c.warnings,
    })
}

/// `<ip family='ipv6' address='fd00:122::1' prefix='64'>`: the network's
/// prefix, advertised on the bridge, with its `<dhcp>` as DHCPv6 (ranges,
/// and hosts by DUID: `<host id='0:1:...' name=... ip=...>`).
fn import_ip6(
    c: &mut Ctx,
    ip: roxmltree::Node<'_, '_>,
    have_one: bool,
) -> Option<(ipnet::Ipv6Net, Option<crate::config::Dhcp6>)> {
    let text = ip.attribute("address").unwrap_or("?");
    if have_one {
        c.warn(format!(
            "a second IPv6 <ip address='{text}'> is not imported: a netagent network has one prefix"
        ));
        return None;
    }
    check_attrs(c, ip, &["family", "address", "prefix"]);
    let Ok(a) = text.parse::<std::net::Ipv6Addr>() else {
        c.warn(format!(
            "<ip family='ipv6' address='{text}'> is not an IPv6 address; not imported"
        ));
        return None;
    };
    let prefix = ip.attribute("prefix").unwrap_or("64");
    let Some(net) = prefix
        .parse::<u8>()
        .ok()
        .and_then(|p| ipnet::Ipv6Net::new(a, p).ok())
    else {
        c.warn(format!(
            "<ip family='ipv6' prefix='{prefix}'> is not a prefix length; IPv6 not imported"
        ));
        return None;
    };
    let mut dhcp6 = None;
    for el in ip.children().filter(|n| n.is_element()) {
        match el.tag_name().name() {
            "dhcp" => dhcp6 = Some(import_dhcp6(c, el, net)),
            other => c.drop_el(el, &format!("({other}) is unknown")),
        }
    }
    if net.prefix_len() != 64 && dhcp6.is_none() {
        c.warn(format!(
            "<ip family='ipv6' address='{text}' prefix='{prefix}'>: SLAAC needs a /64 (or a <dhcp> range); IPv6 not imported"
        ));
        return None;
    }
    Some((net, dhcp6))
}

/// An IPv6 `<dhcp>`: its ranges and its hosts by DUID.
fn import_dhcp6(c: &mut Ctx, n: roxmltree::Node<'_, '_>, net: ipnet::Ipv6Net) -> crate::config::Dhcp6 {
    use crate::config::{Dhcp6, Dhcp6Client, Dhcp6Host, Ipv6Range};
    let mut ranges = Vec::new();
    let mut hosts = Vec::new();
    for el in n.children().filter(|x| x.is_element()) {
        match el.tag_name().name() {
            "range" => {
                let r = (el.attribute("start"), el.attribute("end"));
                match (r.0.and_then(|s| s.parse().ok()), r.1.and_then(|s| s.parse().ok())) {
                    (Some(start), Some(end)) => ranges.push(Ipv6Range { start, end }),
                    _ => c.warn(format!(
                        "<ip/dhcp/range start='{}' end='{}'> is not an IPv6 range; not imported",
                        r.0.unwrap_or("?"),
                        r.1.unwrap_or("?")
                    )),
                }
            }
            "host" => {
                let ip = el.attribute("ip").and_then(|s| s.parse().ok());
                let duid = el.attribute("id").map(crate::config::check::parse_duid);
                match (duid, ip) {
                    (Some(Ok(d)), Some(ip)) => hosts.push(Dhcp6Host {
                        client: Dhcp6Client::Duid(d),
                        ip,
                        name: el.attribute("name").map(|s| s.to_ascii_lowercase()),
                    }),
                    _ => c.warn(format!(
                        "DHCPv6 <host name='{}'> needs an id= (the client's DUID) and an IPv6 ip= in netagent; not imported",
                        el.attribute("name").unwrap_or("?")
                    )),
                }
            }
            other => c.drop_el(el, &format!("({other}) is unknown")),
        }
    }
    if ranges.is_empty() {
        ranges = crate::config::check::default_ranges6(net);
    }
    Dhcp6 {
        ranges,
        lease_time: crate::config::DEFAULT_LEASE,
        hosts,
    }
}
