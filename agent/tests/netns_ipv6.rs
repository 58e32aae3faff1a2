//! Root, network namespaces: IPv6 on netagent's networks, with the
//! kernel's own SLAAC in the guests and rdisc6 (ndisc6) reading the router
//! advertisements, dig over IPv6, TCP across the appliance.

mod common;

use std::time::Duration;

use common::clients::short;
use common::topo::*;
use common::Netns;

/// The outside's and the uplink's IPv6 addresses (the test gives the
/// uplink its address; netagent leaves an uplink's IPv6 as it finds it).
const OUTSIDE6: &str = "fd00:99::1";
const UPLINK6: &str = "fd00:99::2";

fn ipv6_uplink(t: &Topo) {
    t.out.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{OUTSIDE6}/64"),
        "dev",
        "out0",
        "nodad",
    ]);
    t.app.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{UPLINK6}/64"),
        "dev",
        UPLINK,
        "nodad",
    ]);
    t.app.ip(&["link", "set", UPLINK, "up"]);
}

/// The guest's address in `prefix` (like "fd00:77:"), once SLAAC made it
/// and its duplicate address detection is over.
fn slaac_address(ns: &Netns, prefix: &str) -> Option<String> {
    let mut found = None;
    wait_for(Duration::from_secs(20), || {
        let out = ns.ip(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"]);
        found = out
            .lines()
            .filter(|l| !l.contains("tentative"))
            .find_map(|l| l.split_whitespace().nth(3).filter(|a| a.starts_with(prefix)))
            .map(|a| a.split('/').next().unwrap_or(a).to_string());
        found.is_some()
    });
    found
}

fn default_route6(ns: &Netns) -> String {
    ns.ip(&["-6", "route", "show", "default"])
}

/// rdisc6's report of the advertisement that answers its solicitation,
/// once the guest has its link-local address to ask from.
fn rdisc6(ns: &Netns) -> String {
    wait_for(Duration::from_secs(10), || {
        let ll = ns.ip(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]);
        ll.contains("fe80") && !ll.contains("tentative")
    });
    let out = ns
        .cmd("rdisc6")
        .args(["-1", "-w", "1000", "-r", "5", "eth0"])
        .output()
        .expect("rdisc6 (package ndisc6)");
    // Runs of spaces as one: rdisc6 aligns its columns.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn reach6(from: &Netns, to: &str) -> bool {
    tcp_connect(&from.name, None, sa(to))
        .and_then(|mut c| echo(&mut c, b"hi"))
        .is_ok()
}

const ROUTED: &str = r#"
[[network]]
name = "lab"
kind = "route"
bridge = "virbr6"
address = "10.77.0.1/24"
address6 = "fd00:77::1/64"
stp = false
ports = ["vg*"]

[network.dns]
domain = "lab"

[[network.dns.host]]
ip = "fd00:77::50"
names = ["nas"]
"#;

/// A routed network with a prefix: the guest learns the prefix, the DNS
/// server and the domain from the advertisement, makes its address by
/// SLAAC, takes the default route, resolves over IPv6, and reaches the
/// outside (which reaches it back, no NAT); a forged source does not pass.
/// Dropped from the config, the prefix's router says goodbye.
#[test]
fn netns_ipv6_routed_network_serves_slaac_dns_and_routing() {
    need_root!("netns_ipv6_routed_network_serves_slaac_dns_and_routing");
    let mut t = Topo::new();
    ipv6_uplink(&t);
    t.out.ip(&["-6", "route", "add", "fd00:77::/64", "via", UPLINK6]);
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("v6.toml", &with_uplink(ROUTED));
    let agent = t.start(&cfg);

    let ra = rdisc6(&t.g(g).ns);
    for want in [
        "Prefix : fd00:77::/64",
        "Recursive DNS server : fd00:77::1",
        "DNS search list : lab",
        "Router lifetime : 1800",
        "Autonomous address conf.: Yes",
        "Stateful address conf. : No",
    ] {
        assert!(
            ra.contains(want),
            "no `{want}` in the advertisement:\n{ra}\n{}",
            agent.log()
        );
    }
    let mine = slaac_address(&t.g(g).ns, "fd00:77:")
        .unwrap_or_else(|| panic!("no SLAAC address:\n{}", t.g(g).ns.ip(&["-6", "addr"])));
    assert!(
        default_route6(&t.g(g).ns).contains("via fe80::"),
        "no default route from the advertisement: {}",
        default_route6(&t.g(g).ns)
    );

    // DNS over IPv6: the bridge's own name, a static AAAA, and reverse.
    let ns = &t.g(g).ns;
    assert_eq!(short(ns, "fd00:77::1", &["AAAA", "virbr6.lab"]), "fd00:77::1");
    assert_eq!(short(ns, "fd00:77::1", &["AAAA", "nas.lab"]), "fd00:77::50");
    assert_eq!(short(ns, "fd00:77::1", &["-x", "fd00:77::50"]), "nas.lab.");

    // Routed both ways, the guest's own address seen outside.
    let srv = TcpServer::start(&t.out.name, sa(&format!("[{OUTSIDE6}]:8080")));
    assert!(
        reach6(&t.g(g).ns, &format!("[{OUTSIDE6}]:8080")),
        "{}",
        t.nft_table().unwrap_or_default()
    );
    let peers = srv.wait_count(1);
    assert_eq!(peers[0].ip(), ip(&mine), "routed, not masqueraded");
    let _in = TcpServer::start(&t.g(g).ns.name, sa(&format!("[{mine}]:8081")));
    assert!(
        reach6(&t.out, &format!("[{mine}]:8081")),
        "the outside reaches a routed guest"
    );

    // A source outside the prefix is dropped.
    t.g(g)
        .ns
        .ip(&["-6", "addr", "add", "fd00:55::9/64", "dev", "eth0", "nodad"]);
    let forged = tcp_connect(
        &t.g(g).ns.name,
        Some(sa("[fd00:55::9]:0")),
        sa(&format!("[{OUTSIDE6}]:8080")),
    );
    assert!(forged.is_err(), "a forged IPv6 source got out");

    // Without the prefix the guest's default route goes at once (router
    // lifetime 0), not in half an hour.
    std::fs::write(
        &cfg,
        with_uplink(&ROUTED.replace("address6 = \"fd00:77::1/64\"\n", "")),
    )
    .expect("write");
    assert!(t.netagent(&["reload"]).status.success());
    let gone = wait_for(Duration::from_secs(5), || {
        !default_route6(&t.g(g).ns).contains("default")
    });
    assert!(
        gone.is_some(),
        "the guest kept its default route:\n{}\n{}",
        default_route6(&t.g(g).ns),
        agent.log()
    );
}

const ISOLATED: &str = r#"
[[network]]
name = "iso"
kind = "isolated"
bridge = "virbr7"
address = "10.78.0.1/24"
address6 = "fd00:78::1/64"
stp = false
ports = ["vg*"]
"#;

/// An isolated network's guests get addresses but no default route, and
/// nothing of theirs leaves even with a route they add themselves.
#[test]
fn netns_ipv6_isolated_network_advertises_no_route_and_forwards_nothing() {
    need_root!("netns_ipv6_isolated_network_advertises_no_route_and_forwards_nothing");
    let mut t = Topo::new();
    ipv6_uplink(&t);
    t.out.ip(&["-6", "route", "add", "fd00:78::/64", "via", UPLINK6]);
    let g = t.guest("vg1", "10.78.0.10/24", "");
    let cfg = t.write_config("iso6.toml", &with_uplink(ISOLATED));
    let agent = t.start(&cfg);
    let ra = rdisc6(&t.g(g).ns);
    assert!(ra.contains("Router lifetime : 0 "), "{ra}\n{}", agent.log());
    assert!(ra.contains("Prefix : fd00:78::/64"), "{ra}");
    let router = ra
        .lines()
        .find_map(|l| l.trim().strip_prefix("from "))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no sender in:\n{ra}"));
    assert!(slaac_address(&t.g(g).ns, "fd00:78:").is_some());
    assert!(!default_route6(&t.g(g).ns).contains("default"));
    // The guest routes by hand through the bridge: still nothing leaves.
    t.g(g)
        .ns
        .ip(&["-6", "route", "add", "default", "via", &router, "dev", "eth0"]);
    let _srv = TcpServer::start(&t.out.name, sa(&format!("[{OUTSIDE6}]:8080")));
    assert!(
        !reach6(&t.g(g).ns, &format!("[{OUTSIDE6}]:8080")),
        "an isolated guest got out over IPv6"
    );
    // The network's own DNS still answers over IPv6.
    assert_eq!(short(&t.g(g).ns, "fd00:78::1", &["AAAA", "virbr7"]), "fd00:78::1");
}

const NAT6: &str = r#"
[[network]]
name = "nat"
bridge = "virbr8"
address = "10.79.0.1/24"
address6 = "fd00:79::1/64"
stp = false
ports = ["vg*"]

[network.nat]
ipv6 = true
"#;

/// libvirt's <nat ipv6='yes'/>: the guest's IPv6 leaves with the uplink's
/// address, and answers come back without any route to the prefix.
#[test]
fn netns_ipv6_nat_masquerades_when_asked() {
    need_root!("netns_ipv6_nat_masquerades_when_asked");
    let mut t = Topo::new();
    ipv6_uplink(&t);
    let g = t.guest("vg1", "10.79.0.10/24", "10.79.0.1");
    let cfg = t.write_config("nat6.toml", &with_uplink(NAT6));
    let agent = t.start(&cfg);
    assert!(slaac_address(&t.g(g).ns, "fd00:79:").is_some(), "{}", agent.log());
    wait_for(Duration::from_secs(10), || {
        default_route6(&t.g(g).ns).contains("default")
    });
    let srv = TcpServer::start(&t.out.name, sa(&format!("[{OUTSIDE6}]:8080")));
    assert!(
        reach6(&t.g(g).ns, &format!("[{OUTSIDE6}]:8080")),
        "{}",
        t.nft_table().unwrap_or_default()
    );
    assert_eq!(
        srv.wait_count(1)[0].ip(),
        ip(UPLINK6),
        "masqueraded to the uplink"
    );
}
