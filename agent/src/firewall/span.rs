//! Rules for spanned networks. VXLAN has no authentication: whoever can
//! send a UDP packet to the tunnel port puts frames on the guests' segment.
//! So the tunnel port takes packets only from the other hosts, and never
//! from a guest (a guest could forge a peer's address); the same for BGP
//! with EVPN. On a host that is not a network's home, the bridge carries
//! frames and nothing else: the host has no address there, and a guest that
//! sends to the bridge's MAC must not reach the host or be routed by it.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use nftables::expr::{Expression, MetaKey};
use nftables::stmt::{Operator, Statement};
use nftables::types::{NfChainType, NfHook};

use super::ruleset::{iif, m, meta, none_of, oif, payload, reject, s, set, Builder, Stmts};
use crate::plan::BridgePlan;

/// BGP's TCP port.
const BGP: u16 = 179;

pub(super) fn chains(b: &mut Builder, bridges: &[BridgePlan]) {
    let spans: Vec<_> = bridges.iter().filter_map(|n| n.span.as_ref()).collect();
    let all_bridges = || set(bridges.iter().map(|n| s(n.name.clone())).collect());
    b.chain("span_input", Some((NfChainType::Filter, NfHook::Input, 0)));
    // One pair of rules per tunnel port and per set of hosts.
    let mut done: BTreeSet<(&str, u16, Vec<Ipv4Addr>)> = BTreeSet::new();
    let guarded = spans.iter().map(|sp| ("udp", sp.port, sp.vteps.clone())).chain(
        spans
            .iter()
            .filter(|sp| sp.evpn)
            .map(|sp| ("tcp", BGP, sp.vteps.clone())),
    );
    for (proto, port, hosts) in guarded {
        if !done.insert((proto, port, hosts.clone())) {
            continue;
        }
        // udp dport 4789 iifname { "virbr0", ... } drop
        b.rule(
            "span_input",
            vec![
                dport(proto, port),
                m(meta(MetaKey::Iifname), Operator::EQ, all_bridges()),
                Statement::Drop(None),
            ],
        );
        // udp dport 4789 ip saddr != 10.0.0.2 ip saddr != 10.0.0.3 drop
        let mut r: Stmts = vec![dport(proto, port)];
        if !hosts.is_empty() {
            let hosts = hosts.iter().map(|h| s(h.to_string())).collect();
            r.extend(none_of(&payload("ip", "saddr"), hosts));
        }
        r.push(Statement::Drop(None));
        b.rule("span_input", r);
    }
    let away: Vec<&BridgePlan> = bridges
        .iter()
        .filter(|n| n.span.as_ref().is_some_and(|sp| !sp.home))
        .collect();
    if away.is_empty() {
        return;
    }
    b.chain("span_forward", Some((NfChainType::Filter, NfHook::Forward, 0)));
    for n in away {
        // iifname "virbr0" drop
        b.rule("span_input", vec![iif(&n.name), Statement::Drop(None)]);
        // Routed in or out only: with br_netfilter, frames the bridge
        // carries between its ports pass this hook too, in and out of it.
        // iifname "virbr0" oifname != "virbr0" reject
        // oifname "virbr0" iifname != "virbr0" reject
        let not = |key, name: &str| m(meta(key), Operator::NEQ, s(name.to_string()));
        b.rule(
            "span_forward",
            vec![iif(&n.name), not(MetaKey::Oifname, &n.name), reject()],
        );
        b.rule(
            "span_forward",
            vec![oif(&n.name), not(MetaKey::Iifname, &n.name), reject()],
        );
    }
}

/// `udp dport 4789`
fn dport(proto: &'static str, port: u16) -> Statement<'static> {
    m(
        payload(proto, "dport"),
        Operator::EQ,
        Expression::Number(u32::from(port)),
    )
}
