//! What to tell FRR so that its BGP sessions are the config's: pure, from
//! the plan and what FRR reports. netagent's sessions carry the description
//! `netagent`: that is how it tells them from sessions the host's admin
//! configured in the same BGP instance, which it never touches.

use std::net::Ipv4Addr;

use crate::plan::EvpnPlan;

/// The description that marks a BGP neighbour as netagent's.
pub const MARK: &str = "netagent";

/// One BGP neighbour as FRR reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub addr: Ipv4Addr,
    /// Carries netagent's mark.
    pub ours: bool,
    /// FRR's BGP state: `Established`, `Active`, `Connect`, `Idle`...
    pub state: String,
    /// Activated for the l2vpn evpn address family.
    pub evpn: bool,
}

/// What FRR runs now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrrState {
    /// The BGP instance's AS, if one runs.
    pub asn: Option<u32>,
    pub neighbors: Vec<Neighbor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("FRR already runs BGP as AS {have}, and [evpn] asn is {want}: one BGP instance per host; set asn = {have}, or change FRR's")]
    Asn { have: u32, want: u32 },
}

/// The vtysh lines that make FRR's sessions the plan's, or nothing when
/// they are already (`force`: say everything again anyway, after a start
/// or a reload, for what FRR does not report, like `advertise-all-vni`).
/// With no plan, netagent's own sessions go.
pub fn commands(want: Option<&EvpnPlan>, have: &FrrState, force: bool) -> Result<Vec<String>, Conflict> {
    let ours_left = |keep: &[Ipv4Addr]| -> Vec<Ipv4Addr> {
        have.neighbors
            .iter()
            .filter(|n| n.ours && !keep.contains(&n.addr))
            .map(|n| n.addr)
            .collect()
    };
    let Some(p) = want else {
        let stale = ours_left(&[]);
        let Some(asn) = have.asn.filter(|_| !stale.is_empty()) else {
            return Ok(Vec::new());
        };
        let mut out = vec!["configure terminal".to_string(), format!("router bgp {asn}")];
        out.extend(stale.iter().map(|n| format!("no neighbor {n}")));
        return Ok(out);
    };
    if let Some(a) = have.asn.filter(|a| *a != p.asn) {
        return Err(Conflict::Asn { have: a, want: p.asn });
    }
    let stale = ours_left(&p.neighbors);
    let missing = p
        .neighbors
        .iter()
        .any(|addr| !have.neighbors.iter().any(|n| n.addr == *addr && n.ours && n.evpn));
    if !force && !missing && stale.is_empty() && have.asn.is_some() {
        return Ok(Vec::new());
    }
    let mut out = vec![
        "configure terminal".to_string(),
        format!("router bgp {}", p.asn),
        format!("bgp router-id {}", p.router_id),
        // Only the sessions' EVPN routes: no IPv4 routes to or from them.
        "no bgp default ipv4-unicast".to_string(),
    ];
    out.extend(stale.iter().map(|n| format!("no neighbor {n}")));
    for n in &p.neighbors {
        out.push(format!("neighbor {n} remote-as {}", p.asn));
        out.push(format!("neighbor {n} description {MARK}"));
        out.push(format!("neighbor {n} update-source {}", p.router_id));
        // Data-centre timers (FRR's `datacenter` profile): a host that
        // comes up is peered within seconds, not after the 120 s default
        // retry, and one that is gone is noticed in 9 s.
        out.push(format!("neighbor {n} timers connect 5"));
        out.push(format!("neighbor {n} timers 3 9"));
    }
    out.push("address-family l2vpn evpn".into());
    for n in &p.neighbors {
        out.push(format!("neighbor {n} activate"));
    }
    // Every VNI zebra finds (the VXLAN devices netagent made) is advertised,
    // and the home's bridge (the gateway: its MAC and address) with it, so
    // the other hosts send frames for the gateway to the home alone instead
    // of flooding them to every host (their VXLAN ports learn nothing).
    out.push("advertise-all-vni".into());
    out.push("advertise-svi-ip".into());
    out.push("exit-address-family".into());
    Ok(out)
}

/// FRR's state from `show bgp neighbors json` (every session, with its
/// description and state) and `show bgp l2vpn evpn summary json` (those
/// activated for EVPN, and the AS). Empty input: no BGP instance runs.
pub fn parse_state(neighbors: &str, evpn_summary: &str) -> Result<FrrState, String> {
    let mut st = FrrState::default();
    let nb: serde_json::Value = if neighbors.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(neighbors).map_err(|e| format!("show bgp neighbors json: {e}"))?
    };
    let sum: serde_json::Value = if evpn_summary.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(evpn_summary).map_err(|e| format!("show bgp l2vpn evpn summary json: {e}"))?
    };
    let evpn_peers = sum.get("peers").and_then(|p| p.as_object());
    st.asn = sum
        .get("as")
        .and_then(|a| a.as_u64())
        .and_then(|a| u32::try_from(a).ok());
    if let Some(map) = nb.as_object() {
        for (k, v) in map {
            let Ok(addr) = k.parse::<Ipv4Addr>() else { continue };
            if st.asn.is_none() {
                st.asn = v
                    .get("localAs")
                    .and_then(|a| a.as_u64())
                    .and_then(|a| u32::try_from(a).ok());
            }
            st.neighbors.push(Neighbor {
                addr,
                ours: v.get("nbrDesc").and_then(|d| d.as_str()) == Some(MARK),
                state: v
                    .get("bgpState")
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown")
                    .to_string(),
                evpn: evpn_peers.is_some_and(|p| p.contains_key(k)),
            });
        }
    }
    st.neighbors.sort_by_key(|n| n.addr);
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(neighbors: &[&str]) -> EvpnPlan {
        EvpnPlan {
            asn: 65000,
            router_id: "10.0.0.1".parse().unwrap(),
            neighbors: neighbors.iter().map(|n| n.parse().unwrap()).collect(),
            vnis: vec![150],
            vtysh: "vtysh".into(),
            pathspace: None,
        }
    }

    fn nb(addr: &str, ours: bool, evpn: bool) -> Neighbor {
        Neighbor {
            addr: addr.parse().unwrap(),
            ours,
            state: "Established".into(),
            evpn,
        }
    }

    #[test]
    fn a_fresh_frr_gets_the_whole_instance() {
        let c = commands(Some(&plan(&["10.0.0.2"])), &FrrState::default(), false).unwrap();
        for line in [
            "router bgp 65000",
            "bgp router-id 10.0.0.1",
            "neighbor 10.0.0.2 remote-as 65000",
            "neighbor 10.0.0.2 description netagent",
            "address-family l2vpn evpn",
            "neighbor 10.0.0.2 activate",
            "advertise-all-vni",
            "advertise-svi-ip",
        ] {
            assert!(c.iter().any(|l| l == line), "{line} missing: {c:?}");
        }
    }

    #[test]
    fn in_sync_means_nothing_to_say_and_only_our_sessions_go() {
        let have = FrrState {
            asn: Some(65000),
            neighbors: vec![
                nb("10.0.0.2", true, true),
                nb("10.0.0.3", true, true),
                nb("192.0.2.9", false, false),
            ],
        };
        assert!(commands(Some(&plan(&["10.0.0.2", "10.0.0.3"])), &have, false)
            .unwrap()
            .is_empty());
        // 10.0.0.3 leaves the config; the admin's own session stays.
        let c = commands(Some(&plan(&["10.0.0.2"])), &have, false).unwrap();
        assert!(c.contains(&"no neighbor 10.0.0.3".to_string()), "{c:?}");
        assert!(!c.iter().any(|l| l.contains("192.0.2.9")), "{c:?}");
        // EVPN gone from the config: our sessions go, the instance stays.
        let c = commands(None, &have, false).unwrap();
        assert_eq!(
            c,
            vec![
                "configure terminal",
                "router bgp 65000",
                "no neighbor 10.0.0.2",
                "no neighbor 10.0.0.3"
            ]
        );
    }

    #[test]
    fn another_as_is_a_conflict_not_a_takeover() {
        let have = FrrState {
            asn: Some(64512),
            neighbors: vec![],
        };
        let e = commands(Some(&plan(&["10.0.0.2"])), &have, false).unwrap_err();
        assert!(e.to_string().contains("set asn = 64512"), "{e}");
    }

    #[test]
    fn frrs_json_is_read() {
        let nb = r#"{"10.0.0.2":{"nbrDesc":"netagent","bgpState":"Established","localAs":65000},
                     "10.0.0.9":{"bgpState":"Active","localAs":65000}}"#;
        let sum = r#"{"as":65000,"peers":{"10.0.0.2":{"state":"Established"}}}"#;
        let st = parse_state(nb, sum).unwrap();
        assert_eq!(st.asn, Some(65000));
        assert_eq!(
            st.neighbors,
            vec![
                nb_("10.0.0.2", true, "Established", true),
                nb_("10.0.0.9", false, "Active", false)
            ]
        );
        assert_eq!(parse_state("", "").unwrap(), FrrState::default());
        assert!(parse_state("{", "").is_err());
    }

    fn nb_(addr: &str, ours: bool, state: &str, evpn: bool) -> Neighbor {
        Neighbor {
            addr: addr.parse().unwrap(),
            ours,
            state: state.into(),
            evpn,
        }
    }
}
