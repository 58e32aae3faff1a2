//! The nftables ruleset for a config, as `nftables` crate objects in one
//! table of our own, `inet netagent`. The rules follow libvirt's network
//! firewall, kind by kind; each builder quotes the nft rule it makes.

use std::borrow::Cow;

use ipnet::{Ipv4Net, Ipv6Net};
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
    Range, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::config::units::PortRange;
use crate::config::{Forward, Kind};
use crate::plan::BridgePlan;

pub const TABLE: &str = "netagent";
const FAMILY: NfFamily = NfFamily::INet;

pub(super) type Stmts = Vec<Statement<'static>>;

pub(super) fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}

pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn net(n: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(n.network().to_string())),
        len: u32::from(n.prefix_len()),
    }))
}

fn net6(n: Ipv6Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(n.network().to_string())),
        len: u32::from(n.prefix_len()),
    }))
}

pub(super) fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

pub(super) fn iif(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Iifname), Operator::EQ, s(name))
}

pub(super) fn oif(name: &str) -> Statement<'static> {
    m(meta(MetaKey::Oifname), Operator::EQ, s(name))
}

fn saddr(n: Ipv4Net) -> Statement<'static> {
    m(payload("ip", "saddr"), Operator::EQ, net(n))
}

fn daddr(n: Ipv4Net) -> Statement<'static> {
    m(payload("ip", "daddr"), Operator::EQ, net(n))
}

fn saddr6(n: Ipv6Net) -> Statement<'static> {
    m(payload("ip6", "saddr"), Operator::EQ, net6(n))
}

fn daddr6(n: Ipv6Net) -> Statement<'static> {
    m(payload("ip6", "daddr"), Operator::EQ, net6(n))
}

fn established() -> Statement<'static> {
    m(
        ct("state"),
        Operator::IN,
        Expression::List(vec![s("established"), s("related")]),
    )
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

pub(super) fn reject() -> Statement<'static> {
    Statement::Reject(None)
}

/// `left` equals none of `items`: one `!=` per item, never `!= { ... }`.
/// The whole table is replaced in one transaction, and a set the
/// transaction creates is consulted by its new rules a moment before the
/// kernel has built the set's lookup structure (interval sets: rbtree or
/// pipapo, filled at the end of the commit): a lookup then misses, `!=`
/// holds, and a guest's packet was dropped during a reload (1 query in
/// ~10 reloads; `nft -f` in a loop under `ping -f` drops ~1 in 1,000).
/// Plain compares have nothing to build.
pub(super) fn none_of(left: &Expression<'static>, items: Vec<Expression<'static>>) -> Stmts {
    items
        .into_iter()
        .map(|it| m(left.clone(), Operator::NEQ, it))
        .collect()
}

/// An anonymous set for positive matches only (see `none_of`), and only
/// of plain values: a set of prefixes or ranges would miss during the
/// transaction that creates it.
pub(super) fn set(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        items.into_iter().map(SetItem::Element).collect(),
    ))
}

fn range(a: Expression<'static>, b: Expression<'static>) -> Expression<'static> {
    Expression::Range(Box::new(Range { range: [a, b] }))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

fn ports(p: PortRange) -> Expression<'static> {
    if p.start == p.end {
        Expression::Number(u32::from(p.start))
    } else {
        range(
            Expression::Number(u32::from(p.start)),
            Expression::Number(u32::from(p.end)),
        )
    }
}

/// `ip daddr 192.168.122.10 meta l4proto tcp th dport 80`: a forward's
/// traffic after DNAT.
fn to_guest(f: &Forward) -> Stmts {
    vec![
        m(payload("ip", "daddr"), Operator::EQ, s(f.to.to_string())),
        m(meta(MetaKey::L4proto), Operator::EQ, s(f.protocol.name())),
        m(payload("th", "dport"), Operator::EQ, ports(f.to_ports())),
    ]
}

pub(super) struct Builder {
    objects: Vec<NfObject<'static>>,
}

impl Builder {
    pub(super) fn chain(&mut self, name: &str, hook: Option<(NfChainType, NfHook, i32)>) {
        let (kind, hook, prio, policy) = match hook {
            Some((t, h, p)) => (Some(t), Some(h), Some(p), Some(NfChainPolicy::Accept)),
            None => (None, None, None, None),
        };
        self.objects.push(NfObject::ListObject(NfListObject::Chain(Chain {
            family: FAMILY,
            table: TABLE.into(),
            name: Cow::Owned(name.into()),
            _type: kind,
            hook,
            prio,
            policy,
            ..Chain::default()
        })));
    }

    pub(super) fn rule(&mut self, chain: &str, expr: Stmts) {
        self.objects.push(NfObject::ListObject(NfListObject::Rule(Rule {
            family: FAMILY,
            table: TABLE.into(),
            chain: Cow::Owned(chain.into()),
            expr: Cow::Owned(expr),
            ..Rule::default()
        })));
    }
}

/// Networks whose forwarded traffic we filter (libvirt adds rules for these
/// only; `open` and `bridge` are left to the host's own rules).
fn filtered(n: &BridgePlan) -> bool {
    matches!(n.kind, Kind::Nat | Kind::Route | Kind::Isolated) && n.address.is_some()
}

/// The whole ruleset for the plan's bridges. Empty (no table at all) when
/// no network needs a rule.
pub fn ruleset(bridges: &[BridgePlan]) -> Nftables<'static> {
    let mut b = Builder { objects: Vec::new() };
    let fwd: Vec<&BridgePlan> = bridges.iter().filter(|n| filtered(n)).collect();
    let dns: Vec<&BridgePlan> = bridges.iter().filter(|n| n.dns && n.address.is_some()).collect();
    let nat: Vec<&BridgePlan> = bridges
        .iter()
        .filter(|n| n.kind == Kind::Nat && n.address.is_some())
        .collect();
    let spanned = bridges.iter().any(|n| n.span.is_some());
    if fwd.is_empty() && dns.is_empty() && !spanned {
        return Nftables {
            objects: Cow::Owned(Vec::new()),
        };
    }
    b.objects.push(NfObject::ListObject(NfListObject::Table(Table {
        family: FAMILY,
        name: TABLE.into(),
        handle: None,
    })));

    if !fwd.is_empty() {
        forward_chains(&mut b, &fwd);
    }
    if nat.iter().any(|n| !n.forwards.is_empty()) {
        port_forward_chains(&mut b, bridges, &nat);
    }
    if !dns.is_empty() {
        input_chain(&mut b, &dns);
    }
    if !nat.is_empty() {
        nat_chain(&mut b, &nat);
    }
    if spanned {
        super::span::chains(&mut b, bridges);
    }
    Nftables {
        objects: Cow::Owned(b.objects),
    }
}

/// libvirt's three forward chains, evaluated in its order: traffic within
/// one bridge, then into a guest network, then out of one.
fn forward_chains(b: &mut Builder, nets: &[&BridgePlan]) {
    b.chain("forward", Some((NfChainType::Filter, NfHook::Forward, 0)));
    // First what no accept below may let through: a guest's forged source,
    // and anything leaving an isolated network. (The accepts of traffic
    // into a network, port forwards included, would otherwise come first.)
    b.chain("guest_guard", None);
    b.chain("guest_cross", None);
    b.chain("guest_input", None);
    b.chain("guest_output", None);
    for c in ["guest_guard", "guest_cross", "guest_input", "guest_output"] {
        // jump guest_cross
        b.rule("forward", vec![Statement::Jump(JumpTarget { target: c.into() })]);
    }
    for n in nets {
        let Some(sub) = n.address.map(|a| a.trunc()) else {
            continue;
        };
        let br = n.name.as_str();
        let prefix6 = n.address6.map(|a| a.trunc());
        // The guests' subnet, and the subnets routed behind guests by the
        // network's static routes: both are "inside" this network.
        let inside: Vec<Ipv4Net> = std::iter::once(sub)
            .chain(n.routes.iter().map(|r| r.to))
            .collect();
        if n.kind == Kind::Isolated {
            // iifname "virbr2" oifname != "virbr2" reject
            b.rule(
                "guest_guard",
                vec![
                    iif(br),
                    m(meta(MetaKey::Oifname), Operator::NEQ, s(br.to_string())),
                    reject(),
                ],
            );
        } else {
            // iifname "virbr0" ip saddr != 192.168.122.0/24 reject
            let own: Vec<Expression<'static>> = inside.iter().map(|n| net(*n)).collect();
            let mut r = vec![iif(br)];
            r.extend(none_of(&payload("ip", "saddr"), own));
            r.push(reject());
            b.rule("guest_guard", r);
            // iifname "virbr0" ip6 saddr != fd00:122::/64 reject
            if let Some(p6) = prefix6 {
                b.rule(
                    "guest_guard",
                    vec![
                        iif(br),
                        m(payload("ip6", "saddr"), Operator::NEQ, net6(p6)),
                        reject(),
                    ],
                );
            }
        }
        // iifname "virbr0" oifname "virbr0" accept
        b.rule("guest_cross", vec![iif(br), oif(br), accept()]);
        // With an egress (libvirt's <forward dev=...>), traffic comes in
        // and goes out by that interface only: [iifname "eth1"].
        let from_egress = || n.egress.as_deref().map(iif).into_iter();
        for &net in &inside {
            match n.kind {
                Kind::Nat => {
                    // [iifname "eth1"] oifname "virbr0" ip daddr 192.168.122.0/24 ct state established,related accept
                    b.rule(
                        "guest_input",
                        from_egress()
                            .chain([oif(br), daddr(net), established(), accept()])
                            .collect(),
                    );
                }
                Kind::Route => {
                    // [iifname "eth1"] oifname "virbr1" ip daddr 192.168.100.0/24 accept
                    b.rule(
                        "guest_input",
                        from_egress().chain([oif(br), daddr(net), accept()]).collect(),
                    );
                }
                _ => {}
            }
        }
        // IPv6 into the guests: routed as libvirt does on a NAT network,
        // answers only when its IPv6 is masqueraded too.
        if let (Some(p6), Kind::Nat | Kind::Route) = (prefix6, n.kind) {
            let nat6 = n.nat.as_ref().is_some_and(|x| x.ipv6);
            // [iifname "eth1"] oifname "virbr0" ip6 daddr fd00:122::/64 [ct state established,related] accept
            b.rule(
                "guest_input",
                from_egress()
                    .chain([oif(br), daddr6(p6)])
                    .chain(nat6.then(established))
                    .chain([accept()])
                    .collect(),
            );
        }
        for f in &n.forwards {
            // oifname "virbr0" ip daddr 192.168.122.10 meta l4proto tcp th dport 80 ct status dnat accept
            let mut r = vec![oif(br)];
            r.extend(to_guest(f));
            r.push(m(ct("status"), Operator::IN, s("dnat")));
            r.push(accept());
            b.rule("guest_input", r);
        }
        // oifname "virbr0" reject
        b.rule("guest_input", vec![oif(br), reject()]);
        if n.kind != Kind::Isolated {
            for &net in &inside {
                // iifname "virbr0" [oifname "eth1"] ip saddr 192.168.122.0/24 accept
                let to_egress = n.egress.as_deref().map(oif);
                b.rule(
                    "guest_output",
                    std::iter::once(iif(br))
                        .chain(to_egress)
                        .chain([saddr(net), accept()])
                        .collect(),
                );
            }
            if let Some(p6) = prefix6 {
                // iifname "virbr0" [oifname "eth1"] ip6 saddr fd00:122::/64 accept
                b.rule(
                    "guest_output",
                    std::iter::once(iif(br))
                        .chain(n.egress.as_deref().map(oif))
                        .chain([saddr6(p6), accept()])
                        .collect(),
                );
            }
        }
        // iifname "virbr0" reject   (spoofed sources; everything, if isolated)
        b.rule("guest_output", vec![iif(br), reject()]);
    }
}

/// Port forwarding: a connection to a forwarded port on any of the
/// appliance's own addresses (the uplink's, whatever DHCP gave it) is sent
/// to the guest, whether it comes from outside, from a guest (hairpin) or
/// from the appliance itself. The bridges' addresses are left alone, so a
/// forward can never take over the DNS or DHCP the guests rely on.
fn port_forward_chains(b: &mut Builder, all: &[BridgePlan], nat: &[&BridgePlan]) {
    b.chain("prerouting", Some((NfChainType::NAT, NfHook::Prerouting, -100)));
    b.chain("output", Some((NfChainType::NAT, NfHook::Output, -100)));
    b.chain("port_forward", None);
    let local = || {
        let mut flags = std::collections::HashSet::new();
        flags.insert(FibFlag::Daddr);
        m(
            Expression::Named(NamedExpression::Fib(Fib {
                result: FibResult::Type,
                flags,
            })),
            Operator::EQ,
            s("local"),
        )
    };
    let jump = || {
        Statement::Jump(JumpTarget {
            target: "port_forward".into(),
        })
    };
    // fib daddr type local jump port_forward
    b.rule("prerouting", vec![local(), jump()]);
    // ip daddr != 127.0.0.0/8 fib daddr type local jump port_forward
    let lo = Ipv4Net::new([127, 0, 0, 0].into(), 8).unwrap_or_default();
    b.rule(
        "output",
        vec![m(payload("ip", "daddr"), Operator::NEQ, net(lo)), local(), jump()],
    );
    // ip daddr { 192.168.122.1, ... } return
    let bridges: Vec<Expression<'static>> = all
        .iter()
        .filter_map(|n| n.address.map(|a| s(a.addr().to_string())))
        .collect();
    if !bridges.is_empty() {
        b.rule(
            "port_forward",
            vec![
                m(payload("ip", "daddr"), Operator::EQ, set(bridges)),
                Statement::Return(None),
            ],
        );
    }
    for n in nat {
        for f in &n.forwards {
            // meta l4proto tcp ip saddr 198.51.100.0/24 th dport 8080 dnat ip to 192.168.122.10:80
            // One rule per source prefix: a set of prefixes would miss
            // while a reload creates it (see `none_of`).
            let from: Vec<Option<Ipv4Net>> = match f.from.is_empty() {
                true => vec![None],
                false => f.from.iter().copied().map(Some).collect(),
            };
            for src in from {
                let mut r = vec![m(meta(MetaKey::L4proto), Operator::EQ, s(f.protocol.name()))];
                r.extend(src.map(saddr));
                r.push(m(payload("th", "dport"), Operator::EQ, ports(f.ports)));
                let moved = f.ports.start == f.ports.end && f.to_port != f.ports.start;
                r.push(Statement::DNAT(Some(NAT {
                    addr: Some(s(f.to.to_string())),
                    family: Some(NATFamily::IP),
                    port: moved.then(|| Expression::Number(u32::from(f.to_port))),
                    flags: None,
                })));
                b.rule("port_forward", r);
            }
        }
    }
}

/// The DNS server answers a bridge's guests and the appliance itself, never
/// the uplink side: netagent must not become an open resolver. DHCP needs no
/// rule: its sockets are bound to the guest bridges.
fn input_chain(b: &mut Builder, nets: &[&BridgePlan]) {
    b.chain("input", Some((NfChainType::Filter, NfHook::Input, 0)));
    for n in nets {
        let Some(addr) = n.address else { continue };
        // ip daddr 192.168.122.1 meta l4proto { tcp, udp } th dport 53 iifname != "virbr0" iifname != "lo" drop
        dns_from_the_bridge_only(b, "ip", addr.addr().to_string(), &n.name);
        // A guest cannot speak to the agent from an address that is not its
        // network's: our DNS would answer a forged address (reflection).
        // Strict rp_filter would do it, but a host's conf/all/rp_filter = 2
        // (systemd's default) overrides it.
        // iifname "virbr0" ip saddr != 0.0.0.0 ip saddr != 192.168.122.0/24 drop
        if filtered(n) {
            let mut own = vec![s("0.0.0.0"), net(addr.trunc())];
            own.extend(n.routes.iter().map(|r| net(r.to)));
            only_own_sources(b, "ip", &n.name, own);
        }
        let Some(a6) = n.address6 else { continue };
        // ip6 daddr fd00:122::1 meta l4proto { tcp, udp } th dport 53 iifname != "virbr0" iifname != "lo" drop
        dns_from_the_bridge_only(b, "ip6", a6.addr().to_string(), &n.name);
        // Neighbour discovery and DHCPv6 speak from link-local addresses
        // (and :: before a guest has one); nothing else may claim another
        // network's prefix.
        // iifname "virbr0" ip6 saddr != :: ip6 saddr != fe80::/10 ip6 saddr != fd00:122::/64 drop
        if filtered(n) {
            let ll =
                Ipv6Net::new(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10).unwrap_or_default();
            only_own_sources(b, "ip6", &n.name, vec![s("::"), net6(ll), net6(a6.trunc())]);
        }
    }
}

/// `<family> daddr ADDR meta l4proto { tcp, udp } th dport 53 iifname != BRIDGE iifname != "lo" drop`
fn dns_from_the_bridge_only(b: &mut Builder, family: &'static str, addr: String, bridge: &str) {
    let mut r = vec![
        m(payload(family, "daddr"), Operator::EQ, s(addr)),
        m(
            meta(MetaKey::L4proto),
            Operator::EQ,
            set(vec![s("tcp"), s("udp")]),
        ),
        m(payload("th", "dport"), Operator::EQ, Expression::Number(53)),
    ];
    r.extend(none_of(
        &meta(MetaKey::Iifname),
        vec![s(bridge.to_string()), s("lo")],
    ));
    r.push(Statement::Drop(None));
    b.rule("input", r);
}

/// `iifname BRIDGE <family> saddr != OWN1 <family> saddr != OWN2 ... drop`
fn only_own_sources(b: &mut Builder, family: &'static str, bridge: &str, own: Vec<Expression<'static>>) {
    let mut r = vec![m(meta(MetaKey::Iifname), Operator::EQ, s(bridge.to_string()))];
    r.extend(none_of(&payload(family, "saddr"), own));
    r.push(Statement::Drop(None));
    b.rule("input", r);
}

/// libvirt's masquerade rules: never for local multicast or broadcast, TCP
/// and UDP to unprivileged ports, then everything else.
fn nat_chain(b: &mut Builder, nets: &[&BridgePlan]) {
    b.chain("postrouting", Some((NfChainType::NAT, NfHook::Postrouting, 100)));
    for n in nets {
        let Some(own) = n.address.map(|a| a.trunc()) else {
            continue;
        };
        for f in &n.forwards {
            // A guest reaching a forward to a guest of its own bridge would
            // get the reply straight from it, past the DNAT: masquerade so the
            // reply comes back through the appliance.
            // oifname "virbr0" ip saddr 192.168.122.0/24 ip daddr 192.168.122.10 meta l4proto tcp th dport 80 ct status dnat masquerade
            let mut r = vec![oif(&n.name), saddr(own)];
            r.extend(to_guest(f));
            r.push(m(ct("status"), Operator::IN, s("dnat")));
            r.push(Statement::Masquerade(None));
            b.rule("postrouting", r);
        }
    }
    for n in nets {
        let Some(own) = n.address.map(|a| a.trunc()) else {
            continue;
        };
        let nat = n.nat.clone().unwrap_or_default();
        for sub in std::iter::once(own).chain(n.routes.iter().map(|r| r.to)) {
            // ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 return
            let mcast = Ipv4Net::new([224, 0, 0, 0].into(), 24).unwrap_or_default();
            b.rule(
                "postrouting",
                vec![saddr(sub), daddr(mcast), Statement::Return(None)],
            );
            // ip saddr 192.168.122.0/24 ip daddr 255.255.255.255 return
            b.rule(
                "postrouting",
                vec![
                    saddr(sub),
                    m(payload("ip", "daddr"), Operator::EQ, s("255.255.255.255")),
                    Statement::Return(None),
                ],
            );
            let not_local = m(payload("ip", "daddr"), Operator::NEQ, net(own));
            let ports = range(
                Expression::Number(u32::from(nat.ports.start)),
                Expression::Number(u32::from(nat.ports.end)),
            );
            let to = |port: Option<Expression<'static>>| -> Statement<'static> {
                match nat.address {
                    // snat ip to 203.0.113.10-203.0.113.20:1024-65535
                    Some(r) => Statement::SNAT(Some(NAT {
                        addr: Some(if r.start == r.end {
                            s(r.start.to_string())
                        } else {
                            range(s(r.start.to_string()), s(r.end.to_string()))
                        }),
                        family: Some(NATFamily::IP),
                        port,
                        flags: None,
                    })),
                    // masquerade to :1024-65535
                    None => Statement::Masquerade(port.map(|p| NAT {
                        addr: None,
                        family: None,
                        port: Some(p),
                        flags: None,
                    })),
                }
            };
            // meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade to :1024-65535
            // (and udp), then: ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade
            masquerade(b, n.egress.as_deref(), saddr(sub), not_local, ports.clone(), &to);
        }
    }
    // IPv6 NAT when asked (libvirt's <nat ipv6='yes'/>): the same shape,
    // to the uplink's address (an SNAT range is IPv4's).
    for n in nets {
        let (Some(a6), Some(nat)) = (n.address6, n.nat.as_ref().filter(|x| x.ipv6)) else {
            continue;
        };
        let p6 = a6.trunc();
        let mcast = Ipv6Net::new(std::net::Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8).unwrap_or_default();
        // ip6 saddr fd00:122::/64 ip6 daddr ff00::/8 return
        b.rule(
            "postrouting",
            vec![saddr6(p6), daddr6(mcast), Statement::Return(None)],
        );
        let not_local = m(payload("ip6", "daddr"), Operator::NEQ, net6(p6));
        let masq = |port: Option<Expression<'static>>| {
            Statement::Masquerade(port.map(|p| NAT {
                addr: None,
                family: None,
                port: Some(p),
                flags: None,
            }))
        };
        let ports = range(
            Expression::Number(u32::from(nat.ports.start)),
            Expression::Number(u32::from(nat.ports.end)),
        );
        // meta l4proto tcp ip6 saddr fd00:122::/64 ip6 daddr != fd00:122::/64 masquerade to :1024-65535
        // (and udp), then: ip6 saddr fd00:122::/64 ip6 daddr != fd00:122::/64 masquerade
        masquerade(b, n.egress.as_deref(), saddr6(p6), not_local, ports, &masq);
    }
}

/// libvirt's three NAT rules for one source: TCP and UDP to the port range,
/// then everything else; [oifname EGRESS] when the network has one (NAT
/// only what leaves by the egress).
fn masquerade(
    b: &mut Builder,
    egress: Option<&str>,
    from: Statement<'static>,
    not_local: Statement<'static>,
    ports: Expression<'static>,
    to: &dyn Fn(Option<Expression<'static>>) -> Statement<'static>,
) {
    for proto in ["tcp", "udp"] {
        b.rule(
            "postrouting",
            egress
                .map(oif)
                .into_iter()
                .chain([
                    m(meta(MetaKey::L4proto), Operator::EQ, s(proto)),
                    from.clone(),
                    not_local.clone(),
                    to(Some(ports.clone())),
                ])
                .collect(),
        );
    }
    b.rule(
        "postrouting",
        egress
            .map(oif)
            .into_iter()
            .chain([from, not_local, to(None)])
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every set in `v` (anonymous, in a match): none holds a prefix or a
    /// range, and none is the right side of `!=` (see `none_of`).
    fn sets_are_safe_to_replace(v: &Value, at: &str) -> Result<(), String> {
        match v {
            Value::Object(o) => {
                if let Some(Value::Object(mt)) = o.get("match") {
                    let right_is_set = mt.get("right").and_then(|r| r.get("set")).is_some();
                    if right_is_set && mt.get("op").and_then(Value::as_str) == Some("!=") {
                        return Err(format!("{at}: != against a set: {v}"));
                    }
                }
                if let Some(Value::Array(items)) = o.get("set") {
                    for it in items {
                        if it.get("prefix").is_some() || it.get("range").is_some() {
                            return Err(format!("{at}: a set of prefixes or ranges: {v}"));
                        }
                    }
                }
                o.values().try_for_each(|x| sets_are_safe_to_replace(x, at))
            }
            Value::Array(a) => a.iter().try_for_each(|x| sets_are_safe_to_replace(x, at)),
            _ => Ok(()),
        }
    }

    #[test]
    fn no_rule_depends_on_a_set_the_replacing_transaction_builds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut checked = 0;
        for e in std::fs::read_dir(&dir).expect("config/") {
            let path = e.expect("entry").path();
            let Ok((cfg, _)) = crate::config::load(Some(&path)) else {
                panic!("{} does not load", path.display())
            };
            let rs = super::ruleset(&crate::plan::plan(&cfg).bridges);
            let json = serde_json::to_value(&rs).expect("json");
            if let Err(e) = sets_are_safe_to_replace(&json, &path.display().to_string()) {
                panic!("{e}");
            }
            checked += usize::from(!rs.objects.is_empty());
        }
        assert!(checked >= 6, "only {checked} example rulesets");
    }
}
