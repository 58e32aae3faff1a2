//! What a reload would change, in the config's own words: one line per
//! network added or removed, one per setting changed. `netagent reload
//! --dry-run` and `netagent diff FILE` print it; a real reload logs it.

use std::fmt::Display;

use super::model::*;

fn list<T: Display>(v: &[T]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "none".into())
}

/// Every setting of a network as (name, value text), in file order.
fn settings(n: &Network) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("kind", n.kind.to_string()),
        ("bridge", n.bridge.clone()),
        ("address", opt(&n.address)),
        ("mac", opt(&n.mac)),
        ("mtu", opt(&n.mtu)),
        (
            "stp",
            match (n.stp, n.kind) {
                (None, crate::config::Kind::Bridge) => "as the bridge has it".into(),
                _ => n.stp_on().to_string(),
            },
        ),
        ("ports", list(&n.ports)),
        ("port_isolation", n.port_isolation.to_string()),
        ("egress", n.egress.clone().unwrap_or_else(|| "any".into())),
        ("adopt", n.adopt.to_string()),
        ("serve_lan", n.serve_lan.to_string()),
        ("libvirt", n.libvirt.to_string()),
        (
            "port_security",
            match &n.port_security {
                p if !p.enabled => "off".into(),
                p => format!(
                    "on, trusted {}, {} leases a port, allow {}",
                    list(&p.trusted),
                    p.leases_per_port,
                    list(
                        &p.allow
                            .iter()
                            .map(|(m, ip)| format!("{m} {ip}"))
                            .collect::<Vec<_>>()
                    )
                ),
            },
        ),
        (
            "route",
            list(
                &n.routes
                    .iter()
                    .map(|r| format!("{} via {}", r.to, r.via))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "nat",
            n.nat
                .as_ref()
                .map(|x| format!("ports {} address {}", x.ports, opt(&x.address)))
                .unwrap_or_else(|| "none".into()),
        ),
        ("forward", list(&n.forwards)),
    ];
    match &n.dhcp {
        None => out.push(("dhcp", "off".into())),
        Some(d) => {
            out.push(("dhcp.ranges", list(&d.ranges)));
            out.push(("dhcp.lease_time", d.lease_time.to_string()));
            out.push((
                "dhcp.host",
                list(
                    &d.hosts
                        .iter()
                        .map(|h| {
                            format!(
                                "{} {}{}",
                                h.mac,
                                h.ip,
                                h.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
            ));
            out.push((
                "dhcp options",
                format!(
                    "router {} domain {} dns_servers {} mtu {} classless_routes {} pxe {:?} options {:?}",
                    d.router,
                    opt(&d.domain),
                    list(&d.dns_servers),
                    opt(&d.mtu),
                    d.classless_routes,
                    d.pxe,
                    d.options
                ),
            ));
        }
    }
    match &n.dns {
        Some(d) if d.enabled => {
            out.push((
                "dns",
                format!(
                    "domain {} local_only {} forward_plain_names {} local_ptr {} etc_hosts {:?}",
                    opt(&d.domain),
                    d.local_only,
                    d.forward_plain_names,
                    d.local_ptr,
                    d.etc_hosts
                ),
            ));
            out.push(("dns.forwarder", format!("{:?}", d.forwarders)));
            out.push(("dns records", format!("{:?} {:?} {:?}", d.hosts, d.srv, d.txt)));
        }
        _ => out.push(("dns", "off".into())),
    }
    out
}

fn uplink_text(u: &Option<Uplink>) -> String {
    match u {
        None => "none".into(),
        Some(u) => {
            let iface = u.interface.to_string();
            let addr = match &u.addressing {
                Addressing::Dhcp => "dhcp".to_string(),
                Addressing::Host => "host".to_string(),
                Addressing::Static { address, gateway } => {
                    format!("{address} gateway {}", opt(gateway))
                }
            };
            match u.ntp.is_empty() {
                true => format!("{iface} {addr} dns {}", list(&u.dns)),
                false => format!("{iface} {addr} dns {} ntp {}", list(&u.dns), list(&u.ntp)),
            }
        }
    }
}

fn summary(n: &Network) -> String {
    format!("{} on {}, {}", n.kind, n.bridge, opt(&n.address))
}

/// The changes from `old` to `new`; empty when they are the same.
pub fn diff(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if old.uplink != new.uplink {
        out.push(format!(
            "~ uplink: {} -> {}",
            uplink_text(&old.uplink),
            uplink_text(&new.uplink)
        ));
    }
    for o in &old.networks {
        if !new.networks.iter().any(|n| n.name == o.name) {
            out.push(format!(
                "- network \"{}\" ({}): bridge, rules and DHCP/DNS removed",
                o.name,
                summary(o)
            ));
        }
    }
    for n in &new.networks {
        match old.networks.iter().find(|o| o.name == n.name) {
            None => out.push(format!("+ network \"{}\" ({})", n.name, summary(n))),
            Some(o) if o == n => {}
            Some(o) => {
                let (a, b) = (settings(o), settings(n));
                for ((key, was), (_, now)) in a.iter().zip(b.iter()) {
                    if was != now {
                        out.push(format!("~ network \"{}\" {key}: {was} -> {now}", n.name));
                    }
                }
                // Settings lists differ in shape (DHCP or DNS turned on/off).
                for (key, now) in b.iter().skip(a.len()) {
                    out.push(format!("~ network \"{}\" {key}: {now}", n.name));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const BASE: &str = r#"
[uplink]
interface = "eth0"
[[network]]
name = "a"
bridge = "virbr0"
address = "10.1.0.1/24"
[network.dhcp]
ranges = ["10.1.0.100-10.1.0.150"]
[[network]]
name = "b"
kind = "isolated"
bridge = "virbr1"
address = "10.2.0.1/24"
"#;

    fn cfg(src: &str) -> Config {
        parse(src, "t.toml").unwrap_or_else(|p| panic!("{p}"))
    }

    #[test]
    fn the_same_config_changes_nothing() {
        assert!(diff(&cfg(BASE), &cfg(BASE)).is_empty());
    }

    #[test]
    fn added_removed_and_changed_networks_are_named() {
        let new = BASE
            .replace("10.1.0.100-10.1.0.150", "10.1.0.200-10.1.0.250")
            .replace("name = \"b\"", "name = \"c\"");
        let d = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(
            d,
            vec![
                "- network \"b\" (isolated on virbr1, 10.2.0.1/24): bridge, rules and DHCP/DNS removed",
                "~ network \"a\" dhcp.ranges: 10.1.0.100-10.1.0.150 -> 10.1.0.200-10.1.0.250",
                "+ network \"c\" (isolated on virbr1, 10.2.0.1/24)",
            ]
        );
    }

    #[test]
    fn uplink_and_forward_changes_are_shown() {
        let new = BASE
            .replace("interface = \"eth0\"", "interface = \"eth1\"")
            .replace(
                "[network.dhcp]",
                "[[network.forward]]\nport = 8080\nto = \"10.1.0.5\"\nto_port = 80\n[network.dhcp]",
            );
        let d = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(d[0], "~ uplink: eth0 dhcp dns none -> eth1 dhcp dns none");
        assert_eq!(d[1], "~ network \"a\" forward: none -> tcp 8080 -> 10.1.0.5:80");
        assert_eq!(d.len(), 2);
    }
}
