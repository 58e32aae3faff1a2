//! Port security's rules (pure): the `bridge netagent` table, which looks
//! at every frame a port of a guarded network's bridge receives, before
//! the bridge forwards it or hands it to the host. libvirt and dnsmasq
//! guard nothing here; OpenStack's and OVN's port security and Proxmox's
//! MAC filter are the model.
//!
//! - Guest ports (taps, veths: one machine each) may send only from the
//!   first MAC seen on them (the kernel pins it, `port_mac`), never as a
//!   DHCP or DHCPv6 server, never router advertisements or redirects;
//!   once a port holds a lease (or a declared static address), only from
//!   those addresses; and no port may claim an address another holds, the
//!   gateway's included, in its IP source, its ARP or its neighbour
//!   advertisements.
//! - Segment ports (physical NICs, many machines behind each) get the
//!   server guard alone.
//! - Trusted ports (the config's `trusted`, a span's VXLAN device) and the
//!   ports of unguarded bridges pass untouched.
//! - DHCP and DHCPv6 from a guest port carry the port's index as their
//!   packet mark, so the DHCP server knows the port a request came from.
//!
//! The rules never change with the guests: which port is what, which
//! addresses it holds, are set elements, which the daemon keeps (see
//! `Elements`), so an update never drops the MACs the kernel has pinned.
//! Only the neighbour-advertisement guard for the gateways' IPv6 addresses
//! (`na_guard`) follows the plan.
//!
//! Written as nftables JSON directly (`serde_json`), not through the
//! `nftables` crate's types: they have no interface-index sets and no
//! per-element counters, which this table needs. It still goes to `nft -j`
//! in one atomic batch.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

use crate::plan::PortGuard;

pub const TABLE: &str = "netagent";
const FAMILY: &str = "bridge";

/// Per port, how many frames each guard dropped: a foreign MAC, a server's
/// message, an address that is not the port's.
pub const DROP_SETS: [(&str, &str); 3] = [
    ("drops_mac", "foreign MAC"),
    ("drops_server", "server or router message"),
    ("drops_addr", "address not its own"),
];

fn obj(kind: &str, body: Value) -> Value {
    let mut b = body;
    if let Some(o) = b.as_object_mut() {
        o.insert("family".into(), json!(FAMILY));
        o.insert("table".into(), json!(TABLE));
    }
    json!({ kind: b })
}

fn add(v: Value) -> Value {
    json!({ "add": v })
}

fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({ "payload": { "protocol": protocol, "field": field } })
}

fn m(left: Value, op: &str, right: Value) -> Value {
    json!({ "match": { "op": op, "left": left, "right": right } })
}

fn set_ref(name: &str) -> Value {
    json!(format!("@{name}"))
}

fn concat(a: Value, b: Value) -> Value {
    json!({ "concat": [a, b] })
}

/// `update @SET { iif counter } drop`: counted per port, then dropped.
fn drop_counted(set: &str) -> [Value; 2] {
    [
        json!({ "set": { "op": "update", "elem": meta("iif"), "set": set_ref(set), "stmt": [{ "counter": null }] } }),
        json!({ "drop": null }),
    ]
}

fn rule(chain: &str, mut expr: Vec<Value>) -> Value {
    add(obj(
        "rule",
        json!({ "chain": chain, "expr": std::mem::take(&mut expr) }),
    ))
}

/// A set; those the rules add to are made dynamic by nft itself (its JSON
/// has no word for the flag).
fn set(name: &str, ty: Value) -> Value {
    add(obj("set", json!({ "name": name, "type": ty })))
}

/// The commands that make the table anew (whatever was there goes, the
/// pinned MACs with it): sets, chains and the rules that never change,
/// then `na_guard`'s for these guards. Empty when nothing is guarded, and
/// then the table is removed.
pub fn table(guards: &[PortGuard]) -> Vec<Value> {
    let t = json!({ "name": TABLE });
    let mut out = vec![
        add(obj("table", t.clone())),
        json!({ "delete": obj("table", t.clone()) }),
    ];
    if guards.is_empty() {
        return out;
    }
    out.push(add(obj("table", t)));
    let idx = json!("iface_index");
    out.push(set("guests", idx.clone()));
    out.push(set("segments", idx.clone()));
    out.push(set("port_seen", idx.clone()));
    out.push(set("port_mac", json!(["iface_index", "ether_addr"])));
    out.push(set("port_ip4", json!(["iface_index", "ipv4_addr"])));
    out.push(set("port_ip6", json!(["iface_index", "ipv6_addr"])));
    out.push(set("bound4", idx.clone()));
    out.push(set("bound6", idx.clone()));
    out.push(set("claimed4", json!("ipv4_addr")));
    out.push(set("claimed6", json!("ipv6_addr")));
    for (name, _) in DROP_SETS {
        out.push(set(name, idx.clone()));
    }
    out.push(add(obj(
        "map",
        json!({ "name": "port_marks", "type": "iface_index", "map": "mark" }),
    )));
    out.push(add(obj(
        "chain",
        json!({ "name": "prerouting", "type": "filter", "hook": "prerouting", "prio": -200, "policy": "accept" }),
    )));
    for c in ["servers", "arp_guard", "ip4_guard", "ip6_guard", "na_guard"] {
        out.push(add(obj("chain", json!({ "name": c }))));
    }
    out.extend(prerouting());
    out.extend(na_guard(guards, &BTreeSet::new()));
    out
}

/// The rules that never change.
fn prerouting() -> Vec<Value> {
    let iif = || meta("iif");
    let goto = |c: &str| json!({ "goto": { "target": c } });
    let jump = |c: &str| json!({ "jump": { "target": c } });
    let mut r = vec![
        // A NIC's segment: the server guard alone.
        rule(
            "prerouting",
            vec![m(iif(), "==", set_ref("segments")), goto("servers")],
        ),
        rule(
            "prerouting",
            vec![m(iif(), "!=", set_ref("guests")), json!({ "accept": null })],
        ),
        // The first MAC a guest port sends from is its own (pinned).
        rule(
            "prerouting",
            vec![
                m(iif(), "!=", set_ref("port_seen")),
                json!({ "set": { "op": "add", "elem": concat(iif(), payload("ether", "saddr")), "set": set_ref("port_mac") } }),
                json!({ "set": { "op": "add", "elem": iif(), "set": set_ref("port_seen") } }),
            ],
        ),
    ];
    let mut mac = vec![m(
        concat(iif(), payload("ether", "saddr")),
        "!=",
        set_ref("port_mac"),
    )];
    mac.extend(drop_counted("drops_mac"));
    r.push(rule("prerouting", mac));
    // Only UDP and ICMP can be a server's or router's: the bulk of a
    // guest's traffic (TCP) skips the chain.
    r.push(rule(
        "prerouting",
        vec![
            m(
                meta("l4proto"),
                "==",
                json!({ "set": ["udp", "icmp", "ipv6-icmp"] }),
            ),
            jump("servers"),
        ],
    ));
    // DHCP and DHCPv6 requests carry their port to the server.
    r.push(rule(
        "prerouting",
        vec![
            m(meta("l4proto"), "==", json!("udp")),
            m(payload("th", "dport"), "==", json!({ "set": [67, 547] })),
            json!({ "mangle": { "key": meta("mark"), "value": { "map": { "key": iif(), "data": set_ref("port_marks") } } } }),
        ],
    ));
    for (ty, chain) in [("arp", "arp_guard"), ("ip", "ip4_guard"), ("ip6", "ip6_guard")] {
        r.push(rule(
            "prerouting",
            vec![m(payload("ether", "type"), "==", json!(ty)), goto(chain)],
        ));
    }

    // Servers and routers: DHCP/DHCPv6 replies (and relays), router
    // advertisements, redirects.
    let mut dhcp = vec![
        m(meta("l4proto"), "==", json!("udp")),
        m(payload("th", "sport"), "==", json!({ "set": [67, 547] })),
    ];
    dhcp.extend(drop_counted("drops_server"));
    r.push(rule("servers", dhcp));
    let mut ra = vec![m(
        payload("icmpv6", "type"),
        "==",
        json!({ "set": ["nd-router-advert", "nd-redirect"] }),
    )];
    ra.extend(drop_counted("drops_server"));
    r.push(rule("servers", ra));
    let mut redirect = vec![m(payload("icmp", "type"), "==", json!("redirect"))];
    redirect.extend(drop_counted("drops_server"));
    r.push(rule("servers", redirect));

    // ARP: the sender MAC is the port's; the sender address is not one
    // another port (or the gateway) holds, and a bound port's own.
    let arp_ip = || payload("arp", "saddr ip");
    let mut a = vec![m(
        concat(iif(), payload("arp", "saddr ether")),
        "!=",
        set_ref("port_mac"),
    )];
    a.extend(drop_counted("drops_mac"));
    r.push(rule("arp_guard", a));
    r.extend(address_rules(
        "arp_guard",
        arp_ip,
        "claimed4",
        "port_ip4",
        "bound4",
        json!("0.0.0.0"),
    ));
    // A bound guest's own address, the common case, is let through at
    // once (no rule below would drop it); ARP and neighbour advertisements
    // are looked at first, since what they claim is not their source.
    let own = |chain: &str, addr: Value, set: &str| {
        rule(
            chain,
            vec![
                m(concat(iif(), addr), "==", set_ref(set)),
                json!({ "accept": null }),
            ],
        )
    };
    r.push(own("ip4_guard", payload("ip", "saddr"), "port_ip4"));
    r.extend(address_rules(
        "ip4_guard",
        || payload("ip", "saddr"),
        "claimed4",
        "port_ip4",
        "bound4",
        json!("0.0.0.0"),
    ));
    r.push(rule(
        "ip6_guard",
        vec![
            m(payload("icmpv6", "type"), "==", json!("nd-neighbor-advert")),
            json!({ "jump": { "target": "na_guard" } }),
        ],
    ));
    r.push(own("ip6_guard", payload("ip6", "saddr"), "port_ip6"));
    r.extend(address_rules(
        "ip6_guard",
        || payload("ip6", "saddr"),
        "claimed6",
        "port_ip6",
        "bound6",
        json!({ "set": ["::", { "prefix": { "addr": "fe80::", "len": 10 } }] }),
    ));
    r
}

/// `ADDR @claimed ... != @own drop` and `iif @bound ADDR != free ... drop`.
fn address_rules(
    chain: &str,
    addr: impl Fn() -> Value,
    claimed: &str,
    own: &str,
    bound: &str,
    free: Value,
) -> Vec<Value> {
    let iif = || meta("iif");
    let mut held = vec![
        m(addr(), "==", set_ref(claimed)),
        m(concat(iif(), addr()), "!=", set_ref(own)),
    ];
    held.extend(drop_counted("drops_addr"));
    let mut only = vec![
        m(iif(), "==", set_ref(bound)),
        m(addr(), "!=", free),
        m(concat(iif(), addr()), "!=", set_ref(own)),
    ];
    only.extend(drop_counted("drops_addr"));
    vec![rule(chain, held), rule(chain, only)]
}

/// Neighbour advertisements for an address a guest does not hold (the
/// target, 8 bytes into the ICMPv6 message): the gateways' from any guest,
/// a guest's bound address from any other port. The target has no field
/// of its own in nft and a raw field cannot be looked up in a set of
/// addresses, so each address is a rule; `flush` first, so this chain
/// alone follows the plan and the bound addresses.
pub fn na_guard(guards: &[PortGuard], bound: &BTreeSet<(u32, Ipv6Addr)>) -> Vec<Value> {
    let mut out = vec![json!({ "flush": obj("chain", json!({ "name": "na_guard" })) })];
    let target = |a: &Ipv6Addr| {
        m(
            json!({ "payload": { "base": "th", "offset": 64, "len": 128 } }),
            "==",
            json!(format!("0x{:032x}", u128::from(*a))),
        )
    };
    let gateways: BTreeSet<Ipv6Addr> = guards.iter().flat_map(|g| g.gateway6.iter().copied()).collect();
    for a in &gateways {
        let mut e = vec![target(a)];
        e.extend(drop_counted("drops_addr"));
        out.push(rule("na_guard", e));
    }
    for (port, a) in bound {
        let mut e = vec![target(a), m(meta("iif"), "!=", json!(port))];
        e.extend(drop_counted("drops_addr"));
        out.push(rule("na_guard", e));
    }
    out
}

/// What the daemon keeps in the table's sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elements {
    pub guests: BTreeSet<u32>,
    pub segments: BTreeSet<u32>,
    pub port_ip4: BTreeSet<(u32, Ipv4Addr)>,
    pub port_ip6: BTreeSet<(u32, Ipv6Addr)>,
    pub claimed4: BTreeSet<Ipv4Addr>,
    pub claimed6: BTreeSet<Ipv6Addr>,
}

impl Elements {
    fn bound4(&self) -> BTreeSet<u32> {
        self.port_ip4.iter().map(|(p, _)| *p).collect()
    }

    fn bound6(&self) -> BTreeSet<u32> {
        self.port_ip6.iter().map(|(p, _)| *p).collect()
    }
}

fn elements_cmd(op: &str, set: &str, elem: Vec<Value>) -> Option<Value> {
    (!elem.is_empty()).then(|| json!({ op: obj("element", json!({ "name": set, "elem": elem })) }))
}

/// Add `want - have` and delete `have - want`, set by set.
fn delta<T: Ord + Clone>(
    set: &str,
    have: &BTreeSet<T>,
    want: &BTreeSet<T>,
    f: impl Fn(&T) -> Value,
    out: &mut Vec<Value>,
) {
    out.extend(elements_cmd(
        "delete",
        set,
        have.difference(want).map(&f).collect(),
    ));
    out.extend(elements_cmd("add", set, want.difference(have).map(&f).collect()));
}

/// The element commands that turn `have` into `want` (the table's rules
/// untouched); a port gone also loses its pinned MAC. Deletions go first:
/// an address that moved from one port to another is never held twice.
pub fn changes(have: &Elements, want: &Elements) -> Vec<Value> {
    let mut out = Vec::new();
    let n = |p: &u32| json!(p);
    let pair4 = |(p, a): &(u32, Ipv4Addr)| json!({ "concat": [p, a.to_string()] });
    let pair6 = |(p, a): &(u32, Ipv6Addr)| json!({ "concat": [p, a.to_string()] });
    delta("port_ip4", &have.port_ip4, &want.port_ip4, pair4, &mut out);
    delta("port_ip6", &have.port_ip6, &want.port_ip6, pair6, &mut out);
    delta("bound4", &have.bound4(), &want.bound4(), n, &mut out);
    delta("bound6", &have.bound6(), &want.bound6(), n, &mut out);
    delta(
        "claimed4",
        &have.claimed4,
        &want.claimed4,
        |a| json!(a.to_string()),
        &mut out,
    );
    delta(
        "claimed6",
        &have.claimed6,
        &want.claimed6,
        |a| json!(a.to_string()),
        &mut out,
    );
    delta("segments", &have.segments, &want.segments, n, &mut out);
    // Each guest port's DHCP is marked with its own index.
    delta(
        "port_marks",
        &have.guests,
        &want.guests,
        |p| json!([p, p]),
        &mut out,
    );
    // A new guest port is a guest before anything else about it counts.
    delta("guests", &have.guests, &want.guests, n, &mut out);
    out
}

/// Pin MACs on ports before they speak (a libvirt domain's, known from
/// its tap): the kernel would pin the first frame's.
pub fn pin(pins: &[(u32, crate::config::MacAddr)]) -> Vec<Value> {
    pins_cmd("add", pins)
}

/// The batch that forgets what the kernel pinned for ports that are gone
/// (and, with it, their drop counts): their MACs in `port_mac` are read
/// back by the daemon, so it names them exactly.
pub fn forget_pins(gone: &[(u32, crate::config::MacAddr)]) -> Vec<Value> {
    pins_cmd("delete", gone)
}

/// `op` (add or delete) the ports' pins and their being seen.
fn pins_cmd(op: &str, pins: &[(u32, crate::config::MacAddr)]) -> Vec<Value> {
    let mut out = Vec::new();
    out.extend(elements_cmd(
        op,
        "port_mac",
        pins.iter()
            .map(|(p, m)| json!({ "concat": [p, m.to_string()] }))
            .collect(),
    ));
    out.extend(elements_cmd(
        op,
        "port_seen",
        pins.iter().map(|(p, _)| json!(p)).collect(),
    ));
    out
}

/// A batch as `nft -j -f -` reads it.
pub fn batch(cmds: Vec<Value>) -> String {
    json!({ "nftables": cmds }).to_string()
}

/// Load a batch with `nft -j -f -` (a child process: call it off the
/// servers' thread).
pub fn apply(cmds: Vec<Value>) -> Result<(), String> {
    if cmds.is_empty() {
        return Ok(());
    }
    nftables::helper::apply_ruleset_raw(
        &batch(cmds),
        nftables::helper::DEFAULT_NFT,
        nftables::helper::DEFAULT_ARGS,
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// A port as nft lists an interface index: by its name while it exists,
/// else by the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    Index(u32),
    Name(String),
}

fn listed(v: &Value) -> Option<Listed> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Listed::Index),
        Value::String(s) => Some(Listed::Name(s.clone())),
        _ => None,
    }
}

/// The pinned MACs in the JSON of `nft -j list set bridge netagent
/// port_mac`: (port, MAC).
pub fn read_pins(listing: &Value) -> Vec<(Listed, crate::config::MacAddr)> {
    let sets = listing
        .get("nftables")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in sets.iter().filter_map(|o| o.get("set")) {
        for e in s
            .get("elem")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            // `{"concat": [12, "52:54:..."]}`, or wrapped in `{"elem": {"val": ...}}`.
            let c = e.get("elem").and_then(|x| x.get("val")).unwrap_or(e);
            let Some([p, mac]) = c.get("concat").and_then(Value::as_array).map(Vec::as_slice) else {
                continue;
            };
            if let (Some(p), Some(Ok(mac))) = (listed(p), mac.as_str().map(str::parse)) {
                out.push((p, mac));
            }
        }
    }
    out
}

/// The drop counts in the JSON of `nft -j list set bridge netagent SET`:
/// (port, packets).
pub fn read_drops(listing: &Value) -> Vec<(Listed, u64)> {
    let sets = listing
        .get("nftables")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in sets.iter().filter_map(|o| o.get("set")) {
        for e in s
            .get("elem")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(inner) = e.get("elem") else { continue };
            let port = inner.get("val").and_then(listed);
            let packets = inner
                .get("counter")
                .and_then(|c| c.get("packets"))
                .and_then(Value::as_u64);
            if let (Some(p), Some(n)) = (port, packets) {
                out.push((p, n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> PortGuard {
        PortGuard {
            network: "n".into(),
            bridge: "virbr0".into(),
            trusted: Vec::new(),
            leases_per_port: 4,
            gateway4: vec!["192.168.122.1".parse().unwrap()],
            gateway6: vec!["fd00::1".parse().unwrap()],
            statics: Vec::new(),
        }
    }

    /// The batches as nft reads them, for trying them on a real nft:
    /// `NETAGENT_PRINT_GUARD=1 cargo test guard::tests::print -- --nocapture`.
    #[test]
    fn print() {
        if std::env::var_os("NETAGENT_PRINT_GUARD").is_none() {
            return;
        }
        println!("{}", batch(table(&[guard()])));
        let mut want = Elements::default();
        want.guests.insert(5);
        want.segments.insert(6);
        want.port_ip4.insert((5, "192.168.122.5".parse().unwrap()));
        want.port_ip6.insert((5, "fd00::5".parse().unwrap()));
        want.claimed4.insert("192.168.122.1".parse().unwrap());
        want.claimed6.insert("fd00::1".parse().unwrap());
        println!("{}", batch(changes(&Elements::default(), &want)));
        println!(
            "{}",
            batch(forget_pins(&[(5, "52:54:00:00:00:05".parse().unwrap())]))
        );
    }

    #[test]
    fn no_guard_removes_the_table_and_a_guard_makes_it_whole() {
        let none = table(&[]);
        assert_eq!(none.len(), 2);
        assert!(none[1].get("delete").is_some());
        let t = batch(table(&[guard()]));
        for needle in [
            r#""hook":"prerouting""#,
            r#""name":"port_mac""#,
            r#""type":["iface_index","ether_addr"]"#,
            r#""stmt":[{"counter":null}]"#,
            r#""map":"mark""#,
            // fd00::1 as the raw target of a neighbour advertisement.
            r#""0xfd000000000000000000000000000001""#,
        ] {
            assert!(t.contains(needle), "{needle} not in {t}");
        }
    }

    #[test]
    fn element_changes_delete_first_and_touch_only_the_difference() {
        let mut have = Elements::default();
        have.guests.insert(7);
        have.port_ip4.insert((7, "192.168.122.7".parse().unwrap()));
        have.claimed4.insert("192.168.122.7".parse().unwrap());
        let mut want = have.clone();
        assert!(changes(&have, &want).is_empty());
        // The address moved from port 7 to port 9 (a new guest).
        want.guests.insert(9);
        want.port_ip4.clear();
        want.port_ip4.insert((9, "192.168.122.7".parse().unwrap()));
        let c = batch(changes(&have, &want));
        let del = c.find(r#""delete":{"element":{"elem":[{"concat":[7,"192.168.122.7"]}]"#);
        let add = c.find(r#""add":{"element":{"elem":[{"concat":[9,"192.168.122.7"]}]"#);
        assert!(del.is_some() && add.is_some() && del < add, "{c}");
        assert!(c.contains(r#""name":"port_marks""#) && c.contains("[9,9]"), "{c}");
        // bound4 follows: 7 loses it, 9 gains it.
        assert!(c.contains(r#""name":"bound4""#), "{c}");
        assert!(!c.contains(r#""name":"claimed4""#), "the claim is unchanged: {c}");
    }

    #[test]
    fn pins_and_drop_counts_are_read_from_nfts_listing() {
        // nft names a port that exists, and numbers one that is gone.
        let pins = serde_json::json!({"nftables": [{"metainfo": {}}, {"set": {"name": "port_mac", "elem": [
            {"concat": ["vnet0", "52:54:00:00:00:0c"]},
            {"elem": {"val": {"concat": [14, "52:54:00:00:00:0e"]}}}
        ]}}]});
        let got = read_pins(&pins);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, Listed::Name("vnet0".into()));
        assert_eq!(
            (got[1].0.clone(), got[1].1.to_string()),
            (Listed::Index(14), "52:54:00:00:00:0e".to_string())
        );
        let drops = serde_json::json!({"nftables": [{"set": {"name": "drops_mac", "elem": [
            {"elem": {"val": "vnet0", "counter": {"packets": 3, "bytes": 180}}}
        ]}}]});
        assert_eq!(read_drops(&drops), [(Listed::Name("vnet0".into()), 3)]);
    }
}
