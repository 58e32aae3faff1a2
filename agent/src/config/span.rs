//! `[network.span]` and `[evpn]`: a network that continues on other hosts
//! over VXLAN. Each value is checked where it is written; what needs the
//! whole file (this host's underlay address from the uplink, VNIs unique,
//! the home among the hosts) is settled once every network is read.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::check::Checker;
use super::model::*;
use super::problem::Collector;
use super::raw::{RawEvpn, RawNetwork, RawSpan, S};

/// The largest VNI: 24 bits.
pub(super) const VNI_MAX: i64 = 16_777_215;

impl Checker<'_, '_> {
    /// A network's span. Its `local` is left unspecified when not written:
    /// `settle` takes the uplink's.
    pub(super) fn span(&mut self, raw: &S<RawSpan>, field: &str, kind: Kind) -> Option<Span> {
        let r = raw.get_ref();
        let f = |k: &str| format!("{field}.{k}");
        if kind == Kind::Bridge {
            self.c.add(
                raw.span(),
                field,
                "a bridge network already shares a physical LAN: span a nat, route, open or isolated network instead",
            );
            return None;
        }
        let vni = match &r.vni {
            Some(v) => self.int(v, &f("vni"), 1, VNI_MAX).map(|v| v as u32),
            None => {
                self.missing(
                    raw.span(),
                    &f("vni"),
                    "vni = 100 (the VXLAN ID every host's copy of this network uses, 1 to 16777215)",
                );
                None
            }
        };
        let local = r.local.as_ref().and_then(|v| self.underlay(v, &f("local")));
        let port = r
            .port
            .as_ref()
            .and_then(|v| self.int(v, &f("port"), 1, 65535))
            .map(|p| p as u16)
            .unwrap_or(4789);
        let evpn = r.evpn.as_ref().is_some_and(|v| *v.get_ref());
        let flood = match (&r.peers, evpn) {
            (Some(p), true) => {
                let span = p.first().map(|v| v.span()).unwrap_or_else(|| raw.span());
                self.c.add(
                    span,
                    f("peers"),
                    "with evpn = true BGP finds the other hosts: remove peers, or set evpn = false to list them yourself",
                );
                return None;
            }
            (Some(p), false) => {
                let mut peers = Vec::new();
                for (i, v) in p.iter().enumerate() {
                    let Some(a) = self.underlay(v, &f(&format!("peers[{i}]"))) else {
                        continue;
                    };
                    if peers.contains(&a) {
                        self.c.add(
                            v.span(),
                            f(&format!("peers[{i}]")),
                            format!("{a} is listed twice"),
                        );
                        continue;
                    }
                    peers.push(a);
                }
                if p.is_empty() {
                    self.c.add(
                        raw.span(),
                        f("peers"),
                        "an empty list: name the other hosts' underlay addresses, or use evpn = true",
                    );
                }
                Flood::Static(peers)
            }
            (None, true) => Flood::Evpn,
            (None, false) => {
                self.missing(
                    raw.span(),
                    &f("peers"),
                    "peers = [\"10.0.0.2\", ...] (the other hosts' underlay addresses), or evpn = true",
                );
                return None;
            }
        };
        let home = match &r.home {
            Some(v) => self.underlay(v, &f("home")),
            None => {
                self.missing(
                    raw.span(),
                    &f("home"),
                    "home = \"10.0.0.1\" (the underlay address of the host that is this network's gateway: its address, DHCP, DNS and NAT)",
                );
                None
            }
        };
        let underlay_mtu = r
            .underlay_mtu
            .as_ref()
            .and_then(|v| self.int(v, &f("underlay_mtu"), 68 + i64::from(VXLAN_OVERHEAD), 65535))
            .map(|m| m as u32)
            .unwrap_or(1500);
        Some(Span {
            vni: vni?,
            local: local.unwrap_or(Ipv4Addr::UNSPECIFIED),
            port,
            flood,
            home: home?,
            underlay_mtu,
        })
    }

    /// The bridge's MTU on a spanned network: what the config says if the
    /// underlay can carry it, else 50 bytes under the underlay's.
    pub(super) fn span_mtu(&mut self, span: &Span, mtu: Option<(&S<i64>, u32)>, field: &str) -> Option<u32> {
        let most = span.underlay_mtu - VXLAN_OVERHEAD;
        match mtu {
            None => Some(most),
            Some((_, m)) if m <= most => Some(m),
            Some((v, m)) => {
                self.c.add(
                    v.span(),
                    field,
                    format!(
                        "mtu {m} does not fit the overlay: VXLAN takes {VXLAN_OVERHEAD} bytes of the underlay's {} (underlay_mtu); use mtu = {most} or less, or raise the underlay's MTU and say so in span.underlay_mtu",
                        span.underlay_mtu
                    ),
                );
                None
            }
        }
    }

    /// An underlay address: a unicast IPv4 address of a host.
    fn underlay(&mut self, v: &S<String>, field: &str) -> Option<Ipv4Addr> {
        let a = self.ip(v, field)?;
        if a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
            self.c.add(
                v.span(),
                field,
                format!("{a} is not a host's address: give the underlay address of a host (like 10.0.0.2)"),
            );
            return None;
        }
        Some(a)
    }

    pub(super) fn evpn(&mut self, raw: &S<RawEvpn>) -> Option<Evpn> {
        let r = raw.get_ref();
        let asn = match &r.asn {
            Some(v) => self.int(v, "evpn.asn", 1, i64::from(u32::MAX)).map(|a| a as u32),
            None => {
                self.missing(
                    raw.span(),
                    "evpn.asn",
                    "asn = 65000 (the BGP autonomous system all the hosts share)",
                );
                None
            }
        };
        let mut neighbors = Vec::new();
        for (i, v) in r.neighbors.iter().enumerate() {
            let field = format!("evpn.neighbors[{i}]");
            if let Some(a) = self.underlay(v, &field) {
                if neighbors.contains(&a) {
                    self.c.add(v.span(), field, format!("{a} is listed twice"));
                } else {
                    neighbors.push(a);
                }
            }
        }
        if r.neighbors.is_empty() {
            self.missing(
                raw.span(),
                "evpn.neighbors",
                "neighbors = [\"10.0.0.2\", ...] (the other hosts' underlay addresses, or a route reflector's)",
            );
        }
        let router_id = r.router_id.as_ref().and_then(|v| self.ip(v, "evpn.router_id"));
        let vtysh = r
            .vtysh
            .as_ref()
            .map(|v| v.get_ref().clone())
            .unwrap_or_else(|| "vtysh".into());
        let pathspace = r.pathspace.as_ref().and_then(|v| {
            let ok = !v.get_ref().is_empty()
                && v.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                self.c.add(
                    v.span(),
                    "evpn.pathspace",
                    format!(
                        "`{}` is not an FRR path space: use letters, digits, '-', '_' or '.'",
                        v.get_ref()
                    ),
                );
            }
            ok.then(|| v.get_ref().clone())
        });
        Some(Evpn {
            asn: asn?,
            neighbors,
            router_id,
            vtysh,
            pathspace,
        })
    }
}

/// What needs the whole file: each span's local address (the uplink's when
/// not written), VNIs unique, the home one of the hosts, the `[evpn]`
/// section where a span asks for it.
pub(super) fn settle(
    c: &mut Collector<'_>,
    uplink: Option<&Uplink>,
    evpn: Option<(&S<RawEvpn>, &Evpn)>,
    nets: &mut [(&S<RawNetwork>, Network)],
) {
    let uplink_addr = uplink.and_then(|u| match u.addressing {
        Addressing::Static { address, .. } => Some(address.addr()),
        _ => None,
    });
    let mut vnis: HashMap<u32, String> = HashMap::new();
    for (raw, n) in nets.iter_mut() {
        let (Some(span), Some(rs)) = (n.span.as_mut(), raw.get_ref().span.as_ref()) else {
            continue;
        };
        let r = rs.get_ref();
        let field = |k: &str| format!("network \"{}\" span.{k}", n.name);
        if span.local.is_unspecified() {
            match uplink_addr {
                Some(a) => span.local = a,
                None => c.add(
                    rs.span(),
                    field("local"),
                    "missing: local = \"10.0.0.1\" (this host's underlay address; the uplink's is taken only when it is static, since the other hosts name this one by it)",
                ),
            }
        }
        if let (Some(other), Some(v)) = (vnis.insert(span.vni, n.name.clone()), &r.vni) {
            c.add(
                v.span(),
                field("vni"),
                format!(
                    "VNI {} is already network \"{other}\"'s: each spanned network needs its own",
                    span.vni
                ),
            );
        }
        let local = span.local;
        match &span.flood {
            Flood::Static(peers) => {
                if let Some(i) = peers.iter().position(|p| *p == local) {
                    let at = r.peers.as_ref().and_then(|p| p.get(i)).map(|v| v.span());
                    c.add(
                        at.unwrap_or_else(|| rs.span()),
                        field(&format!("peers[{i}]")),
                        format!("{local} is this host (span.local): list only the other hosts"),
                    );
                }
                if span.home != local && !local.is_unspecified() && !peers.contains(&span.home) {
                    let at = r.home.as_ref().map(|v| v.span()).unwrap_or_else(|| rs.span());
                    c.add(
                        at,
                        field("home"),
                        format!(
                            "home {} is neither this host ({local}) nor one of its peers: the home must be one of the hosts the network spans",
                            span.home
                        ),
                    );
                }
            }
            Flood::Evpn => {
                match evpn {
                    None => {
                        let at = r.evpn.as_ref().map(|v| v.span()).unwrap_or_else(|| rs.span());
                        c.add(
                        at,
                        field("evpn"),
                        "evpn = true needs an [evpn] section: asn = 65000 and neighbors = [...] (the BGP sessions FRR runs)",
                    );
                    }
                    Some((re, e)) => {
                        if let Some(i) = e.neighbors.iter().position(|a| *a == local) {
                            let at = re.get_ref().neighbors.get(i).map(|v| v.span());
                            c.add(
                            at.unwrap_or_else(|| re.span()),
                            format!("evpn.neighbors[{i}]"),
                            format!("{local} is this host (network \"{}\" span.local): list only the other hosts", n.name),
                        );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Flood, Kind};

    const UPLINK: &str = "[uplink]\ninterface = \"eth0\"\naddress = \"10.0.0.1/24\"\n";

    fn net(span: &str) -> String {
        format!("[[network]]\nname = \"s\"\nbridge = \"brs\"\naddress = \"192.168.150.1/24\"\n{span}\n[network.span]\nvni = 150\nhome = \"10.0.0.1\"\n")
    }

    fn problems(src: &str) -> String {
        match parse(src, "t.toml") {
            Ok(_) => String::new(),
            Err(p) => p.to_string(),
        }
    }

    #[test]
    fn a_static_span_takes_the_uplinks_address_and_leaves_room_for_vxlan() {
        let c = parse(&format!("{UPLINK}{}peers = [\"10.0.0.2\"]\n", net("")), "t.toml").expect("valid");
        let n = &c.networks[0];
        let s = n.span.as_ref().expect("span");
        assert_eq!(
            (s.vni, s.port, s.local.to_string()),
            (150, 4789, "10.0.0.1".into())
        );
        assert_eq!(s.flood, Flood::Static(vec!["10.0.0.2".parse().unwrap()]));
        assert!(s.is_home());
        assert_eq!(n.mtu, Some(1450), "50 bytes under the underlay's 1500");
        assert_eq!(n.kind, Kind::Nat);
    }

    #[test]
    fn span_mistakes_are_named_with_what_to_do() {
        let cases = [
            // The bridge's MTU does not fit the underlay.
            (
                format!("{UPLINK}{}peers = [\"10.0.0.2\"]\n", net("mtu = 1500")),
                "use mtu = 1450",
            ),
            (
                format!("{UPLINK}{}peers = [\"10.0.0.1\"]\n", net("")),
                "is this host",
            ),
            (
                format!(
                    "{UPLINK}{}peers = [\"10.0.0.2\"]\nvni = 0\n",
                    net("").replace("vni = 150\n", "")
                ),
                "out of range",
            ),
            (
                format!("{UPLINK}{}evpn = true\n", net("")),
                "needs an [evpn] section",
            ),
            (
                format!("{UPLINK}{}evpn = true\npeers = [\"10.0.0.2\"]\n", net("")),
                "remove peers",
            ),
            (format!("{UPLINK}{}", net("")), "missing: peers"),
            (
                format!(
                    "{UPLINK}{}peers = [\"10.0.0.2\"]\n",
                    net("").replace("home = \"10.0.0.1\"", "home = \"10.0.0.9\"")
                ),
                "neither this host",
            ),
            // A DHCP uplink's address cannot name this host to the others.
            (
                format!(
                    "[uplink]\ninterface = \"eth0\"\n{}peers = [\"10.0.0.2\"]\n",
                    net("")
                ),
                "missing: local",
            ),
            (
                format!("{UPLINK}{}peers = [\"10.0.0.2\"]\n", net("kind = \"bridge\"")),
                "already shares a physical LAN",
            ),
            (
                format!("{UPLINK}{}peers = [\"10.0.0.2\", \"10.0.0.2\"]\n", net("")),
                "listed twice",
            ),
        ];
        for (src, want) in cases {
            let p = problems(&src);
            assert!(p.contains(want), "{src}\n---\n{p}");
            assert!(p.contains("t.toml:"), "{p}");
        }
    }

    #[test]
    fn each_spanned_network_needs_its_own_vni() {
        let two = format!(
            "{UPLINK}{}peers = [\"10.0.0.2\"]\n{}peers = [\"10.0.0.2\"]\n",
            net(""),
            net("")
                .replace("name = \"s\"", "name = \"t\"")
                .replace("brs", "brt")
                .replace("150.1", "151.1")
        );
        assert!(
            problems(&two).contains("VNI 150 is already network \"s\"'s"),
            "{}",
            problems(&two)
        );
    }

    #[test]
    fn evpn_takes_its_sessions_from_the_evpn_section() {
        let src = format!(
            "{UPLINK}{}evpn = true\n\n[evpn]\nasn = 65000\nneighbors = [\"10.0.0.2\", \"10.0.0.3\"]\npathspace = \"hostA\"\n",
            net("")
        );
        let c = parse(&src, "t.toml").expect("valid");
        let e = c.evpn.as_ref().expect("evpn");
        assert_eq!(
            (e.asn, e.neighbors.len(), e.pathspace.as_deref()),
            (65000, 2, Some("hostA"))
        );
        assert_eq!(
            c.networks[0].span.as_ref().map(|s| s.vteps(Some(e)).len()),
            Some(2)
        );
        let bad = src.replace("neighbors = [\"10.0.0.2\"", "neighbors = [\"10.0.0.1\"");
        assert!(problems(&bad).contains("is this host"), "{}", problems(&bad));
    }
}
