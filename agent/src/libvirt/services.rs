//! libvirt's `<forward><nat>`, `<ip><dhcp>` and `<dns>` as netagent's NAT,
//! DHCP and DNS settings.

use std::net::Ipv4Addr;

use roxmltree::Node;

use super::xml::{check_attrs, child, children, ip_attr, lease, yes, Ctx};
use crate::config::units::{Ipv4Range, MacAddr, PortRange};
use crate::config::DEFAULT_LEASE;
use crate::config::{Dhcp, DhcpHost, DhcpOptionSetting, Dns, DnsHost, Forwarder, Kind, Nat, Pxe, Srv, Txt};

pub(super) fn import_nat(c: &mut Ctx, n: Node<'_, '_>) -> Nat {
    check_attrs(c, n, &["ipv6"]);
    let mut nat = Nat {
        ipv6: yes(n.attribute("ipv6")) == Some(true),
        ..Nat::default()
    };
    if let Some(a) = child(n, "address") {
        let (s, e) = (ip_attr(c, a, "start"), ip_attr(c, a, "end"));
        if let Some(start) = s {
            nat.address = Some(Ipv4Range {
                start,
                end: e.unwrap_or(start),
            });
        }
    }
    if let Some(p) = child(n, "port") {
        let start = p.attribute("start").and_then(|v| v.parse::<u16>().ok());
        let end = p.attribute("end").and_then(|v| v.parse::<u16>().ok());
        match (start, end) {
            (Some(start), Some(end)) if start > 0 && start <= end => nat.ports = PortRange { start, end },
            _ => c.warn("<forward/nat/port> needs start and end ports; the default 1024-65535 is used"),
        }
    }
    nat
}

pub(super) fn import_dhcp(c: &mut Ctx, n: Node<'_, '_>, kind: Kind, domain: Option<String>) -> Dhcp {
    let mut ranges = Vec::new();
    let mut lease_time = None;
    for r in children(n, "range") {
        let (Some(start), Some(end)) = (ip_attr(c, r, "start"), ip_attr(c, r, "end")) else {
            c.warn("a DHCP <range> without start and end is not imported");
            continue;
        };
        ranges.push(Ipv4Range { start, end });
        let t = lease(c, r);
        match (lease_time, t) {
            (None, t) => lease_time = t,
            (Some(a), Some(b)) if a != b => c.warn(format!(
                "DHCP ranges have different lease times; netagent uses one per network ({})",
                crate::config::write::lease_time(a)
            )),
            _ => {}
        }
    }
    let mut hosts = Vec::new();
    for h in children(n, "host") {
        let mac = h.attribute("mac").and_then(|m| m.parse::<MacAddr>().ok());
        let ip = h.attribute("ip").and_then(|i| i.parse::<Ipv4Addr>().ok());
        let label = h
            .attribute("name")
            .or(h.attribute("mac"))
            .or(h.attribute("id"))
            .unwrap_or("?")
            .to_string();
        match (mac, ip) {
            (Some(mac), Some(ip)) => hosts.push(DhcpHost {
                mac,
                ip,
                name: h.attribute("name").map(|s| s.to_ascii_lowercase()),
            }),
            _ => c.warn(format!(
                "DHCP <host> {label} needs both mac= and an IPv4 ip= in netagent; not imported"
            )),
        }
        if child(h, "lease").is_some() {
            c.warn(format!(
                "DHCP <host> {label} has its own lease time; netagent uses the network's"
            ));
        }
    }
    // <option number='42' value='...' force='yes'/>: served as libvirt's
    // dnsmasq serves it; one netagent cannot is named.
    let mut options: Vec<DhcpOptionSetting> = Vec::new();
    for o in children(n, "option") {
        let number = o.attribute("number").unwrap_or("?");
        let value = o.attribute("value").unwrap_or_default();
        let code = number.parse::<u8>().ok().filter(|c| (1..=254).contains(c));
        match code.map(|c| (c, crate::config::dhcp_option::encode(c, value))) {
            Some((code, Ok(_))) if !options.iter().any(|x| x.code == code) => {
                options.push(DhcpOptionSetting {
                    code,
                    value: value.to_string(),
                    force: yes(o.attribute("force")) == Some(true),
                })
            }
            Some((_, Ok(_))) => c.warn(format!(
                "DHCP <option number='{number}'> is given twice; the first is imported"
            )),
            Some((_, Err(e))) => c.warn(format!(
                "DHCP <option number='{number}' value='{value}'> is not imported: {e}"
            )),
            None => c.warn(format!(
                "DHCP <option number='{number}'> is not an option code (1 to 254); not imported"
            )),
        }
    }
    for el in n.children().filter(|x| x.is_element()) {
        if !matches!(el.tag_name().name(), "range" | "host" | "bootp" | "option") {
            c.drop_el(el, "is unknown to netagent");
        }
    }
    let pxe = child(n, "bootp").and_then(|b| {
        Some(Pxe {
            file: b.attribute("file")?.to_string(),
            server: b.attribute("server").and_then(|s| s.parse().ok()),
        })
    });
    Dhcp {
        ranges,
        lease_time: lease_time.unwrap_or(DEFAULT_LEASE),
        router: kind != Kind::Isolated,
        domain,
        dns_servers: Vec::new(),
        mtu: None,
        classless_routes: false,
        pxe,
        hosts,
        options,
    }
}

pub(super) fn import_dns(
    c: &mut Ctx,
    n: Option<Node<'_, '_>>,
    kind: Kind,
    domain: Option<String>,
    local_only: bool,
    local_ptr: bool,
) -> Dns {
    let mut dns = Dns::on();
    dns.local_ptr = local_ptr;
    dns.domain = domain;
    dns.local_only = local_only && dns.domain.is_some();
    let Some(n) = n else { return dns };
    check_attrs(c, n, &["enable", "forwardPlainNames"]);
    if yes(n.attribute("enable")) == Some(false) {
        dns.enabled = false;
        return dns;
    }
    if yes(n.attribute("forwardPlainNames")) == Some(false) {
        dns.forward_plain_names = false;
    }
    for f in children(n, "forwarder") {
        if kind == Kind::Isolated {
            c.warn("an isolated network does not forward queries; <forwarder> not imported");
            continue;
        }
        let addr = match f.attribute("addr") {
            Some(a) => match a.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    c.warn(format!(
                        "<dns/forwarder addr='{a}'> is not an IP address; not imported"
                    ));
                    continue;
                }
            },
            None => None,
        };
        if f.attribute("port").is_some() {
            c.warn("<dns/forwarder port=...>: netagent forwards to port 53");
        }
        let domain = f
            .attribute("domain")
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
        if addr.is_none() && domain.is_none() {
            continue;
        }
        dns.forwarders.push(Forwarder { domain, addr });
    }
    for h in children(n, "host") {
        let Some(ip) = h.attribute("ip").and_then(|i| i.parse::<std::net::IpAddr>().ok()) else {
            c.warn(format!(
                "<dns/host ip='{}'> is not an IP address; not imported",
                h.attribute("ip").unwrap_or("?")
            ));
            continue;
        };
        let names: Vec<String> = children(h, "hostname")
            .filter_map(|x| x.text())
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        if !names.is_empty() {
            dns.hosts.push(DnsHost { ip, names });
        }
    }
    for s in children(n, "srv") {
        let (Some(service), Some(protocol)) = (s.attribute("service"), s.attribute("protocol")) else {
            c.warn("a <dns/srv> without service and protocol is not imported");
            continue;
        };
        let num = |a: &str| s.attribute(a).and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
        dns.srv.push(Srv {
            service: service.into(),
            protocol: protocol.into(),
            domain: s
                .attribute("domain")
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
            target: s.attribute("target").map(String::from),
            port: num("port"),
            priority: num("priority"),
            weight: num("weight"),
        });
    }
    for t in children(n, "txt") {
        if let (Some(name), Some(value)) = (t.attribute("name"), t.attribute("value")) {
            dns.txt.push(Txt {
                name: name.into(),
                value: value.into(),
            });
        }
    }
    dns
}
