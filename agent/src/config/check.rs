//! From the raw TOML tree to a checked `Config`: every value parsed, every
//! rule of one network checked. Rules that span networks live in `cross.rs`.
//! Nothing stops at the first problem; each is collected with its position.

use std::net::Ipv4Addr;
use std::ops::Range;
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::units::Ipv6Range;

use super::ifname::{invalid_ifname, invalid_port_pattern};
use super::model::*;
use super::problem::Collector;
use super::raw::*;
use super::units::{Ipv4Range, LeaseTime, PortRange};

/// libvirt's and dnsmasq's default lease.
pub const DEFAULT_LEASE: LeaseTime = LeaseTime::Seconds(3600);

/// What the host says about a name: the kind of an existing link that is
/// not a bridge ("veth", "network interface"), or None. `check` asks the
/// kernel; parsing a config for the daemon asks nothing (it refuses such a
/// link at run time, when it meets it).
pub type NonBridge<'h> = &'h dyn Fn(&str) -> Option<String>;

pub(super) struct Checker<'a, 'c> {
    pub c: &'c mut Collector<'a>,
    pub host: NonBridge<'c>,
}

impl Checker<'_, '_> {
    pub(super) fn parse<T: FromStr>(&mut self, v: &S<String>, field: &str, what: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        match v.get_ref().trim().parse::<T>() {
            Ok(t) => Some(t),
            Err(e) => {
                let msg = e.to_string();
                let msg = if msg.contains('`') {
                    msg
                } else {
                    format!("`{}` is not {what}", v.get_ref())
                };
                self.c.add(v.span(), field, msg);
                None
            }
        }
    }

    pub(super) fn ip(&mut self, v: &S<String>, field: &str) -> Option<Ipv4Addr> {
        self.parse(v, field, "an IPv4 address (like 192.168.122.1)")
    }

    /// A resolver's address: IPv4 or IPv6.
    fn any_ip(&mut self, v: &S<String>, field: &str) -> Option<std::net::IpAddr> {
        self.parse(v, field, "an IP address (like 192.0.2.53 or 2001:db8::53)")
    }

    pub(super) fn ips(&mut self, vs: &[S<String>], field: &str) -> Vec<Ipv4Addr> {
        vs.iter()
            .enumerate()
            .filter_map(|(i, v)| self.ip(v, &format!("{field}[{i}]")))
            .collect()
    }

    /// An address with its prefix, for an interface: host bits must be set.
    fn if_addr(&mut self, v: &S<String>, field: &str) -> Option<Ipv4Net> {
        let net: Ipv4Net = self.parse(
            v,
            field,
            "an address with a prefix length (like 192.168.122.1/24)",
        )?;
        if !v.get_ref().contains('/') {
            self.c.add(
                v.span(),
                field,
                format!(
                    "`{}` has no prefix length: write it like {}/24",
                    v.get_ref(),
                    net.addr()
                ),
            );
            return None;
        }
        if net.prefix_len() > 30 {
            self.c.add(
                v.span(),
                field,
                format!(
                    "/{} leaves no room for guests: use a prefix of /30 or shorter",
                    net.prefix_len()
                ),
            );
            return None;
        }
        if net.addr() == net.network() || net.addr() == net.broadcast() {
            self.c.add(
                v.span(),
                field,
                format!(
                    "{} is the subnet's {} address; give the bridge a host address such as {}/{}",
                    net.addr(),
                    if net.addr() == net.network() {
                        "network"
                    } else {
                        "broadcast"
                    },
                    net.hosts().next().unwrap_or(net.addr()),
                    net.prefix_len()
                ),
            );
            return None;
        }
        Some(net)
    }

    /// A bridge's IPv6 address with its prefix: a global or unique-local
    /// host address. A /64 unless DHCPv6 hands out the addresses: SLAAC
    /// makes a guest's address from a 64-bit interface identifier.
    fn if_addr6(&mut self, v: &S<String>, field: &str, dhcp6: bool) -> Option<Ipv6Net> {
        if let Ok(a) = v.get_ref().trim().parse::<std::net::Ipv6Addr>() {
            self.c.add(
                v.span(),
                field,
                format!("`{a}` has no prefix length: write it like {a}/64"),
            );
            return None;
        }
        let net: Ipv6Net = self.parse(
            v,
            field,
            "an IPv6 address with a prefix length (like fd00:122::1/64)",
        )?;
        let addr = net.addr();
        let problem = if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() {
            Some(format!("{addr} cannot be a bridge's address: use a global or unique-local address (like fd00:122::1/64)"))
        } else if addr.is_unicast_link_local() {
            Some(format!("{addr} is link-local: the kernel gives every bridge one of those; give a global or unique-local prefix (like fd00:122::1/64)"))
        } else if addr.to_ipv4_mapped().is_some() {
            Some(format!(
                "{addr} is an IPv4-mapped address: write the IPv4 address as `address`"
            ))
        } else if addr == net.network() {
            Some(format!("{addr} is the prefix's subnet-router anycast address; give the bridge a host address such as {}1/{}", net.network(), net.prefix_len()))
        } else if !dhcp6 && net.prefix_len() != 64 {
            Some(format!("/{} cannot serve SLAAC (guests make their addresses from a /64): use a /64, or add [network.dhcp6] to hand out addresses", net.prefix_len()))
        } else if net.prefix_len() < 48 || net.prefix_len() > 120 {
            Some(format!(
                "/{} is not a guest prefix: use /64 (or up to /120 with DHCPv6)",
                net.prefix_len()
            ))
        } else {
            None
        };
        match problem {
            Some(msg) => {
                self.c.add(v.span(), field, msg);
                None
            }
            None => Some(net),
        }
    }

    /// A lease time as written (`3600`, `"1h"`, `"infinite"`), or the default.
    fn lease_time(&mut self, v: &Option<S<LeaseValue>>, field: &str) -> LeaseTime {
        let Some(v) = v else { return DEFAULT_LEASE };
        let parsed = match v.get_ref() {
            LeaseValue::Seconds(s) => LeaseTime::from_seconds(*s),
            LeaseValue::Text(t) => t.parse(),
        };
        parsed.unwrap_or_else(|e| {
            self.c.add(v.span(), format!("{field}.lease_time"), e);
            DEFAULT_LEASE
        })
    }

    /// `[network.dhcp6]`: ranges inside the prefix, fixed addresses for
    /// clients known by DUID or MAC.
    fn dhcp6(
        &mut self,
        raw: &S<super::raw::RawDhcp6>,
        field: &str,
        address6: Option<Ipv6Net>,
    ) -> Option<Dhcp6> {
        let Some(a6) = address6 else {
            self.c.add(
                raw.span(),
                field,
                "DHCPv6 needs the network's IPv6 prefix: add address6 = \"fd00:...::1/64\", or remove [network.dhcp6]",
            );
            return None;
        };
        let d = raw.get_ref();
        let prefix = a6.trunc();
        let mut ranges = Vec::new();
        match &d.ranges {
            Some(vs) => {
                for (i, v) in vs.iter().enumerate() {
                    let fi = format!("{field}.ranges[{i}]");
                    let Some(r) = self.parse::<Ipv6Range>(v, &fi, "an address range") else {
                        continue;
                    };
                    if !prefix.contains(&r.start) || !prefix.contains(&r.end) {
                        self.c.add(
                            v.span(),
                            &fi,
                            format!(
                                "range {r} is not inside {prefix}: use addresses of the network's prefix"
                            ),
                        );
                    } else if r.contains(a6.addr()) {
                        self.c.add(v.span(), &fi, format!("range {r} contains the bridge's own address {}: start or end the range around it", a6.addr()));
                    } else {
                        ranges.push(r);
                    }
                }
            }
            None => ranges = default_ranges6(a6),
        }
        let lease_time = self.lease_time(&d.lease_time, field);
        let mut hosts: Vec<Dhcp6Host> = Vec::new();
        for (i, h) in d.host.iter().enumerate() {
            let fi = format!("{field}.host[{i}]");
            let r = h.get_ref();
            let client = match (&r.duid, &r.mac) {
                (Some(v), None) => match parse_duid(v.get_ref()) {
                    Ok(d) => Some(Dhcp6Client::Duid(d)),
                    Err(e) => {
                        self.c.add(v.span(), format!("{fi}.duid"), e);
                        None
                    }
                },
                (None, Some(v)) => self
                    .parse(v, &format!("{fi}.mac"), "a MAC address")
                    .map(Dhcp6Client::Mac),
                _ => {
                    self.c.add(
                        h.span(),
                        &fi,
                        "give the client as duid = \"00:01:...\" or as mac = \"52:54:...\" (one of the two)",
                    );
                    None
                }
            };
            let ip = match &r.ip {
                Some(v) => {
                    let ip: Option<std::net::Ipv6Addr> =
                        self.parse(v, &format!("{fi}.ip"), "an IPv6 address (like fd00:122::10)");
                    match ip {
                        Some(ip) if !prefix.contains(&ip) || ip == prefix.network() => {
                            self.c.add(
                                v.span(),
                                format!("{fi}.ip"),
                                format!("{ip} is not a host address in {prefix}"),
                            );
                            None
                        }
                        Some(ip) if ip == a6.addr() => {
                            self.c.add(
                                v.span(),
                                format!("{fi}.ip"),
                                format!("{ip} is the bridge's own address: pick another"),
                            );
                            None
                        }
                        Some(ip) => {
                            if let Some(o) = hosts.iter().find(|o| o.ip == ip) {
                                self.c.add(
                                    v.span(),
                                    format!("{fi}.ip"),
                                    format!(
                                        "{ip} is already given to another host ({})",
                                        o.name.as_deref().unwrap_or("unnamed")
                                    ),
                                );
                                None
                            } else {
                                Some(ip)
                            }
                        }
                        None => None,
                    }
                }
                None => {
                    self.missing(h.span(), &fi, "ip = \"...\"");
                    None
                }
            };
            let name = r
                .name
                .as_ref()
                .and_then(|v| self.dns_name(v, &format!("{fi}.name")));
            if let (Some(client), Some(ip)) = (client, ip) {
                if hosts.iter().any(|o| o.client == client) {
                    self.c.add(
                        h.span(),
                        &fi,
                        "this client already has a host entry: one fixed address per client",
                    );
                    continue;
                }
                hosts.push(Dhcp6Host { client, ip, name });
            }
        }
        Some(Dhcp6 {
            ranges,
            lease_time,
            hosts,
        })
    }

    pub(super) fn int(&mut self, v: &S<i64>, field: &str, lo: i64, hi: i64) -> Option<i64> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            self.c
                .add(v.span(), field, format!("{n} is out of range: use {lo} to {hi}"));
            return None;
        }
        Some(n)
    }

    fn ifname(&mut self, v: &S<String>, field: &str) -> Option<String> {
        match invalid_ifname(v.get_ref()) {
            Some(msg) => {
                self.c.add(v.span(), field, msg);
                None
            }
            None => Some(v.get_ref().clone()),
        }
    }

    fn dns_name(&mut self, v: &S<String>, field: &str) -> Option<String> {
        let s = v.get_ref().trim_end_matches('.');
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && !l.starts_with('-')
            });
        if ok {
            Some(s.to_ascii_lowercase())
        } else {
            self.c.add(
                v.span(),
                field,
                format!(
                    "`{}` is not a DNS name: use letters, digits and '-' in dot-separated labels",
                    v.get_ref()
                ),
            );
            None
        }
    }

    pub(super) fn missing(&mut self, span: Range<usize>, field: &str, what: &str) {
        self.c.add(span, field, format!("missing: {what}"));
    }

    pub(super) fn uplink(&mut self, raw: &S<RawUplink>) -> Option<Uplink> {
        let u = raw.get_ref();
        let named = [u.interface.as_ref(), u.mac.as_ref(), u.path.as_ref()];
        if named.iter().flatten().count() > 1 {
            self.c.add(
                raw.span(),
                "uplink",
                "name the uplink one way: interface = \"eth0\", mac = \"52:54:00:...\" or path = \"0000:00:02.0\"",
            );
        }
        let interface = match (&u.interface, &u.mac, &u.path) {
            (_, Some(m), _) => {
                let mac: super::units::MacAddr = self.parse(m, "uplink.mac", "a MAC address")?;
                UplinkInterface::Mac(mac)
            }
            (_, _, Some(p)) if !p.get_ref().trim().is_empty() => {
                UplinkInterface::Path(p.get_ref().trim().to_string())
            }
            (_, _, Some(p)) => {
                self.c.add(
                    p.span(),
                    "uplink.path",
                    "an empty path: give the NIC's bus address, like \"0000:00:02.0\"",
                );
                return None;
            }
            (None, ..) => UplinkInterface::Auto,
            (Some(v), ..) if v.get_ref() == "auto" => UplinkInterface::Auto,
            (Some(v), ..) => UplinkInterface::Named(self.ifname(v, "uplink.interface")?),
        };
        let addressing = match &u.address {
            None => Addressing::Dhcp,
            Some(v) if v.get_ref() == "dhcp" => Addressing::Dhcp,
            Some(v) if v.get_ref() == "host" => Addressing::Host,
            Some(v) => {
                let address = self.if_addr(v, "uplink.address")?;
                let gateway = u.gateway.as_ref().and_then(|g| self.ip(g, "uplink.gateway"));
                if let (Some(gw), Some(g)) = (gateway, &u.gateway) {
                    if !address.contains(&gw) {
                        self.c.add(
                            g.span(),
                            "uplink.gateway",
                            format!("gateway {gw} is not in the uplink's subnet {}", address.trunc()),
                        );
                    }
                }
                Addressing::Static { address, gateway }
            }
        };
        match (&addressing, &u.gateway) {
            (Addressing::Dhcp, Some(g)) => self.c.add(
                g.span(),
                "uplink.gateway",
                "a gateway makes no sense with address = \"dhcp\" (DHCP supplies it): remove it or give a static address",
            ),
            (Addressing::Host, Some(g)) => self.c.add(
                g.span(),
                "uplink.gateway",
                "with address = \"host\" the host's own network tools set the gateway: remove it",
            ),
            _ => {}
        }
        let dns = u
            .dns
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.any_ip(v, &format!("uplink.dns[{i}]")))
            .collect();
        let ntp = u
            .ntp
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.any_ip(v, &format!("uplink.ntp[{i}]")))
            .collect();
        let (address6, gateway6) = self.uplink6(u, &addressing);
        Some(Uplink {
            interface,
            addressing,
            address6,
            gateway6,
            dns,
            ntp,
        })
    }

    /// `address6 = "pd"` or `"pd:N"`: a /64 of the uplink's delegated
    /// prefix. SLAAC only (DHCPv6 ranges would name addresses of a prefix
    /// not known yet), and not on a host's bridge.
    fn delegated(&mut self, v: &S<String>, field: &str, kind: Kind, n: &RawNetwork) -> Option<Delegated> {
        let text = v.get_ref().trim();
        let d = match text.strip_prefix("pd") {
            Some("") => Delegated::Auto,
            Some(rest) => match rest.strip_prefix(':').and_then(|x| x.parse::<u16>().ok()) {
                Some(i) => Delegated::Subnet(i),
                None => {
                    self.c.add(v.span(), field, format!("`{text}` is not a delegated prefix: write \"pd\" (the next free /64) or \"pd:N\" (subnet N)"));
                    return None;
                }
            },
            None => return None,
        };
        if kind == Kind::Bridge {
            self.c.add(
                v.span(),
                field,
                "a bridge network's prefix is its LAN's: prefix delegation is for netagent's own networks",
            );
            return None;
        }
        if let Some(d6) = &n.dhcp6 {
            self.c.add(d6.span(), format!("{field} (dhcp6)"), "a delegated prefix is served by SLAAC: remove [network.dhcp6] (its ranges would name addresses of a prefix not known yet)");
        }
        Some(d)
    }

    /// The uplink's static IPv6 address and gateway: a global address with
    /// its prefix, a gateway on that prefix or link-local (as routers
    /// advertise themselves). Not with address = "host".
    fn uplink6(
        &mut self,
        u: &RawUplink,
        addressing: &Addressing,
    ) -> (Option<Ipv6Net>, Option<std::net::Ipv6Addr>) {
        let address6 = u.address6.as_ref().and_then(|v| {
            if *addressing == Addressing::Host {
                self.c.add(
                    v.span(),
                    "uplink.address6",
                    "with address = \"host\" the host's own network tools address the uplink: remove address6",
                );
                return None;
            }
            let net: Ipv6Net = self.parse(v, "uplink.address6", "an IPv6 address with a prefix length (like 2001:db8::2/64)")?;
            let a = net.addr();
            if !v.get_ref().contains('/') || a.is_unspecified() || a.is_multicast() || a.is_unicast_link_local() {
                self.c.add(
                    v.span(),
                    "uplink.address6",
                    format!("`{}` is not a global IPv6 address with a prefix length (like 2001:db8::2/64)", v.get_ref()),
                );
                return None;
            }
            Some(net)
        });
        let gateway6 = u.gateway6.as_ref().and_then(|g| {
            let gw: std::net::Ipv6Addr = self.parse(g, "uplink.gateway6", "an IPv6 address (like fe80::1 or 2001:db8::1)")?;
            match address6 {
                None => {
                    self.c.add(
                        g.span(),
                        "uplink.gateway6",
                        "a gateway6 needs address6 (without it the router's advertisements give the route): add address6 or remove gateway6",
                    );
                    None
                }
                Some(a) if !gw.is_unicast_link_local() && !a.contains(&gw) => {
                    self.c.add(
                        g.span(),
                        "uplink.gateway6",
                        format!("gateway {gw} is neither link-local nor in the uplink's prefix {}", a.trunc()),
                    );
                    None
                }
                Some(_) => Some(gw),
            }
        });
        (address6, gateway6)
    }

    pub(super) fn network(&mut self, raw: &S<RawNetwork>, index: usize) -> Option<Network> {
        let n = raw.get_ref();
        let name = match &n.name {
            Some(v) => {
                let ok = !v.get_ref().is_empty()
                    && v.get_ref().len() <= 64
                    && v.get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    self.c.add(
                        v.span(),
                        format!("network[{index}].name"),
                        format!(
                            "`{}` is not a network name: use up to 64 letters, digits, '-', '_' or '.'",
                            v.get_ref()
                        ),
                    );
                }
                v.get_ref().clone()
            }
            None => {
                self.missing(raw.span(), &format!("network[{index}]"), "name = \"...\"");
                format!("#{index}")
            }
        };
        let f = |field: &str| format!("network \"{name}\" {field}");

        let kind = match &n.kind {
            None => Kind::Nat,
            Some(v) => match Kind::ALL.iter().find(|(k, _)| k == v.get_ref()) {
                Some((_, k)) => *k,
                None => {
                    self.c.add(
                        v.span(),
                        f("kind"),
                        format!(
                            "unknown kind `{}`: use nat, route, open, isolated or bridge",
                            v.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        // An invalid bridge name is reported and kept, so that the rules
        // between networks still run and the user sees all problems at once.
        let bridge = match &n.bridge {
            Some(v) => {
                if self.ifname(v, &f("bridge")).is_some() {
                    if let Some(why) = reserved_bridge_name(v.get_ref()) {
                        self.c.add(v.span(), f("bridge"), why);
                    } else if let Some(what) = (self.host)(v.get_ref()) {
                        self.c.add(
                            v.span(),
                            f("bridge"),
                            format!("{} is an existing {what}, not a bridge: netagent will not make it one; name the bridge something else", v.get_ref()),
                        );
                    }
                }
                v.get_ref().clone()
            }
            None => {
                self.missing(
                    raw.span(),
                    &f("bridge"),
                    "bridge = \"virbr1\" (the name of the bridge this network uses)",
                );
                String::new()
            }
        };
        let address = match &n.address {
            Some(v) => self.if_addr(v, &f("address")),
            None if kind != Kind::Bridge => {
                self.missing(
                    raw.span(),
                    &f("address"),
                    format!("address = \"192.168.100.1/24\" (a {kind} network needs the bridge's address and subnet)").as_str(),
                );
                None
            }
            None => None,
        };
        let delegated = n
            .address6
            .as_ref()
            .and_then(|v| self.delegated(v, &f("address6"), kind, n));
        let address6 = n
            .address6
            .as_ref()
            .filter(|_| delegated.is_none())
            .filter(|v| !v.get_ref().starts_with("pd"))
            .and_then(|v| self.if_addr6(v, &f("address6"), n.dhcp6.is_some()));
        let mac = n.mac.as_ref().and_then(|v| {
            let m: super::units::MacAddr = self.parse(v, &f("mac"), "a MAC address")?;
            if !m.is_unicast() {
                self.c.add(
                    v.span(),
                    f("mac"),
                    format!("{m} is a multicast MAC: the first byte must be even (like 52:54:00:...)"),
                );
            }
            Some(m)
        });
        let mtu = n
            .mtu
            .as_ref()
            .and_then(|v| self.int(v, &f("mtu"), 68, 65535))
            .map(|m| m as u32);
        let span = n.span.as_ref().and_then(|v| self.span(v, &f("span"), kind));
        let mtu = match &span {
            Some(sp) => self.span_mtu(sp, n.mtu.as_ref().zip(mtu), &f("mtu")),
            None => mtu,
        };
        let stp = n.stp.as_ref().map(|v| *v.get_ref());
        let mut ports = Vec::new();
        for (i, p) in n.ports.iter().enumerate() {
            match invalid_port_pattern(p.get_ref()) {
                Some(msg) => self.c.add(p.span(), f(&format!("ports[{i}]")), msg),
                None => ports.push(p.get_ref().clone()),
            }
        }
        let port_isolation = n.port_isolation.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        let egress = n.egress.as_ref().and_then(|v| {
            if !kind.needs_uplink() {
                self.c.add(
                    v.span(),
                    f("egress"),
                    format!("egress limits where a NAT or routed network's traffic leaves; a {kind} network has no such rules: remove it"),
                );
                return None;
            }
            self.ifname(v, &f("egress"))
        });
        let adopt = n.adopt.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        let serve_lan = n.serve_lan.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        let libvirt = n.libvirt.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        if let (Some(v), true, Kind::Bridge) = (&n.libvirt, libvirt, kind) {
            self.c.add(
                v.span(),
                f("libvirt"),
                "libvirt = true marks a network that `netagent adopt-libvirt` took over from libvirt (nat, route, open or isolated); a bridge network's bridge is the host's and libvirt made nothing there: remove it".to_string(),
            );
        }
        if let (Some(v), true, false) = (&n.serve_lan, serve_lan, kind == Kind::Bridge) {
            self.c.add(
                v.span(),
                f("serve_lan"),
                format!("serve_lan only means something on a kind = \"bridge\" network (a {kind} network's DHCP and DNS serve its own guests): remove it"),
            );
        }

        let mut routes = Vec::new();
        for (i, r) in n.route.iter().enumerate() {
            let field = f(&format!("route[{i}]"));
            if let Some(r) = self.route(r, &field, address) {
                routes.push(r);
            }
        }
        if let (None, Some(r)) = (address, n.route.first()) {
            self.c.add(
                r.span(),
                f("route"),
                "static routes need the network to have an address to route via",
            );
        }

        let nat = match (&n.nat, kind) {
            (Some(v), Kind::Nat) => self.nat(v, &f("nat")),
            (None, Kind::Nat) => Some(Nat::default()),
            (Some(v), _) => {
                self.c.add(
                    v.span(),
                    f("nat"),
                    format!("a {kind} network does no NAT: remove [network.nat] or set kind = \"nat\""),
                );
                None
            }
            (None, _) => None,
        };
        if let (Some(v), Some(true), None) = (
            n.nat.as_ref().and_then(|x| x.get_ref().ipv6.as_ref()),
            nat.as_ref().map(|x| x.ipv6),
            address6,
        ) {
            self.c.add(
                v.span(),
                f("nat.ipv6"),
                "IPv6 NAT needs the network to have an IPv6 prefix: add address6 = \"fd00:...::1/64\", or remove ipv6",
            );
        }

        let dns_domain = n.dns.as_ref().and_then(|d| d.get_ref().domain.as_ref());
        let dns_domain = dns_domain.and_then(|d| self.dns_name(d, &f("dns.domain")));
        let dns = match &n.dns {
            Some(v) => self.dns(v, &f("dns"), kind, address, dns_domain.clone()),
            None if kind != Kind::Bridge && address.is_some() => Some(Dns::on()),
            None => None,
        };
        let dhcp = n
            .dhcp
            .as_ref()
            .and_then(|v| self.dhcp(v, &f("dhcp"), kind, address, dns_domain, !routes.is_empty()));
        let dhcp6 = n
            .dhcp6
            .as_ref()
            .and_then(|v| self.dhcp6(v, &f("dhcp6"), address6));
        // A bridged network shares the physical LAN: a server here answers
        // every machine on it, against the LAN's own.
        if kind == Kind::Bridge && !serve_lan {
            let dns_on = n
                .dns
                .as_ref()
                .filter(|d| d.get_ref().enabled.as_ref().is_none_or(|e| *e.get_ref()));
            for (span, what) in [
                (n.dhcp.as_ref().map(|d| d.span()), "dhcp"),
                (n.dhcp6.as_ref().map(|d| d.span()), "dhcp6"),
                (dns_on.map(|d| d.span()), "dns"),
            ] {
                if let Some(span) = span {
                    self.c.add(
                        span,
                        f(what),
                        format!("a bridge network shares the physical LAN: netagent's {} would answer every machine on it, competing with the LAN's own server; remove [network.{what}], or set serve_lan = true if netagent is meant to serve that LAN", what.to_uppercase()),
                    );
                }
            }
        }
        let mut forwards = Vec::new();
        for (i, raw) in n.forward.iter().enumerate() {
            let field = f(&format!("forward[{i}]"));
            if kind != Kind::Nat {
                self.c.add(
                    raw.span(),
                    field,
                    format!(
                        "a {kind} network has no port forwarding: its guests are {}; forward ports into a nat network",
                        match kind {
                            Kind::Route | Kind::Open | Kind::Bridge => "reachable at their own addresses",
                            _ => "cut off from the outside",
                        }
                    ),
                );
                continue;
            }
            if let Some(fw) = self.forward(raw, &field, address) {
                forwards.push(fw);
            }
        }
        let port_security = self.port_security(
            n.port_security.as_ref(),
            &f("port_security"),
            kind,
            (address, address6),
        );

        Some(Network {
            name,
            kind,
            bridge,
            address,
            address6,
            delegated,
            mac,
            mtu,
            stp,
            ports,
            port_isolation,
            egress,
            adopt,
            serve_lan,
            libvirt,
            port_security,
            routes,
            nat,
            dhcp,
            dhcp6,
            dns,
            forwards,
            span,
        })
    }

    fn forward(&mut self, raw: &S<RawForward>, field: &str, address: Option<Ipv4Net>) -> Option<Forward> {
        let r = raw.get_ref();
        let protocol = match &r.protocol {
            None => Some(Protocol::Tcp),
            Some(v) => {
                match v.get_ref().as_str() {
                    "tcp" => Some(Protocol::Tcp),
                    "udp" => Some(Protocol::Udp),
                    other => {
                        self.c.add(
                        v.span(),
                        format!("{field}.protocol"),
                        format!("unknown protocol `{other}`: use \"tcp\" or \"udp\" (one entry each for both)"),
                    );
                        None
                    }
                }
            }
        };
        let ports: Option<PortRange> = match &r.port {
            None => {
                self.missing(raw.span(), field, "port = 8080 (or a range like \"8000-8010\")");
                None
            }
            Some(v) => {
                let text = match v.get_ref() {
                    PortValue::Number(n) => n.to_string(),
                    PortValue::Text(t) => t.clone(),
                };
                match text.parse::<PortRange>() {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.c.add(v.span(), format!("{field}.port"), e);
                        None
                    }
                }
            }
        };
        let to = match &r.to {
            None => {
                self.missing(raw.span(), field, "to = \"<the guest's address>\"");
                None
            }
            Some(v) => {
                let ip = self.ip(v, &format!("{field}.to"))?;
                if let Some(a) = address {
                    if !a.trunc().contains(&ip) || ip == a.addr() || ip == a.network() || ip == a.broadcast()
                    {
                        self.c.add(
                            v.span(),
                            format!("{field}.to"),
                            format!(
                                "{ip} is not a guest address in {}: forward to a guest of this network",
                                a.trunc()
                            ),
                        );
                        return None;
                    }
                }
                Some(ip)
            }
        };
        let to_port = match (&r.to_port, ports) {
            (None, Some(p)) => Some(p.start),
            (None, None) => None,
            (Some(v), p) => {
                let port = self.int(v, &format!("{field}.to_port"), 1, 65535)? as u16;
                match p {
                    Some(p) if p.start != p.end && port != p.start => {
                        self.c.add(
                            v.span(),
                            format!("{field}.to_port"),
                            "a port range is forwarded port for port: remove to_port, or forward a single port",
                        );
                        None
                    }
                    _ => Some(port),
                }
            }
        };
        let mut from = Vec::new();
        for (i, v) in r.from.iter().enumerate() {
            let text = v.get_ref();
            let parsed = if text.contains('/') {
                text.parse::<Ipv4Net>().ok().map(|n| n.trunc())
            } else {
                text.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
            };
            match parsed {
                Some(n) => from.push(n),
                None => self.c.add(
                    v.span(),
                    format!("{field}.from[{i}]"),
                    format!("`{text}` is not an address or subnet (like 198.51.100.0/24)"),
                ),
            }
        }
        Some(Forward {
            protocol: protocol?,
            ports: ports?,
            to: to?,
            to_port: to_port?,
            from,
        })
    }

    fn route(&mut self, raw: &S<RawRoute>, field: &str, address: Option<Ipv4Net>) -> Option<StaticRoute> {
        let r = raw.get_ref();
        let to: Option<Ipv4Net> = match &r.to {
            Some(v) => {
                let to: Option<Ipv4Net> =
                    self.parse(v, &format!("{field}.to"), "a subnet (like 10.20.0.0/16)");
                if let Some(t) = to {
                    if t.prefix_len() == 0 {
                        self.c.add(
                            v.span(),
                            format!("{field}.to"),
                            format!("{t} would send all of the host's traffic to a guest: route a smaller subnet, or set the uplink's gateway"),
                        );
                    } else if t.addr() != t.network() {
                        self.c.add(
                            v.span(),
                            format!("{field}.to"),
                            format!("{t} has host bits set: did you mean {}?", t.trunc()),
                        );
                    }
                }
                to
            }
            None => {
                self.missing(raw.span(), field, "to = \"10.20.0.0/16\"");
                None
            }
        };
        let via = match &r.via {
            Some(v) => {
                let via = self.ip(v, &format!("{field}.via"));
                if let (Some(via), Some(a)) = (via, address) {
                    if !a.trunc().contains(&via) || via == a.addr() {
                        self.c.add(
                            v.span(),
                            format!("{field}.via"),
                            format!("gateway {via} must be a guest address in {}", a.trunc()),
                        );
                    }
                }
                via
            }
            None => {
                self.missing(raw.span(), field, "via = \"<a guest's address>\"");
                None
            }
        };
        let metric = match &r.metric {
            Some(v) => Some(self.int(v, &format!("{field}.metric"), 0, u32::MAX as i64)? as u32),
            None => None,
        };
        Some(StaticRoute {
            to: to?,
            via: via?,
            metric,
        })
    }

    fn nat(&mut self, raw: &S<RawNat>, field: &str) -> Option<Nat> {
        let r = raw.get_ref();
        let mut nat = Nat::default();
        if let Some(v) = &r.ports {
            nat.ports = self.parse(v, &format!("{field}.ports"), "a port range")?;
        }
        if let Some(v) = &r.address {
            nat.address = Some(self.parse(v, &format!("{field}.address"), "an address range")?);
        }
        nat.ipv6 = r.ipv6.as_ref().is_some_and(|v| *v.get_ref());
        Some(nat)
    }

    fn dhcp(
        &mut self,
        raw: &S<RawDhcp>,
        field: &str,
        kind: Kind,
        address: Option<Ipv4Net>,
        dns_domain: Option<String>,
        has_routes: bool,
    ) -> Option<Dhcp> {
        let d = raw.get_ref();
        let Some(addr) = address else {
            self.c.add(
                raw.span(),
                field,
                format!("DHCP needs the bridge to have an address: add address = \"...\" to this {kind} network, or remove [network.dhcp]"),
            );
            return None;
        };
        let subnet = addr.trunc();
        let in_pool =
            |ip: Ipv4Addr| subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast();

        let mut ranges = Vec::new();
        match &d.ranges {
            Some(list) => {
                for (i, v) in list.iter().enumerate() {
                    let fi = format!("{field}.ranges[{i}]");
                    let Some(r) = self.parse::<Ipv4Range>(v, &fi, "an address range") else {
                        continue;
                    };
                    if !in_pool(r.start) || !in_pool(r.end) {
                        self.c.add(v.span(), &fi, format!("range {r} is not inside {subnet}: use host addresses of the network's subnet"));
                    } else if r.contains(addr.addr()) {
                        self.c.add(v.span(), &fi, format!("range {r} contains the bridge's own address {}: start or end the range around it", addr.addr()));
                    } else if let Some(o) = ranges
                        .iter()
                        .find(|o: &&Ipv4Range| o.start <= r.end && r.start <= o.end)
                    {
                        self.c.add(v.span(), &fi, format!("range {r} overlaps range {o}"));
                    } else {
                        ranges.push(r);
                    }
                }
            }
            None => ranges = default_ranges(addr),
        }

        let lease_time = self.lease_time(&d.lease_time, field);

        let router = match &d.router {
            Some(v) if *v.get_ref() && kind == Kind::Isolated => {
                self.c.add(
                    v.span(),
                    format!("{field}.router"),
                    "an isolated network has no way out, so it hands out no router: remove router = true",
                );
                false
            }
            Some(v) => *v.get_ref(),
            None => kind != Kind::Isolated,
        };
        let domain = match &d.domain {
            Some(v) => self.dns_name(v, &format!("{field}.domain")),
            None => dns_domain,
        };
        let dns_servers = d
            .dns_servers
            .as_ref()
            .map(|v| self.ips(v, &format!("{field}.dns_servers")))
            .unwrap_or_default();
        let mtu = d
            .mtu
            .as_ref()
            .and_then(|v| self.int(v, &format!("{field}.mtu"), 68, 65535))
            .map(|m| m as u32);
        let classless_routes = match &d.classless_routes {
            Some(v) if *v.get_ref() && !has_routes => {
                self.c.add(
                    v.span(),
                    format!("{field}.classless_routes"),
                    "there are no [[network.route]] entries to send: add routes or remove this",
                );
                false
            }
            Some(v) => *v.get_ref(),
            None => has_routes,
        };
        let pxe = d.pxe.as_ref().and_then(|v| {
            let p = v.get_ref();
            let file = match &p.file {
                // The BOOTP `file` field holds 128 bytes with its terminating NUL.
                Some(f) if f.get_ref().len() > 127 || f.get_ref().is_empty() => {
                    self.c.add(
                        f.span(),
                        format!("{field}.pxe.file"),
                        "a boot file name has 1 to 127 bytes",
                    );
                    return None;
                }
                Some(f) => f.get_ref().clone(),
                None => {
                    self.missing(v.span(), &format!("{field}.pxe"), "file = \"pxelinux.0\"");
                    return None;
                }
            };
            let server = p
                .server
                .as_ref()
                .and_then(|s| self.ip(s, &format!("{field}.pxe.server")));
            Some(Pxe { file, server })
        });

        let mut hosts: Vec<DhcpHost> = Vec::new();
        for (i, h) in d.host.iter().enumerate() {
            let fi = format!("{field}.host[{i}]");
            let r = h.get_ref();
            let mac = match &r.mac {
                Some(v) => self.parse(v, &format!("{fi}.mac"), "a MAC address"),
                None => {
                    self.missing(h.span(), &fi, "mac = \"52:54:00:...\"");
                    None
                }
            };
            let ip = match &r.ip {
                Some(v) => {
                    let ip = self.ip(v, &format!("{fi}.ip"));
                    match ip {
                        Some(ip) if !in_pool(ip) => {
                            self.c.add(
                                v.span(),
                                format!("{fi}.ip"),
                                format!("{ip} is not a host address in {subnet}"),
                            );
                            None
                        }
                        Some(ip) if ip == addr.addr() => {
                            self.c.add(
                                v.span(),
                                format!("{fi}.ip"),
                                format!("{ip} is the bridge's own address: pick another"),
                            );
                            None
                        }
                        Some(ip) => {
                            if let Some(o) = hosts.iter().find(|o| o.ip == ip) {
                                self.c.add(
                                    v.span(),
                                    format!("{fi}.ip"),
                                    format!("{ip} is already given to {}", o.mac),
                                );
                            }
                            ip.into()
                        }
                        None => None,
                    }
                }
                None => {
                    self.missing(h.span(), &fi, "ip = \"...\"");
                    None
                }
            };
            if let (Some(m), Some(v)) = (mac, &r.mac) {
                if hosts.iter().any(|o| o.mac == m) {
                    self.c.add(
                        v.span(),
                        format!("{fi}.mac"),
                        format!("{m} already has a static host entry in this network"),
                    );
                }
            }
            let name = r
                .name
                .as_ref()
                .and_then(|v| self.dns_name(v, &format!("{fi}.name")));
            if let (Some(mac), Some(ip)) = (mac, ip) {
                hosts.push(DhcpHost { mac, ip, name });
            }
        }

        let mut options: Vec<DhcpOptionSetting> = Vec::new();
        for (i, o) in d.option.iter().enumerate() {
            if let Some(opt) = self.dhcp_option(o, &format!("{field}.option[{i}]")) {
                if options.iter().any(|x| x.code == opt.code) {
                    self.c.add(
                        o.span(),
                        format!("{field}.option[{i}]"),
                        format!("option {} is set twice: keep one", opt.code),
                    );
                } else {
                    options.push(opt);
                }
            }
        }

        Some(Dhcp {
            ranges,
            lease_time,
            router,
            domain,
            dns_servers,
            mtu,
            classless_routes,
            pxe,
            hosts,
            options,
        })
    }

    fn dhcp_option(&mut self, o: &S<super::raw::RawDhcpOption>, field: &str) -> Option<DhcpOptionSetting> {
        let r = o.get_ref();
        let code = match (&r.code, &r.name) {
            (Some(_), Some(n)) => {
                self.c.add(
                    n.span(),
                    format!("{field}.name"),
                    "give the option's code or its name, not both",
                );
                return None;
            }
            (Some(c), None) => self.int(c, &format!("{field}.code"), 1, 254)? as u8,
            (None, Some(n)) => match super::dhcp_option::code_of(n.get_ref()) {
                Some(c) => c,
                None => {
                    self.c.add(
                        n.span(),
                        format!("{field}.name"),
                        format!(
                            "\"{}\" is not an option name netagent knows: give its code = N",
                            n.get_ref()
                        ),
                    );
                    return None;
                }
            },
            (None, None) => {
                self.missing(o.span(), field, "code = 42 (or name = \"ntp-servers\")");
                return None;
            }
        };
        let Some(v) = &r.value else {
            self.missing(o.span(), &format!("{field}.value"), "value = \"...\"");
            return None;
        };
        if let Err(e) = super::dhcp_option::encode(code, v.get_ref()) {
            let span = match (&r.code, &r.name) {
                (Some(c), _) if super::dhcp_option::own(code).is_some() => c.span(),
                (_, Some(n)) if super::dhcp_option::own(code).is_some() => n.span(),
                _ => v.span(),
            };
            self.c
                .add(span, format!("{field}.value"), format!("option {code}: {e}"));
            return None;
        }
        Some(DhcpOptionSetting {
            code,
            value: v.get_ref().clone(),
            force: r.force.as_ref().is_some_and(|f| *f.get_ref()),
        })
    }

    fn dns(
        &mut self,
        raw: &S<RawDns>,
        field: &str,
        kind: Kind,
        address: Option<Ipv4Net>,
        domain: Option<String>,
    ) -> Option<Dns> {
        let d = raw.get_ref();
        let enabled = d.enabled.as_ref().map(|v| *v.get_ref()).unwrap_or(true);
        if enabled && address.is_none() {
            self.c.add(
                raw.span(),
                field,
                format!("DNS needs the bridge to have an address: add address = \"...\" to this {kind} network, or set enabled = false"),
            );
            return None;
        }
        let local_only = d.local_only.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        if local_only && domain.is_none() {
            if let Some(v) = &d.local_only {
                self.c.add(
                    v.span(),
                    format!("{field}.local_only"),
                    "local_only applies to the network's domain: add domain = \"...\"",
                );
            }
        }
        let forward_plain_names = d
            .forward_plain_names
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(true);
        let local_ptr = d.local_ptr.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
        let etc_hosts = d.etc_hosts.as_ref().map(|v| *v.get_ref());
        let mut forwarders = Vec::new();
        for (i, fw) in d.forwarder.iter().enumerate() {
            let fi = format!("{field}.forwarder[{i}]");
            if kind == Kind::Isolated {
                self.c.add(
                    fw.span(),
                    &fi,
                    "an isolated network does not forward queries: remove the forwarder",
                );
                continue;
            }
            let r = fw.get_ref();
            let dom = r
                .domain
                .as_ref()
                .and_then(|v| self.dns_name(v, &format!("{fi}.domain")));
            let addr = r
                .addr
                .as_ref()
                .and_then(|v| self.any_ip(v, &format!("{fi}.addr")));
            if r.domain.is_none() && r.addr.is_none() {
                self.missing(
                    fw.span(),
                    &fi,
                    "addr = \"...\" (and domain = \"...\" to forward one domain only)",
                );
                continue;
            }
            forwarders.push(Forwarder { domain: dom, addr });
        }
        let mut hosts = Vec::new();
        for (i, h) in d.host.iter().enumerate() {
            let fi = format!("{field}.host[{i}]");
            let r = h.get_ref();
            let ip = match &r.ip {
                Some(v) => self.parse::<std::net::IpAddr>(
                    v,
                    &format!("{fi}.ip"),
                    "an IPv4 or IPv6 address (like 192.168.122.10 or fd00:122::10)",
                ),
                None => {
                    self.missing(h.span(), &fi, "ip = \"...\"");
                    None
                }
            };
            if r.names.is_empty() {
                self.missing(h.span(), &fi, "names = [\"...\"]");
            }
            let names: Vec<String> = r
                .names
                .iter()
                .enumerate()
                .filter_map(|(j, v)| self.dns_name(v, &format!("{fi}.names[{j}]")))
                .collect();
            if let Some(ip) = ip {
                hosts.push(DnsHost { ip, names });
            }
        }
        let mut srv = Vec::new();
        for (i, s) in d.srv.iter().enumerate() {
            let fi = format!("{field}.srv[{i}]");
            let r = s.get_ref();
            let service = match &r.service {
                Some(v) => self.dns_name(v, &format!("{fi}.service")),
                None => {
                    self.missing(s.span(), &fi, "service = \"ldap\"");
                    None
                }
            };
            let protocol = match &r.protocol {
                Some(v) if v.get_ref() == "tcp" || v.get_ref() == "udp" => Some(v.get_ref().clone()),
                Some(v) => {
                    self.c
                        .add(v.span(), format!("{fi}.protocol"), "use \"tcp\" or \"udp\"");
                    None
                }
                None => {
                    self.missing(s.span(), &fi, "protocol = \"tcp\"");
                    None
                }
            };
            let num = |c: &mut Self, v: &Option<S<i64>>, name: &str| -> Option<u16> {
                match v {
                    Some(v) => c.int(v, &format!("{fi}.{name}"), 0, 65535).map(|n| n as u16),
                    None => Some(0),
                }
            };
            let port = num(self, &r.port, "port");
            let priority = num(self, &r.priority, "priority");
            let weight = num(self, &r.weight, "weight");
            let sdomain = r
                .domain
                .as_ref()
                .and_then(|v| self.dns_name(v, &format!("{fi}.domain")));
            let target = r
                .target
                .as_ref()
                .and_then(|v| self.dns_name(v, &format!("{fi}.target")));
            if let (Some(service), Some(protocol), Some(port), Some(priority), Some(weight)) =
                (service, protocol, port, priority, weight)
            {
                srv.push(Srv {
                    service,
                    protocol,
                    domain: sdomain,
                    target,
                    port,
                    priority,
                    weight,
                });
            }
        }
        let mut txt = Vec::new();
        for (i, t) in d.txt.iter().enumerate() {
            let fi = format!("{field}.txt[{i}]");
            let r = t.get_ref();
            let name = match &r.name {
                Some(v) => self.dns_name(v, &format!("{fi}.name")),
                None => {
                    self.missing(t.span(), &fi, "name = \"...\"");
                    None
                }
            };
            let value = match &r.value {
                // One TXT string holds at most 255 bytes (RFC 1035 §3.3).
                Some(v) if v.get_ref().len() > 255 => {
                    self.c.add(
                        v.span(),
                        format!("{fi}.value"),
                        format!(
                            "is {} bytes; a TXT value has at most 255: split it over several [[network.dns.txt]] with the same name",
                            v.get_ref().len()
                        ),
                    );
                    None
                }
                Some(v) => Some(v.get_ref().clone()),
                None => {
                    self.missing(t.span(), &fi, "value = \"...\"");
                    None
                }
            };
            if let (Some(name), Some(value)) = (name, value) {
                txt.push(Txt { name, value });
            }
        }
        Some(Dns {
            enabled,
            domain,
            local_only,
            forward_plain_names,
            local_ptr,
            etc_hosts,
            forwarders,
            hosts,
            srv,
            txt,
        })
    }
}

/// Names that are valid for a link but must not be a network's bridge:
/// `all` and `default` are the kernel's settings directories under
/// /proc/sys/net/*/conf (a bridge so named would change every interface's
/// settings), `lo` is the loopback.
fn reserved_bridge_name(name: &str) -> Option<String> {
    matches!(name, "all" | "default" | "lo").then(|| {
        format!("`{name}` cannot be a bridge's name (it is the kernel's own): pick another, such as virbr1")
    })
}

/// Without `ranges`, DHCP serves the whole subnet but the bridge's address,
/// which for the usual .1 bridge is libvirt's default .2–.254.
pub(super) fn default_ranges(addr: Ipv4Net) -> Vec<Ipv4Range> {
    let first = u32::from(addr.network()) + 1;
    let last = u32::from(addr.broadcast()) - 1;
    around(first.into(), last.into(), u32::from(addr.addr()).into())
        .into_iter()
        .filter_map(|(a, b)| {
            Some(Ipv4Range {
                start: u32::try_from(a).ok()?.into(),
                end: u32::try_from(b).ok()?.into(),
            })
        })
        .collect()
}

/// Without `ranges`, DHCPv6 hands out ::1000 to ::ffff of the prefix
/// (dnsmasq's and libvirt's examples keep low addresses for static hosts),
/// or the whole of a prefix too small for that; never the bridge's own.
pub(crate) fn default_ranges6(addr: Ipv6Net) -> Vec<Ipv6Range> {
    let net = u128::from(addr.network());
    let last = u128::from(addr.broadcast());
    let (first, last) = if addr.prefix_len() <= 112 {
        (net + 0x1000, net + 0xffff)
    } else {
        (net + 1, last)
    };
    around(first, last, u128::from(addr.addr()))
        .into_iter()
        .map(|(a, b)| Ipv6Range {
            start: a.into(),
            end: b.into(),
        })
        .collect()
}

/// first..=last without `me`.
fn around(first: u128, last: u128, me: u128) -> Vec<(u128, u128)> {
    if me < first || me > last {
        return vec![(first, last)];
    }
    let mut out = Vec::new();
    if me > first {
        out.push((first, me - 1));
    }
    if me < last {
        out.push((me + 1, last));
    }
    out
}

/// A DUID as libvirt and dnsmasq write it: hex bytes separated by colons
/// (`0:1:0:1:2a:...`, a leading zero optional).
pub(crate) fn parse_duid(s: &str) -> Result<Vec<u8>, String> {
    let bytes: Result<Vec<u8>, _> = s.trim().split(':').map(|b| u8::from_str_radix(b, 16)).collect();
    match bytes {
        Ok(b) if (3..=130).contains(&b.len()) => Ok(b),
        _ => Err(format!(
            "`{s}` is not a DUID: write its bytes in hex separated by colons, like 00:01:00:01:2a:3b:4c:5d:52:54:00:12:34:56"
        )),
    }
}
