//! `netagent check --hosts a.toml b.toml c.toml`: the hosts' copies of a spanned
//! network must agree. Each file is one host's config; a network is the
//! same network on every host that spans its VNI. What a host cannot know
//! alone: that the others use the same subnet, home, port and MTU, that
//! each host lists the others as peers, and that no two claim one address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::model::{Config, Flood, Network, Span};

/// Each disagreement, naming the files and what to change.
pub fn disagreements(hosts: &[(String, &Config)]) -> Vec<String> {
    let mut out = Vec::new();
    // VNI -> every (file, network, span) that spans it.
    let mut by_vni: BTreeMap<u32, Vec<(&str, &Network, &Span)>> = BTreeMap::new();
    for (file, cfg) in hosts {
        for n in &cfg.networks {
            if let Some(s) = &n.span {
                by_vni.entry(s.vni).or_default().push((file.as_str(), n, s));
            }
        }
    }
    for (vni, copies) in &by_vni {
        let Some((f0, n0, s0)) = copies.first().copied() else {
            continue;
        };
        let mut locals: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for (f, n, s) in copies {
            let what = |field: &str, mine: String, theirs: String| {
                format!(
                    "{f}: network \"{}\" (VNI {vni}) has {field} {mine}, {f0}'s network \"{}\" has {theirs}: every host's copy needs the same",
                    n.name, n0.name
                )
            };
            if n.address != n0.address {
                out.push(what("address", show(n.address), show(n0.address)));
            }
            if n.kind != n0.kind {
                out.push(what("kind", n.kind.to_string(), n0.kind.to_string()));
            }
            if s.home != s0.home {
                out.push(what("home", s.home.to_string(), s0.home.to_string()));
            }
            if s.port != s0.port {
                out.push(what("port", s.port.to_string(), s0.port.to_string()));
            }
            if n.mtu != n0.mtu {
                out.push(what("mtu", show(n.mtu), show(n0.mtu)));
            }
            if (s.flood == Flood::Evpn) != (s0.flood == Flood::Evpn) {
                out.push(what(
                    "evpn",
                    (s.flood == Flood::Evpn).to_string(),
                    (s0.flood == Flood::Evpn).to_string(),
                ));
            }
            if let Some(other) = locals.insert(s.local, f) {
                out.push(format!(
                    "{f} and {other} both use local {} for VNI {vni}: each host needs its own underlay address",
                    s.local
                ));
            }
        }
        // Static peers: each host floods to every other host.
        for (f, n, s) in copies {
            let Flood::Static(peers) = &s.flood else { continue };
            for (g, _, t) in copies.iter().filter(|(g, ..)| g != f) {
                if !peers.contains(&t.local) {
                    out.push(format!(
                        "{f}: network \"{}\" (VNI {vni}) does not list {} ({g}) in its peers: its guests would not reach that host's",
                        n.name, t.local
                    ));
                }
            }
        }
        // The home is one of the hosts given, when all of them are.
        let homes = copies.iter().filter(|(_, _, s)| s.is_home()).count();
        if homes == 0 && copies.iter().all(|(.., s)| s.home == s0.home) {
            let listed = copies.iter().all(|(.., s)| match &s.flood {
                Flood::Static(p) => p.len() + 1 == copies.len(),
                Flood::Evpn => false,
            });
            if listed {
                out.push(format!(
                    "VNI {vni}: home {} is none of the hosts given ({}): make one host's local address the home",
                    s0.home,
                    copies.iter().map(|(f, ..)| *f).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    out
}

fn show<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "none".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn host(me: &str, peers: &str, extra: &str) -> Config {
        let src = format!(
            "[uplink]\ninterface = \"eth0\"\naddress = \"{me}/24\"\n\n[[network]]\nname = \"s\"\nbridge = \"brs\"\naddress = \"192.168.150.1/24\"\n{extra}\n[network.span]\nvni = 150\nhome = \"10.0.0.1\"\npeers = [{peers}]\n"
        );
        parse(&src, "t").expect("valid")
    }

    #[test]
    fn copies_that_agree_pass() {
        let a = host("10.0.0.1", "\"10.0.0.2\", \"10.0.0.3\"", "");
        let b = host("10.0.0.2", "\"10.0.0.1\", \"10.0.0.3\"", "");
        let c = host("10.0.0.3", "\"10.0.0.1\", \"10.0.0.2\"", "");
        let d = disagreements(&[("a".into(), &a), ("b".into(), &b), ("c".into(), &c)]);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn what_one_host_cannot_see_is_named() {
        let a = host("10.0.0.1", "\"10.0.0.2\"", "");
        // B misses C, has another MTU, and C claims A's address.
        let b = host("10.0.0.2", "\"10.0.0.1\"", "mtu = 1400");
        let c = host("10.0.0.1", "\"10.0.0.2\"", "");
        let d = disagreements(&[("a".into(), &a), ("b".into(), &b), ("c".into(), &c)]).join("\n");
        assert!(
            d.contains("b: network \"s\" (VNI 150) has mtu 1400, a's network \"s\" has 1450"),
            "{d}"
        );
        assert!(d.contains("c and a both use local 10.0.0.1"), "{d}");
        let a = host("10.0.0.1", "\"10.0.0.2\"", "");
        let b = host("10.0.0.2", "\"10.0.0.1\", \"10.0.0.3\"", "");
        let c = host("10.0.0.3", "\"10.0.0.1\", \"10.0.0.2\"", "");
        let d = disagreements(&[("a".into(), &a), ("b".into(), &b), ("c".into(), &c)]).join("\n");
        assert!(
            d.contains("a: network \"s\" (VNI 150) does not list 10.0.0.3 (c) in its peers"),
            "{d}"
        );
    }
}
