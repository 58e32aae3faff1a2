//! The plan as people read it: `netagent plan` prints this, and the golden
//! files under agent/tests/golden hold it for every example config. Beside
//! the plan, not in it: the rules are the firewall's reading of the plan.

use std::fmt::{self, Display, Write};

use crate::config::{Addressing, UplinkInterface};
use crate::firewall::render::render;
use crate::plan::{Plan, RecordData};

impl Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        o.push_str("# uplink\n");
        match &self.uplink {
            None => o.push_str("none\n"),
            Some(u) => {
                let iface = match &u.interface {
                    UplinkInterface::Auto => "auto (the first NIC in hardware order)".to_string(),
                    other => other.to_string(),
                };
                let _ = write!(o, "interface {iface}");
                match &u.addressing {
                    Addressing::Dhcp => o.push_str(" address dhcp"),
                    Addressing::Host => o.push_str(" address host (left to the host)"),
                    Addressing::Static { address, gateway } => {
                        let _ = write!(o, " address {address}");
                        if let Some(g) = gateway {
                            let _ = write!(o, " gateway {g}");
                        }
                    }
                }
                if !u.dns.is_empty() {
                    let _ = write!(o, " dns {}", join(&u.dns));
                }
                o.push('\n');
            }
        }

        o.push_str("\n# sysctls\n");
        for s in &self.sysctls {
            let _ = writeln!(o, "{} = {}", s.path, s.value);
        }

        o.push_str("\n# links\n");
        for b in &self.bridges {
            let _ = write!(o, "bridge {} network {} kind {}", b.name, b.network, b.kind);
            if let Some(a) = b.address {
                let _ = write!(o, " address {a}");
            }
            if let Some(a) = b.address6 {
                let _ = write!(o, " address6 {a}");
            }
            if let Some(m) = b.mac {
                let _ = write!(o, " mac {m}");
            }
            if let Some(m) = b.mtu {
                let _ = write!(o, " mtu {m}");
            }
            if b.keep_stp {
                let _ = write!(o, " stp as-is (when made: {})", if b.stp { "on" } else { "off" });
            } else {
                let _ = write!(o, " stp {}", if b.stp { "on" } else { "off" });
            }
            if !b.ports.is_empty() {
                let _ = write!(o, " ports {}", b.ports.join(","));
            }
            if b.port_isolation {
                o.push_str(" port_isolation on");
            }
            o.push('\n');
            if let Some(sp) = &b.span {
                let _ = write!(
                    o,
                    "vxlan {} vni {} local {} port {} mtu {} learning {}{} {}",
                    sp.device,
                    sp.vni,
                    sp.local,
                    sp.port,
                    sp.mtu,
                    if sp.learning() { "on" } else { "off" },
                    if sp.neigh_suppress() {
                        " neigh_suppress on"
                    } else {
                        ""
                    },
                    if sp.home {
                        "(home: this host serves the network)"
                    } else {
                        "(away: the home serves it)"
                    }
                );
                if sp.evpn {
                    o.push_str(" flood by evpn\n");
                } else {
                    let _ = writeln!(o, " flood {}", join(&sp.flood));
                }
            }
            for r in &b.routes {
                let _ = write!(o, "route {} via {} dev {}", r.to, r.via, r.dev);
                if let Some(m) = r.metric {
                    let _ = write!(o, " metric {m}");
                }
                o.push('\n');
            }
        }

        if let Some(e) = &self.evpn {
            let _ = writeln!(
                o,
                "\n# evpn (FRR bgpd)\nrouter bgp {} router-id {} neighbors {} vnis {}",
                e.asn,
                e.router_id,
                join(&e.neighbors),
                join(&e.vnis)
            );
        }

        o.push_str("\n# nftables\n");
        let rules = render(&crate::firewall::ruleset(&self.bridges));
        o.push_str(if rules.is_empty() { "(no rules)\n" } else { &rules });

        o.push_str("\n# dhcp\n");
        if self.dhcp.is_empty() {
            o.push_str("(none)\n");
        }
        for p in &self.dhcp {
            let ranges: Vec<String> = p.ranges.iter().map(|r| r.to_string()).collect();
            let _ = writeln!(
                o,
                "pool {} on {} server {} subnet {} ranges {} lease {}",
                p.network,
                p.interface,
                p.server,
                p.subnet,
                ranges.join(","),
                p.lease_time
            );
            let opt = &p.options;
            let _ = write!(
                o,
                "  options router {}",
                opt.router.map(|r| r.to_string()).unwrap_or_else(|| "none".into())
            );
            if !opt.dns_servers.is_empty() {
                let _ = write!(o, " dns {}", join(&opt.dns_servers));
            }
            if let Some(d) = &opt.domain {
                let _ = write!(o, " domain {d}");
            }
            if let Some(m) = opt.mtu {
                let _ = write!(o, " mtu {m}");
            }
            if !opt.classless_routes.is_empty() {
                let r: Vec<String> = opt
                    .classless_routes
                    .iter()
                    .map(|(n, g)| format!("{n}>{g}"))
                    .collect();
                let _ = write!(o, " classless {}", r.join(","));
            }
            if let Some(x) = &opt.pxe {
                let _ = write!(o, " pxe {}", x.file);
                if let Some(s) = x.server {
                    let _ = write!(o, "@{s}");
                }
            }
            o.push('\n');
            for h in &p.hosts {
                let _ = writeln!(
                    o,
                    "  host {} {}{}",
                    h.mac,
                    h.ip,
                    h.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
                );
            }
        }

        if !self.dhcp6.is_empty() {
            o.push_str("\n# dhcp6\n");
        }
        for p in &self.dhcp6 {
            let _ = writeln!(
                o,
                "pool {} on {} server {} prefix {} ranges {} lease {}{}{}",
                p.network,
                p.interface,
                p.server,
                p.prefix,
                join(&p.ranges),
                p.lease_time,
                if p.dns_servers.is_empty() {
                    String::new()
                } else {
                    format!(" dns {}", join(&p.dns_servers))
                },
                p.domain
                    .as_ref()
                    .map(|d| format!(" domain {d}"))
                    .unwrap_or_default(),
            );
            for h in &p.hosts {
                let who = match &h.client {
                    crate::config::Dhcp6Client::Duid(d) => {
                        format!(
                            "duid {}",
                            d.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
                        )
                    }
                    crate::config::Dhcp6Client::Mac(m) => format!("mac {m}"),
                };
                let _ = writeln!(
                    o,
                    "  host {who} {}{}",
                    h.ip,
                    h.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
                );
            }
        }
        if !self.ra.is_empty() {
            o.push_str("\n# router advertisements\n");
        }
        for r in &self.ra {
            let _ = writeln!(
                o,
                "ra {} on {} prefix {}{}{}{} router-lifetime {}s{}{}{}",
                r.network,
                r.interface,
                r.prefix,
                if r.autonomous { " slaac" } else { "" },
                if r.managed { " managed" } else { "" },
                if r.other { " other" } else { "" },
                r.router_lifetime,
                r.mtu.map(|m| format!(" mtu {m}")).unwrap_or_default(),
                if r.dns.is_empty() {
                    String::new()
                } else {
                    format!(" rdnss {}", join(&r.dns))
                },
                if r.search.is_empty() {
                    String::new()
                } else {
                    format!(" dnssl {}", join(&r.search))
                },
            );
        }

        o.push_str("\n# dns\n");
        if self.dns.is_empty() {
            o.push_str("(none)\n");
        }
        for z in &self.dns {
            let _ = write!(o, "zone {} on {} listen {}:53", z.network, z.interface, z.listen);
            if let Some(a) = z.listen6 {
                let _ = write!(o, " [{a}]:53");
            }
            if let Some(d) = &z.domain {
                let _ = write!(o, " domain {d}{}", if z.local_only { " local-only" } else { "" });
            }
            o.push_str(if z.forward { " forward" } else { " no-forward" });
            o.push('\n');
            for fw in &z.forwarders {
                let to = fw.addr.map(|a| a.to_string()).unwrap_or_else(|| "local".into());
                let _ = writeln!(o, "  forward {} -> {to}", fw.domain.as_deref().unwrap_or("."));
            }
            for r in &z.records {
                let data = match &r.data {
                    RecordData::A(ip) => format!("A {ip}"),
                    RecordData::Aaaa(ip) => format!("AAAA {ip}"),
                    RecordData::Ptr(n) => format!("PTR {n}"),
                    RecordData::Srv {
                        priority,
                        weight,
                        port,
                        target,
                    } => format!("SRV {priority} {weight} {port} {target}"),
                    RecordData::Txt(t) => format!("TXT {t:?}"),
                    RecordData::Soa { mname, rname } => format!("SOA {mname} {rname}"),
                    RecordData::Ns(n) => format!("NS {n}"),
                };
                let _ = writeln!(o, "  {} {data}", r.name);
            }
        }
        f.write_str(&o)
    }
}

fn join<T: Display>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}
