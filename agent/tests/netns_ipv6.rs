//! Root, network namespaces: IPv6 on netagent's networks, with the
//! kernel's own SLAAC in the guests and rdisc6 (ndisc6) reading the router
//! advertisements, dig over IPv6, TCP across the appliance.

mod common;

use std::time::Duration;

use common::clients::{dnsmasq, short, Peer};
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
    wait_link_local(ns, "eth0");
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

[[network.dns.forwarder]]
addr = "fd00:99::1"

[[network.dns.host]]
ip = "fd00:77::50"
names = ["nas"]
"#;

/// dnsmasq on the outside's IPv6 address only, authoritative for up6.test:
/// the upstream a forwarder names by its IPv6 address.
fn upstream6(t: &Topo) -> Peer {
    let p = dnsmasq(
        &t.out,
        &[
            "--listen-address=fd00:99::1",
            "--address=/www.up6.test/10.99.0.86",
            "--local=/up6.test/",
        ],
    );
    let ready = wait_for(Duration::from_secs(5), || {
        short(&t.out, "fd00:99::1", &["www.up6.test"]) == "10.99.0.86"
    });
    assert!(ready.is_some(), "the upstream dnsmasq did not start");
    p
}

/// A routed network with a prefix: the guest learns the prefix, the DNS
/// server and the domain from the advertisement, makes its address by
/// SLAAC, takes the default route, resolves over IPv6, and reaches the
/// outside (which reaches it back, no NAT); a forged source does not pass.
/// Dropped from the config, the prefix's router says goodbye.
/// One UDP datagram from guest `g`'s address `mine` to the outside: the
/// sources the outside saw within two seconds (empty if none).
fn udp6_seen_from(t: &Topo, g: usize, mine: &str) -> Vec<std::net::SocketAddr> {
    let udp = UdpServer::start(&t.out.name, sa(&format!("[{OUTSIDE6}]:5353")));
    udp_send(
        &t.g(g).ns.name,
        sa(&format!("[{mine}]:0")),
        sa(&format!("[{OUTSIDE6}]:5353")),
    );
    wait_for(Duration::from_secs(2), || !udp.peers().is_empty());
    udp.peers()
}

#[test]
fn netns_ipv6_routed_network_serves_slaac_dns_and_routing() {
    need_root!("netns_ipv6_routed_network_serves_slaac_dns_and_routing");
    let mut t = Topo::new();
    // The uplink's IPv6 address and default route come from the config
    // here (address6, gateway6); the outside routes the prefix back, and
    // has an address off the uplink's link, reached by that route only.
    t.out.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{OUTSIDE6}/64"),
        "dev",
        "out0",
        "nodad",
    ]);
    t.out.ip(&["-6", "addr", "add", "fd00:55::1/128", "dev", "lo"]);
    t.out.ip(&["-6", "route", "add", "fd00:77::/64", "via", UPLINK6]);
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let uplink6 = format!("address6 = \"{UPLINK6}/64\"\ngateway6 = \"{OUTSIDE6}\"\n");
    let config = |networks: &str| with_uplink(networks).replacen("\n\n", &format!("\n{uplink6}\n"), 1);
    let cfg = t.write_config("v6.toml", &config(ROUTED));
    let agent = t.start(&cfg);
    assert!(
        t.app
            .ip(&["-6", "route", "show", "default"])
            .contains(&format!("via {OUTSIDE6} dev {UPLINK}")),
        "no IPv6 default route from gateway6: {}\n{}",
        t.app.ip(&["-6", "route"]),
        agent.log()
    );

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
    // Forwarded over IPv6 to an upstream named by its IPv6 address.
    let _up = upstream6(&t);
    assert_eq!(
        short(&t.g(g).ns, "fd00:77::1", &["www.up6.test"]),
        "10.99.0.86",
        "{}",
        agent.log()
    );

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
    // Past the outside's link: by the uplink's IPv6 default route.
    let _far = TcpServer::start(&t.out.name, sa("[fd00:55::1]:8082"));
    assert!(
        reach6(&t.g(g).ns, "[fd00:55::1]:8082"),
        "nothing past the uplink's link"
    );
    // UDP too.
    let seen = udp6_seen_from(&t, g, &mine);
    assert!(
        seen.first().map(|p| p.ip()) == Some(ip(&mine)),
        "no UDP over IPv6: {seen:?}"
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
        config(&ROUTED.replace("address6 = \"fd00:77::1/64\"\n", "")),
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
    // UDP too, from the guest's own address.
    let mine = slaac_address(&t.g(g).ns, "fd00:79:").unwrap_or_default();
    let seen = udp6_seen_from(&t, g, &mine);
    assert!(
        seen.first().map(|p| p.ip()) == Some(ip(UPLINK6)),
        "UDP over IPv6 not masqueraded: {seen:?}"
    );
}

/// The MAC of a guest's eth0.
fn mac_of(ns: &Netns) -> String {
    let out = ns.ip(&["-o", "link", "show", "dev", "eth0"]);
    out.split("link/ether ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

/// Wait until `dev` in `ns` has a link-local address past its duplicate
/// address detection (what rdisc6, DHCPv6 clients and Kea send from).
fn wait_link_local(ns: &Netns, dev: &str) {
    wait_for(Duration::from_secs(10), || {
        let ll = ns.ip(&["-6", "-o", "addr", "show", "dev", dev, "scope", "link"]);
        ll.contains("fe80") && !ll.contains("tentative")
    });
}

/// Stateful DHCPv6 with real clients: ISC dhclient -6 gets an address from
/// the range (and the DNS server), which `netagent leases` shows and a
/// release ends; dhcpcd, which starts DHCPv6 because the advertisement
/// says M, gets its fixed address, whose name resolves.
#[test]
fn netns_dhcp6_serves_dhclient_and_dhcpcd() {
    use common::clients::sh;
    need_root!("netns_dhcp6_serves_dhclient_and_dhcpcd");
    let mut t = Topo::new();
    let g1 = t.guest("vg1", "10.77.0.11/24", "");
    let g2 = t.guest("vg2", "10.77.0.12/24", "");
    let fixed_mac = mac_of(&t.g(g2).ns);
    let body = format!(
        "{}\n[network.dhcp6]\nranges = [\"fd00:77::100-fd00:77::1ff\"]\n\n[[network.dhcp6.host]]\nmac = \"{fixed_mac}\"\nip = \"fd00:77::9\"\nname = \"fixed\"\n",
        ROUTED.replace("\n[[network.dns.host]]\nip = \"fd00:77::50\"\nnames = [\"nas\"]\n", "")
    );
    let cfg = t.write_config("dhcp6.toml", &with_uplink(&body));
    let agent = t.start(&cfg);

    let ra = rdisc6(&t.g(g1).ns);
    for want in [
        "Stateful address conf. : Yes",
        "Stateful other conf. : Yes",
        "Autonomous address conf.: No",
    ] {
        assert!(ra.contains(want), "no `{want}`:\n{ra}\n{}", agent.log());
    }

    // dhclient -6, its script logging what it got.
    let ns1 = &t.g(g1).ns;
    wait_link_local(ns1, "eth0");
    let log = t.dir.join("dhclient6.events");
    let script = t.write_config(
        "dhclient6.sh",
        &format!(
            "#!/bin/sh\necho \"$reason ip6=$new_ip6_address dns=$new_dhcp6_name_servers\" >> {}\n\
             case \"$reason\" in BOUND6|RENEW6|REBIND6) ip -6 addr replace $new_ip6_address/128 dev $interface;; esac\nexit 0\n",
            log.display()
        ),
    );
    let _ = std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    // Its name, as dhclient sends it: the client FQDN option (39).
    let conf = t.write_config("dhclient6.conf", "send fqdn.fqdn \"web6\";\n");
    let args = format!(
        "-6 -cf {} -sf {} -lf {} -pf {}",
        conf.display(),
        script.display(),
        t.dir.join("d6.lease").display(),
        t.dir.join("d6.pid").display()
    );
    let out = sh(ns1, &format!("timeout 30 dhclient -1 -v {args} eth0"));
    let events = std::fs::read_to_string(&log).unwrap_or_default();
    let bound = events
        .lines()
        .find(|l| l.starts_with("BOUND6"))
        .unwrap_or_else(|| {
            panic!(
                "dhclient -6 got nothing:\n{events}\n{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                agent.log()
            )
        });
    assert!(
        bound.contains("ip6=fd00:77::1") && bound.contains("dns=fd00:77::1"),
        "{bound}"
    );
    let ip6 = bound
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip6="))
        .unwrap_or_default()
        .to_string();
    let leases = String::from_utf8_lossy(
        &t.netagent(&["leases", "--json", "-c", cfg.to_str().unwrap_or_default()])
            .stdout,
    )
    .into_owned();
    assert!(leases.contains(&ip6) && leases.contains("ipv6"), "{leases}");
    // The address works: the guest reaches the bridge from it.
    assert!(ping(ns1, "fd00:77::1"), "no ping from {ip6}");
    // Its name resolves to it, and back.
    assert_eq!(
        short(ns1, "fd00:77::1", &["AAAA", "web6.lab"]),
        ip6,
        "{}",
        agent.log()
    );
    assert_eq!(short(ns1, "fd00:77::1", &["-x", &ip6]), "web6.lab.");
    let out = sh(ns1, &format!("timeout 10 dhclient -r -v {args} eth0"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let leases = String::from_utf8_lossy(
        &t.netagent(&["leases", "--json", "-c", cfg.to_str().unwrap_or_default()])
            .stdout,
    )
    .into_owned();
    assert!(!leases.contains(&ip6), "the release was not honoured:\n{leases}");
    assert_eq!(
        short(ns1, "fd00:77::1", &["AAAA", "web6.lab"]),
        "",
        "the name outlived its lease"
    );

    // dhcpcd, IPv6 only: its fixed address by MAC, and its name.
    let ns2 = &t.g(g2).ns;
    wait_link_local(ns2, "eth0");
    let out = sh(
        ns2,
        "timeout 40 dhcpcd -6 -t 30 -w eth0 || exit 1; dhcpcd -6 -x eth0; exit 0",
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("fd00:77::9"),
        "dhcpcd did not get its fixed address:\n{text}\n{}",
        agent.log()
    );
    assert_eq!(short(ns1, "fd00:77::1", &["AAAA", "fixed.lab"]), "fd00:77::9");
}

/// Kea's kea-dhcp6 on the outside, delegating /56s of `pool` (a /40), with
/// short timers so a renumbering shows within seconds.
fn kea(t: &Topo, pool: &str) -> Peer {
    // Kea binds out0's link-local address: wait until it is usable.
    wait_link_local(&t.out, "out0");
    let conf = t.write_config(
            &format!("kea6-{}.json", pool.replace(':', "_")),
            &format!(
                r#"{{ "Dhcp6": {{
  "interfaces-config": {{ "interfaces": [ "out0" ] }},
  "lease-database": {{ "type": "memfile", "persist": false }},
  "server-id": {{ "type": "LL", "persist": false }},
  "renew-timer": 4, "rebind-timer": 6, "preferred-lifetime": 12, "valid-lifetime": 15,
  "subnet6": [ {{ "id": 1, "subnet": "2001:db8:1::/64", "interface": "out0",
    "pd-pools": [ {{ "prefix": "{pool}", "prefix-len": 40, "delegated-len": 56 }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp6", "output_options": [ {{ "output": "stdout" }} ], "severity": "WARN" }} ] }} }}"#
            ),
        );
    let c = t
        .out
        .cmd("kea-dhcp6")
        .arg("-c")
        .arg(&conf)
        .env("KEA_PIDFILE_DIR", &t.dir)
        .env("KEA_LOCKFILE_DIR", "none")
        .stdout(std::fs::File::create(t.dir.join("kea.log")).expect("kea log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kea-dhcp6 (package kea-dhcp6-server)");
    Peer(c)
}

const DELEGATED: &str = r#"
[[network]]
name = "lab"
kind = "route"
bridge = "virbr9"
address = "10.77.0.1/24"
address6 = "pd"
stp = false
ports = ["vg*"]
"#;

/// Prefix delegation against a real DHCPv6 server (Kea): the appliance
/// asks on its uplink, gives the network a /64 of the /56 it gets, and its
/// guest makes an address there by SLAAC. When the router hands out
/// another prefix, the guest is renumbered: a new address, the old one
/// deprecated by the advertisement.
#[test]
fn netns_ipv6_prefix_delegation_from_kea_renumbers_the_guests() {
    need_root!("netns_ipv6_prefix_delegation_from_kea_renumbers_the_guests");
    let mut t = Topo::new();
    t.out
        .ip(&["-6", "addr", "add", "2001:db8:1::1/64", "dev", "out0", "nodad"]);
    // The link up, so out0 has carrier and its link-local address for Kea.
    t.app.ip(&["link", "set", UPLINK, "up"]);
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let first_router = kea(&t, "2001:db8:8800::");
    let cfg = t.write_config("pd.toml", &with_uplink(DELEGATED));
    let agent = t.start_with_env(&cfg, &[("NETAGENT_LOG", "debug")]);
    let first = slaac_address(&t.g(g).ns, "2001:db8:88").unwrap_or_else(|| {
        panic!(
            "no address from the delegated prefix:\n{}\nkea:\n{}",
            agent.log(),
            std::fs::read_to_string(t.dir.join("kea.log")).unwrap_or_default()
        )
    });
    assert!(
        agent.log().contains("delegated prefix 2001:db8:88"),
        "{}",
        agent.log()
    );
    let info = String::from_utf8_lossy(&t.netagent(&["info", "lab"]).stdout).into_owned();
    assert!(
        info.contains("(delegated by the uplink's router)") && info.contains("Advertisements: serving"),
        "{info}"
    );
    assert!(
        t.app
            .ip(&["-6", "addr", "show", "dev", "virbr9"])
            .contains("2001:db8:88"),
        "the bridge has no address in the delegated prefix"
    );

    // The router now delegates from another pool (a restarted Kea knows
    // nothing of the old lease): at the next renewal the network follows.
    drop(first_router);
    let _kea = kea(&t, "2001:db8:9900::");
    let second = slaac_address(&t.g(g).ns, "2001:db8:99").unwrap_or_else(|| {
        panic!(
            "not renumbered:\n{}\n{}",
            t.g(g).ns.ip(&["-6", "addr"]),
            agent.log()
        )
    });
    assert_ne!(first, second);
    let old = wait_for(Duration::from_secs(10), || {
        t.g(g)
            .ns
            .ip(&["-6", "addr", "show", "dev", "eth0"])
            .lines()
            .any(|l| l.contains(&first) && l.contains("deprecated"))
    });
    assert!(
        old.is_some(),
        "the old address is not deprecated:\n{}",
        t.g(g).ns.ip(&["-6", "addr"])
    );
}
