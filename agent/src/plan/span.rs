//! Spanned networks in the plan: the VXLAN device each one needs, what this
//! host does for it (the home serves it; the others carry frames only), and
//! the BGP EVPN sessions FRR runs for them.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::config::{Config, Evpn, Flood, Network, Span};

/// A spanned network's VXLAN device on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanPlan {
    /// `vx<VNI>`: a port of the network's bridge.
    pub device: String,
    pub vni: u32,
    pub local: Ipv4Addr,
    pub port: u16,
    pub mtu: u32,
    /// With EVPN, FRR learns and programs the remote MACs, so the device
    /// and its bridge port learn nothing from the traffic, and the bridge
    /// answers ARP for the remote guests FRR knows (neighbour suppression).
    pub evpn: bool,
    /// This host is the network's gateway.
    pub home: bool,
    /// Static peers: the flood list (one all-zero FDB entry per host) that
    /// netagent keeps. Empty with EVPN: FRR keeps it.
    pub flood: Vec<Ipv4Addr>,
    /// The hosts whose VXLAN packets are let in: the peers, or the EVPN
    /// neighbours.
    pub vteps: Vec<Ipv4Addr>,
}

impl SpanPlan {
    pub fn learning(&self) -> bool {
        !self.evpn
    }

    pub fn neigh_suppress(&self) -> bool {
        self.evpn
    }
}

pub(super) fn device(n: &Network, evpn: Option<&Evpn>) -> Option<SpanPlan> {
    let s = n.span.as_ref()?;
    Some(SpanPlan {
        device: s.device(),
        vni: s.vni,
        local: s.local,
        port: s.port,
        mtu: n.mtu.unwrap_or(s.underlay_mtu - crate::config::VXLAN_OVERHEAD),
        evpn: s.flood == Flood::Evpn,
        home: s.is_home(),
        flood: match &s.flood {
            Flood::Static(peers) => peers.clone(),
            Flood::Evpn => Vec::new(),
        },
        vteps: s.vteps(evpn).to_vec(),
    })
}

/// The config as this host serves it: a spanned network whose home is
/// another host keeps its bridge (and the guests' ports and the VXLAN
/// device on it) but none of the gateway's parts, so its guests take their
/// address, lease, names and way out from the home, as on one host.
pub fn local_view(cfg: &Config) -> Cow<'_, Config> {
    let away = |n: &Network| n.span.as_ref().is_some_and(|s| !s.is_home());
    if !cfg.networks.iter().any(away) {
        return Cow::Borrowed(cfg);
    }
    let mut out = cfg.clone();
    for n in out.networks.iter_mut().filter(|n| away(n)) {
        // The bridge's MAC is the gateway's on the home (the name's stable
        // MAC, or the one the config gives): a second bridge on the segment
        // with that MAC would take the guests' frames for the gateway.
        let local = n.span.as_ref().map(|s| s.local).unwrap_or(Ipv4Addr::UNSPECIFIED);
        n.mac = Some(super::stable_mac(&format!("{}@{local}", n.bridge)));
        n.address = None;
        n.address6 = None;
        n.delegated = None;
        n.egress = None;
        n.routes.clear();
        n.nat = None;
        n.dhcp = None;
        n.dhcp6 = None;
        n.dns = None;
        n.forwards.clear();
    }
    Cow::Owned(out)
}

/// The BGP side of EVPN, as FRR must run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnPlan {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub neighbors: Vec<Ipv4Addr>,
    /// The VNIs FRR advertises (all of this host's EVPN-spanned networks).
    pub vnis: Vec<u32>,
    pub vtysh: String,
    pub pathspace: Option<String>,
}

pub(super) fn evpn(cfg: &Config) -> Option<EvpnPlan> {
    let e = cfg.evpn.as_ref()?;
    let spans: Vec<&Span> = cfg
        .networks
        .iter()
        .filter_map(|n| n.span.as_ref())
        .filter(|s| s.flood == Flood::Evpn)
        .collect();
    let first = spans.first()?;
    Some(EvpnPlan {
        asn: e.asn,
        router_id: e.router_id.unwrap_or(first.local),
        neighbors: e.neighbors.clone(),
        vnis: spans.iter().map(|s| s.vni).collect(),
        vtysh: e.vtysh.clone(),
        pathspace: e.pathspace.clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::plan::plan;

    fn host(me: &str, peers: &str) -> String {
        format!(
            "[uplink]\ninterface = \"eth0\"\naddress = \"{me}/24\"\n\n[[network]]\nname = \"s\"\nbridge = \"brs\"\naddress = \"192.168.150.1/24\"\n[network.dhcp]\n[network.span]\nvni = 150\nhome = \"10.0.0.1\"\npeers = [{peers}]\n"
        )
    }

    #[test]
    fn the_home_serves_and_the_others_only_carry_frames() {
        let home = plan(&parse(&host("10.0.0.1", "\"10.0.0.2\""), "a").expect("a"));
        let away = plan(&parse(&host("10.0.0.2", "\"10.0.0.1\""), "b").expect("b"));
        let (h, a) = (&home.bridges[0], &away.bridges[0]);
        assert_eq!(
            h.address.map(|x| x.to_string()).as_deref(),
            Some("192.168.150.1/24")
        );
        assert_eq!((home.dhcp.len(), home.dns.len()), (1, 1));
        assert_eq!(a.address, None);
        assert!(away.dhcp.is_empty() && away.dns.is_empty() && a.nat.is_none());
        // Two bridges with the gateway's MAC on one segment would steal its frames.
        assert_ne!(h.mac, a.mac);
        let (hs, as_) = (h.span.as_ref().expect("span"), a.span.as_ref().expect("span"));
        assert!(hs.home && !as_.home);
        assert_eq!((hs.device.as_str(), hs.mtu, hs.learning()), ("vx150", 1450, true));
        assert!(h.ports.contains(&"vx150".to_string()));
        assert_eq!(as_.flood, vec!["10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]);
        // The DHCP server tells the guests the overlay's MTU.
        assert_eq!(home.dhcp[0].options.mtu, Some(1450));
        let rules = crate::firewall::render::render(&crate::firewall::ruleset(&away.bridges));
        assert!(
            rules.contains("udp dport 4789 ip saddr != 10.0.0.1 drop"),
            "{rules}"
        );
        assert!(
            rules.contains("iifname \"brs\" oifname != \"brs\" reject"),
            "{rules}"
        );
        assert!(rules.contains("iifname \"brs\" drop"), "{rules}");
        let rules = crate::firewall::render::render(&crate::firewall::ruleset(&home.bridges));
        assert!(
            rules.contains("udp dport 4789 iifname { \"brs\" } drop"),
            "{rules}"
        );
        assert!(!rules.contains("span_forward"), "{rules}");
    }

    #[test]
    fn evpn_plans_frrs_sessions_and_leaves_learning_to_it() {
        let src = host("10.0.0.1", "").replace("peers = []", "evpn = true")
            + "[evpn]\nasn = 65000\nneighbors = [\"10.0.0.2\"]\n";
        let p = plan(&parse(&src, "a").expect("valid"));
        let e = p.evpn.as_ref().expect("evpn");
        assert_eq!(
            (e.asn, e.router_id.to_string(), e.vnis.clone()),
            (65000, "10.0.0.1".into(), vec![150])
        );
        let s = p.bridges[0].span.as_ref().expect("span");
        assert!(!s.learning() && s.neigh_suppress() && s.flood.is_empty());
        let rules = crate::firewall::render::render(&crate::firewall::ruleset(&p.bridges));
        assert!(
            rules.contains("tcp dport 179 ip saddr != 10.0.0.2 drop"),
            "{rules}"
        );
    }
}
