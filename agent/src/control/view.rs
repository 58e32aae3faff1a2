//! What `list`, `info`, `status` and `reload` show: built from the config,
//! a kernel snapshot and the lease counts (pure, so tested without a
//! kernel), and printed as text like virsh's, or as JSON.

use std::fmt::Write;

use super::proto::*;
use crate::config::Network;
use crate::links::observe::Kernel;
use crate::plan::DhcpPool;
use crate::util::grid::grid;
use crate::util::time::format_time;

/// active: the bridge exists and is up; down; or missing.
pub fn state(k: &Kernel, bridge: &str) -> &'static str {
    match k.link(bridge) {
        Some(l) if l.up => "active",
        Some(_) => "down",
        None => "missing",
    }
}

pub fn row(n: &Network, k: &Kernel, leases: usize) -> NetworkRow {
    NetworkRow {
        name: n.name.clone(),
        kind: n.kind.to_string(),
        bridge: n.bridge.clone(),
        address: n.address.map(|a| a.to_string()),
        state: state(k, &n.bridge).into(),
        leases,
    }
}

fn service_state(s: &Option<Result<(), String>>) -> String {
    match s {
        Some(Ok(())) => "serving".into(),
        Some(Err(e)) => format!("not serving: {e}"),
        None => "not started yet".into(),
    }
}

/// A network's IPv6, from the plan's address (a delegated one filled in).
fn ipv6(n: &Network, address6: Option<ipnet::Ipv6Net>, services: &Services) -> Option<Ipv6Info> {
    if n.address6.is_none() && n.delegated.is_none() {
        return None;
    }
    let address = match (address6, n.delegated) {
        (Some(a), None) => a.to_string(),
        (Some(a), Some(_)) => format!("{a} (delegated by the uplink's router)"),
        (None, _) => "none yet: waiting for the uplink's router to delegate a prefix".into(),
    };
    let addressing = match &n.dhcp6 {
        Some(d) => format!(
            "DHCPv6 ({})",
            d.ranges
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "SLAAC".into(),
    };
    Some(Ipv6Info {
        address,
        addressing,
        advertisements: service_state(&services.ra),
        dhcp6: n.dhcp6.as_ref().map(|_| service_state(&services.dhcp6)),
    })
}

/// What `info` shows of a spanned network: the static peers and whether
/// the kernel floods to each, or the EVPN neighbours and their BGP state
/// (`bgp`: FRR's answer, or why there was none).
pub fn span_info(
    s: &crate::config::Span,
    evpn: Option<&crate::config::Evpn>,
    k: &Kernel,
    bgp: Option<&Result<crate::evpn::FrrState, String>>,
) -> super::proto::SpanInfo {
    use super::proto::PeerInfo;
    use crate::config::Flood;
    let dev = k.link(&s.device());
    let peers = match &s.flood {
        Flood::Static(peers) => peers
            .iter()
            .map(|p| PeerInfo {
                addr: p.to_string(),
                state: if dev.is_some_and(|d| k.flood.iter().any(|f| f.index == d.index && f.dst == *p)) {
                    "in flood list".into()
                } else {
                    "not in flood list".into()
                },
            })
            .collect(),
        Flood::Evpn => s
            .vteps(evpn)
            .iter()
            .map(|p| PeerInfo {
                addr: p.to_string(),
                state: match bgp {
                    Some(Ok(st)) => st
                        .neighbors
                        .iter()
                        .find(|n| n.addr == *p)
                        .map(|n| format!("BGP {}", n.state))
                        .unwrap_or_else(|| "BGP not configured in FRR".into()),
                    Some(Err(e)) => format!("unknown ({e})"),
                    None => "unknown".into(),
                },
            })
            .collect(),
    };
    super::proto::SpanInfo {
        vni: s.vni,
        device: s.device(),
        local: s.local.to_string(),
        home: if s.is_home() {
            format!("{} (this host)", s.home)
        } else {
            s.home.to_string()
        },
        flood: match s.flood {
            Flood::Static(_) => "static peers".into(),
            Flood::Evpn => "evpn".into(),
        },
        peers,
    }
}

pub fn info(
    n: &Network,
    pool: Option<&DhcpPool>,
    address6: Option<ipnet::Ipv6Net>,
    k: &Kernel,
    leases: usize,
    uplink: Option<UplinkInfo>,
    services: &Services,
) -> NetworkInfo {
    let link = k.link(&n.bridge);
    let ports = match link {
        Some(b) => {
            let mut v: Vec<String> = k
                .links
                .iter()
                .filter(|l| l.controller == Some(b.index))
                .map(|l| l.name.clone())
                .collect();
            v.sort();
            v
        }
        None => Vec::new(),
    };
    let dns = n.serves_dns();
    NetworkInfo {
        row: row(n, k, leases),
        mac: link.and_then(|l| l.mac).or(n.mac).map(|m| m.to_string()),
        mtu: link.map(|l| l.mtu).or(n.mtu),
        stp: n.stp_on(),
        port_patterns: n.ports.clone(),
        ports,
        port_isolation: n.port_isolation,
        libvirt: n.libvirt,
        // Filled in by the caller: it needs the kernel's counters.
        port_security: None,
        uplink: if n.kind.needs_uplink() { uplink } else { None },
        nat: n.nat.as_ref().map(|x| match &x.address {
            Some(a) => format!("snat to {a} ports {}", x.ports),
            None => format!("masquerade ports {}", x.ports),
        }),
        routes: n
            .routes
            .iter()
            .map(|r| format!("{} via {}", r.to, r.via))
            .collect(),
        forwards: n.forwards.iter().map(|f| f.to_string()).collect(),
        // What the DHCP server hands out is the plan's, not worked out again.
        dhcp: n.dhcp.as_ref().zip(pool).map(|(d, p)| DhcpInfo {
            state: service_state(&services.dhcp),
            ranges: d.ranges.iter().map(|r| r.to_string()).collect(),
            lease_time: d.lease_time.to_string(),
            static_hosts: d.hosts.len(),
            leases,
            router: p.options.router.map(|a| a.to_string()),
            dns_servers: p.options.dns_servers.iter().map(|a| a.to_string()).collect(),
        }),
        ipv6: ipv6(n, address6, services),
        // Filled in by the caller: it needs FRR (`span_info`).
        span: None,
        dns: dns.and_then(|d| {
            Some(DnsInfo {
                state: service_state(&services.dns),
                listen: format!("{}:53", n.address?.addr()),
                domain: d.domain.clone(),
                local_only: d.local_only,
                forwarders: d
                    .forwarders
                    .iter()
                    .map(|f| match (&f.domain, f.addr) {
                        (Some(dom), Some(a)) => format!("{dom} -> {a}"),
                        (Some(dom), None) => format!("{dom} (local only)"),
                        (None, Some(a)) => a.to_string(),
                        (None, None) => "-".into(),
                    })
                    .collect(),
            })
        }),
    }
}

pub fn list_text(rows: &[NetworkRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!(" {}", r.name),
                r.kind.clone(),
                r.bridge.clone(),
                r.address.clone().unwrap_or_else(|| "-".into()),
                r.state.clone(),
                r.leases.to_string(),
            ]
        })
        .collect();
    grid(&[" Name", "Kind", "Bridge", "Address", "State", "Leases"], &cells)
}

fn field(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:<16}{value}", format!("{key}:"));
}

fn or_none(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

pub fn info_text(i: &NetworkInfo) -> String {
    let mut out = String::new();
    let r = &i.row;
    field(&mut out, "Name", &r.name);
    field(&mut out, "Kind", &r.kind);
    field(&mut out, "State", &r.state);
    field(&mut out, "Bridge", &r.bridge);
    field(&mut out, "Address", r.address.as_deref().unwrap_or("-"));
    field(&mut out, "MAC", i.mac.as_deref().unwrap_or("-"));
    field(
        &mut out,
        "MTU",
        i.mtu.map(|m| m.to_string()).unwrap_or("-".into()),
    );
    field(&mut out, "STP", if i.stp { "on" } else { "off" });
    field(&mut out, "Ports", or_none(&i.ports));
    field(&mut out, "Port patterns", or_none(&i.port_patterns));
    if i.libvirt {
        field(
            &mut out,
            "libvirt",
            format!(
                "adopted: libvirt defines it as a host-bridge network and plugs its domains' taps in; netagent keeps {}",
                crate::libvirt::status::status_path(std::path::Path::new(crate::libvirt::status::DNSMASQ_DIR), &r.bridge).display()
            ),
        );
    }
    if i.port_isolation {
        field(&mut out, "Port isolation", "on");
    }
    if let Some(u) = &i.uplink {
        field(
            &mut out,
            "Uplink",
            format!(
                "{} ({}) {} gateway {}",
                u.interface.as_deref().unwrap_or("not found yet"),
                u.addressing,
                or_none(&u.addresses),
                u.gateway.as_deref().unwrap_or("-")
            ),
        );
    }
    if let Some(n) = &i.nat {
        field(&mut out, "NAT", n);
    }
    if !i.routes.is_empty() {
        field(&mut out, "Routes", i.routes.join(", "));
    }
    if !i.forwards.is_empty() {
        field(&mut out, "Forwards", i.forwards.join(", "));
    }
    match &i.dhcp {
        Some(d) => {
            field(&mut out, "DHCP", &d.state);
            field(&mut out, "DHCP ranges", d.ranges.join(", "));
            field(&mut out, "DHCP lease time", &d.lease_time);
            field(&mut out, "DHCP router", d.router.as_deref().unwrap_or("-"));
            field(&mut out, "DHCP DNS", or_none(&d.dns_servers));
            field(&mut out, "Static hosts", d.static_hosts);
            field(&mut out, "Leases", d.leases);
        }
        None => field(&mut out, "DHCP", "off"),
    }
    if let Some(v6) = &i.ipv6 {
        field(&mut out, "IPv6", &v6.address);
        field(&mut out, "IPv6 guests", &v6.addressing);
        field(&mut out, "Advertisements", &v6.advertisements);
        if let Some(d) = &v6.dhcp6 {
            field(&mut out, "DHCPv6", d);
        }
    }
    if let Some(ps) = &i.port_security {
        field(
            &mut out,
            "Port security",
            format!(
                "on: {} leases a port, trusted {}",
                ps.leases_per_port,
                or_none(&ps.trusted)
            ),
        );
        for p in &ps.ports {
            let mut what = format!("{} {}", p.role, p.mac.as_deref().unwrap_or("(not spoken yet)"));
            if p.role == "guest" {
                what.push_str(&format!(
                    " from {}",
                    if p.addresses.is_empty() {
                        "any free address".into()
                    } else {
                        p.addresses.join(", ")
                    }
                ));
            }
            let dropped = p.dropped_mac + p.dropped_server + p.dropped_address;
            if dropped + p.dhcp_refused > 0 {
                what.push_str(&format!(
                    "; dropped {} (MAC {}, server {}, address {}), DHCP refused {}",
                    dropped, p.dropped_mac, p.dropped_server, p.dropped_address, p.dhcp_refused
                ));
            }
            field(&mut out, &format!("  {}", p.port), what);
        }
    } else if matches!(i.row.kind.as_str(), "nat" | "route" | "open" | "isolated") {
        field(&mut out, "Port security", "off");
    }
    if let Some(sp) = &i.span {
        field(
            &mut out,
            "Span",
            format!("VNI {} on {} from {} ({})", sp.vni, sp.device, sp.local, sp.flood),
        );
        field(&mut out, "Span home", &sp.home);
        for p in &sp.peers {
            field(&mut out, "Span peer", format!("{} {}", p.addr, p.state));
        }
    }
    match &i.dns {
        Some(d) => {
            if d.state == "serving" {
                field(&mut out, "DNS", format!("serving on {}", d.listen));
            } else {
                field(&mut out, "DNS", format!("{} ({})", d.listen, d.state));
            }
            field(&mut out, "DNS domain", d.domain.as_deref().unwrap_or("-"));
            field(
                &mut out,
                "DNS local only",
                if d.local_only { "yes" } else { "no" },
            );
            field(&mut out, "DNS forwarders", or_none(&d.forwarders));
        }
        None => field(&mut out, "DNS", "off"),
    }
    out
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}min {s}s"),
        (0, _, _) => format!("{h}h {m}min"),
        _ => format!("{d}d {h}h"),
    }
}

pub fn status_text(s: &Status, now: u64) -> String {
    let mut out = String::new();
    field(
        &mut out,
        "State",
        format!(
            "running (pid {}) since {} UTC; {} ago",
            s.pid,
            format_time(s.since),
            duration(now.saturating_sub(s.since))
        ),
    );
    field(&mut out, "Version", &s.version);
    field(&mut out, "Config", &s.config);
    field(&mut out, "Networks", s.networks);
    field(&mut out, "Last reload", s.last_reload.as_deref().unwrap_or("-"));
    if s.errors.is_empty() {
        field(&mut out, "Errors", "none");
    } else {
        field(&mut out, "Errors", s.errors.len());
        for e in &s.errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    if !s.warnings.is_empty() {
        field(&mut out, "Warnings", s.warnings.len());
        for w in &s.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    if !s.recent.is_empty() {
        field(&mut out, "Met so far", s.recent.len());
        for e in &s.recent {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}

pub fn reload_text(o: &ReloadOutcome) -> String {
    let mut out = String::new();
    let verb = if o.applied { "applied" } else { "would apply" };
    if o.changes.is_empty() {
        let _ = writeln!(out, "{}: no changes", o.config);
    } else {
        let _ = writeln!(
            out,
            "{}: {verb} {} change{}",
            o.config,
            o.changes.len(),
            if o.changes.len() == 1 { "" } else { "s" }
        );
        for c in &o.changes {
            let _ = writeln!(out, "  {c}");
        }
    }
    for e in &o.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::links::observe::Link;

    fn kernel() -> Kernel {
        Kernel {
            links: vec![
                Link {
                    index: 3,
                    name: "virbr0".into(),
                    kind: Some("bridge".into()),
                    mtu: 1500,
                    up: true,
                    ..Link::default()
                },
                Link {
                    index: 4,
                    name: "vnet1".into(),
                    controller: Some(3),
                    up: true,
                    ..Link::default()
                },
                Link {
                    index: 5,
                    name: "vnet0".into(),
                    controller: Some(3),
                    up: true,
                    ..Link::default()
                },
            ],
            ..Kernel::default()
        }
    }

    const CFG: &str = r#"
[uplink]
interface = "eth0"
[[network]]
name = "default"
bridge = "virbr0"
address = "192.168.122.1/24"
ports = ["vnet*"]
[network.dhcp]
[[network.forward]]
port = 8080
to = "192.168.122.10"
to_port = 80
[[network]]
name = "iso"
kind = "isolated"
bridge = "virbr9"
address = "10.9.0.1/24"
"#;

    #[test]
    fn list_shows_state_from_the_kernel() {
        let cfg = parse(CFG, "t.toml").expect("valid");
        let k = kernel();
        let rows: Vec<NetworkRow> = cfg.networks.iter().map(|n| row(n, &k, 2)).collect();
        assert_eq!(rows[0].state, "active");
        assert_eq!(rows[1].state, "missing");
        let text = list_text(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            " Name      Kind       Bridge   Address            State     Leases"
        );
        assert_eq!(
            lines[2],
            " default   nat        virbr0   192.168.122.1/24   active    2"
        );
    }

    #[test]
    fn info_has_ports_uplink_dhcp_dns_and_forwards() {
        let cfg = parse(CFG, "t.toml").expect("valid");
        let up = UplinkInfo {
            interface: Some("eth0".into()),
            addresses: vec!["10.0.0.5/24".into()],
            gateway: Some("10.0.0.1".into()),
            addressing: "dhcp".into(),
        };
        let serving = Services {
            dhcp: Some(Ok(())),
            dns: Some(Err(
                "dns default: listen on 192.168.122.1:53: Address in use".into()
            )),
            ra: None,
            dhcp6: None,
        };
        let p = crate::plan::plan(&cfg);
        let i = info(
            &cfg.networks[0],
            p.dhcp.first(),
            None,
            &kernel(),
            1,
            Some(up.clone()),
            &serving,
        );
        assert_eq!(i.ports, vec!["vnet0", "vnet1"]);
        assert_eq!(i.forwards, vec!["tcp 8080 -> 192.168.122.10:80"]);
        let d = i.dhcp.as_ref().expect("dhcp");
        assert_eq!(d.ranges, vec!["192.168.122.2-192.168.122.254"]);
        assert_eq!(d.router.as_deref(), Some("192.168.122.1"));
        assert_eq!(
            i.dns.as_ref().map(|d| d.listen.as_str()),
            Some("192.168.122.1:53")
        );
        let text = info_text(&i);
        assert!(
            text.contains("Uplink:         eth0 (dhcp) 10.0.0.5/24 gateway 10.0.0.1"),
            "{text}"
        );
        assert!(text.contains("Ports:          vnet0, vnet1"), "{text}");
        assert!(
            i.ipv6.is_none() && !text.contains("IPv6"),
            "no IPv6 without a prefix: {text}"
        );
        // With a prefix: its address, how guests get theirs, the services.
        let v6 = parse(
            &CFG.replacen(
                "address = \"192.168.122.1/24\"\n",
                "address = \"192.168.122.1/24\"\naddress6 = \"fd00:122::1/64\"\n",
                1,
            ),
            "t.toml",
        )
        .expect("valid");
        let ra = Services {
            ra: Some(Ok(())),
            ..Services::default()
        };
        let i6 = info(
            &v6.networks[0],
            None,
            v6.networks[0].address6,
            &kernel(),
            0,
            None,
            &ra,
        );
        let text6 = info_text(&i6);
        assert!(text6.contains("IPv6:           fd00:122::1/64"), "{text6}");
        assert!(text6.contains("IPv6 guests:    SLAAC"), "{text6}");
        assert!(text6.contains("Advertisements: serving"), "{text6}");
        // An isolated network has no uplink to show.
        assert_eq!(
            info(
                &cfg.networks[1],
                None,
                None,
                &kernel(),
                0,
                Some(up),
                &Services::default()
            )
            .uplink,
            None
        );
        assert!(text.contains("DHCP:           serving"), "{text}");
        assert!(
            text.contains("DNS:            192.168.122.1:53 (not serving: dns default: listen on 192.168.122.1:53: Address in use)"),
            "{text}"
        );
    }

    #[test]
    fn status_says_since_when_and_what_is_wrong() {
        let s = Status {
            pid: 42,
            version: "0.1.0".into(),
            since: 1_795_000_000,
            config: "/etc/netagent/netagent.toml".into(),
            networks: 2,
            errors: vec!["dns default: listen on 192.168.122.1:53: Address in use".into()],
            recent: vec![
                "2026-11-18 11:06:41 UTC: dns default: listen on 192.168.122.1:53: Address in use".into(),
            ],
            last_reload: None,
            warnings: vec!["dhcp default: pool 95 % full (240 of 253 addresses leased)".into()],
        };
        let t = status_text(&s, 1_795_000_000 + 3725);
        assert!(
            t.contains("Warnings:       1\n  dhcp default: pool 95 % full"),
            "{t}"
        );
        assert!(
            t.contains("running (pid 42) since 2026-11-18 11:06:40 UTC; 1h 2min ago"),
            "{t}"
        );
        assert!(t.contains("Errors:         1\n  dns default"), "{t}");
    }
}

/// The short form of a device path: its last PCI address (`0000:00:02.0`),
/// what `path =` in the config matches; else the path itself.
fn bus_address(path: &str) -> String {
    let pci = |c: &str| {
        let b = c.as_bytes();
        c.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
    };
    path.rsplit('/').find(|c| pci(c)).unwrap_or(path).to_string()
}

/// Every NIC backed by a device, in hardware order (the order `auto`
/// takes the uplink in), with its role.
pub fn nic_rows(k: &Kernel, uplink: Option<&str>) -> Vec<NicRow> {
    let mut nics: Vec<&crate::links::observe::Link> = k.links.iter().filter(|l| l.physical).collect();
    nics.sort_by(|a, b| (&a.bus, a.index).cmp(&(&b.bus, b.index)));
    nics.iter()
        .map(|l| {
            let role = if Some(l.name.as_str()) == uplink {
                "uplink".to_string()
            } else {
                match l.controller.and_then(|c| k.by_index(c)) {
                    Some(b) => format!("port of {}", b.name),
                    None => "unused".to_string(),
                }
            };
            NicRow {
                name: l.name.clone(),
                driver: l.driver.clone(),
                mac: l.mac.map(|m| m.to_string()),
                bus: l.bus.as_deref().map(bus_address).unwrap_or_default(),
                carrier: l.carrier,
                role,
            }
        })
        .collect()
}

pub fn nics_text(rows: &[NicRow]) -> String {
    if rows.is_empty() {
        return "no NICs backed by a device\n".into();
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!(" {}", r.name),
                opt(&r.driver),
                opt(&r.mac),
                r.bus.clone(),
                match r.carrier {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
                r.role.clone(),
            ]
        })
        .collect();
    grid(&[" NIC", "Driver", "MAC", "Bus", "Carrier", "Role"], &cells)
}

#[cfg(test)]
mod nic_tests {
    use super::*;
    use crate::config::MacAddr;
    use crate::links::observe::Link;

    #[test]
    fn nics_are_listed_in_hardware_order_with_their_roles() {
        let nic = |index, name: &str, bus: &str, driver: &str| Link {
            index,
            name: name.into(),
            physical: true,
            bus: Some(bus.into()),
            driver: Some(driver.into()),
            carrier: Some(true),
            mac: Some(MacAddr([0x52, 0x54, 0, 0, 0, index as u8])),
            ..Link::default()
        };
        let mut e1000 = nic(2, "eth0", "pci0000:00/0000:00:04.0", "e1000");
        e1000.controller = Some(9);
        let k = Kernel {
            links: vec![
                e1000,
                nic(3, "eth1", "pci0000:00/0000:00:02.0/virtio0", "virtio_net"),
                nic(4, "eth2", "pci0000:00/0000:00:05.0/virtio2", "virtio_net"),
                Link {
                    index: 9,
                    name: "virbr0".into(),
                    kind: Some("bridge".into()),
                    ..Link::default()
                },
            ],
            ..Kernel::default()
        };
        let rows = nic_rows(&k, Some("eth1"));
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.bus.as_str(), r.role.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("eth1", "0000:00:02.0", "uplink"),
                ("eth0", "0000:00:04.0", "port of virbr0"),
                ("eth2", "0000:00:05.0", "unused"),
            ]
        );
        let t = nics_text(&rows);
        assert!(
            t.contains("eth1") && t.contains("virtio_net") && t.contains("52:54:00:00:00:03"),
            "{t}"
        );
    }
}
