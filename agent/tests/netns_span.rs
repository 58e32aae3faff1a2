//! Root, network namespaces: one network spanning three netagent hosts
//! over VXLAN. Host A (10.98.0.1) is the network's home; the guests on B
//! and C take their lease, names and way out from A, through the tunnels.

mod common;

use std::time::Duration;

use common::clients::{short, wait_event, Udhcpc};
use common::span::{config, evpn, peers, Frr, Underlay};
use common::topo::*;

const T: Duration = Duration::from_secs(15);

/// A network every host has under the same bridge and subnet, not
/// spanned: it must stay each host's own.
const LAB: &str = r#"[[network]]
name = "lab"
bridge = "brl"
address = "192.168.160.1/24"
ports = ["gl*"]
"#;

/// `bridge fdb show dev vx150` on a host.
fn fdb(t: &Topo) -> String {
    let o = t.app.cmd("bridge").args(["fdb", "show", "dev", "vx150"]).output();
    o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The flood list of `vx150` on a host: the peers' addresses.
fn flood(t: &Topo) -> String {
    fdb(t)
        .lines()
        .filter(|l| l.starts_with("00:00:00:00:00:00"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A link's MAC, as `ip link` prints it.
fn mac_of(ns: &common::Netns, link: &str) -> String {
    let out = ns.ip(&["-o", "link", "show", link]);
    out.split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

fn ifindex(t: &Topo, link: &str) -> String {
    t.app
        .ip(&["-o", "link", "show", link])
        .split(':')
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn netns_span_static_peers_serve_every_hosts_guests_from_the_home() {
    need_root!("netns_span_static_peers_serve_every_hosts_guests_from_the_home");
    let mut u = Underlay::new();
    let (mut a, ia) = u.host();
    let (mut b, ib) = u.host();
    let (mut c, ic) = u.host();
    let gb = b.dhcp_guest("gs1");
    let gc = c.dhcp_guest("gs1");
    let _la = a.guest("gl1", "192.168.160.10/24", "192.168.160.1");
    let lb = b.guest("gl1", "192.168.160.11/24", "192.168.160.1");

    // A and B first.
    let cfg_a = a.write_config("a.toml", &config(&ia, &peers(&[&ib]), LAB));
    let cfg_b = b.write_config("b.toml", &config(&ib, &peers(&[&ia]), LAB));
    let agent_a = a.start(&cfg_a);
    let agent_b = b.start(&cfg_b);
    let cb = Udhcpc::start(&b.g(gb).ns, &b.dir, "guestb");
    let lease_b = wait_event(&cb.events, 0, &["bound"], T).unwrap_or_else(|| {
        panic!(
            "the guest on B got no lease from A\nA:\n{}\nB:\n{}",
            agent_a.log(),
            agent_b.log()
        )
    });
    assert!(lease_b.ip.starts_with("192.168.150."), "{lease_b:?}");
    assert_eq!(
        (lease_b.router.as_str(), lease_b.dns.as_str()),
        ("192.168.150.1", "192.168.150.1")
    );
    // B serves nothing on the spanned network: no address on its bridge.
    let addrs = b.app.ip(&["-4", "-o", "addr", "show", "dev", "brs"]);
    assert!(!addrs.contains("inet "), "B's bridge has an address: {addrs}");

    // The way out is A's NAT: the outside sees A's underlay address.
    let server = TcpServer::start(&u.ns.name, sa("10.98.0.254:7001"));
    let mut conn =
        tcp_connect(&b.g(gb).ns.name, None, sa("10.98.0.254:7001")).expect("connect out through A");
    echo(&mut conn, b"before").expect("echo");
    assert_eq!(server.peers().first().map(|p| p.ip()), Some(ip(&ia)));

    // `netagent info`: the home floods to B; on B the network has no
    // address or services of its own, and names its home.
    let shown = info(&a, "span");
    assert!(
        shown.contains(&format!("Span peer:      {ib} in flood list")),
        "{shown}"
    );
    let away = info(&b, "span");
    assert!(
        away.contains("Span home:      10.98.0.1\n")
            && away.contains("DHCP:           off")
            && away.contains("Address:        -"),
        "{away}"
    );

    // A VXLAN device someone deletes comes back, with its flood list.
    b.app.ip(&["link", "del", "vx150"]);
    let back = wait_for(T, || flood(&b).contains(&format!("dst {ia}")));
    assert!(back.is_some(), "B's vx150 was not made again:\n{}", agent_b.log());
    assert!(
        wait_for(T, || ping(&b.g(gb).ns, "192.168.150.1")).is_some(),
        "B's guest lost its gateway after vx150 came back"
    );

    // The network that is not spanned stays each host's own.
    assert!(ping(&b.g(lb).ns, "192.168.160.1"), "B's own lab gateway");
    assert!(
        !ping(&b.g(lb).ns, "192.168.160.10"),
        "B's lab guest reached A's lab guest"
    );
    assert!(b
        .app
        .ip(&["-o", "link", "show", "master", "brl"])
        .lines()
        .all(|l| !l.contains("vx")));

    // Reload: A and B take C as a peer; the running guest is not disturbed.
    let vx_a = ifindex(&a, "vx150");
    std::fs::write(&cfg_a, config(&ia, &peers(&[&ib, &ic]), LAB)).expect("config");
    std::fs::write(&cfg_b, config(&ib, &peers(&[&ia, &ic]), LAB)).expect("config");
    agent_a.signal(libc::SIGHUP);
    agent_b.signal(libc::SIGHUP);
    assert!(
        wait_for(T, || flood(&a).contains(&format!("dst {ic}"))).is_some(),
        "A does not flood to C after the reload:\n{}\n{}",
        flood(&a),
        agent_a.log()
    );
    let cfg_c = c.write_config("c.toml", &config(&ic, &peers(&[&ia, &ib]), LAB));
    let _agent_c = c.start(&cfg_c);
    let cc = Udhcpc::start(&c.g(gc).ns, &c.dir, "guestc");
    let lease_c = wait_event(&cc.events, 0, &["bound"], T).expect("the guest on C got no lease from A");
    assert_eq!(lease_c.router, "192.168.150.1");
    assert_ne!(lease_c.ip, lease_b.ip);
    // Names through A's DNS, and guest to guest across hosts.
    assert!(
        wait_for(T, || short(&b.g(gb).ns, "192.168.150.1", &["guestc.span"])
            == lease_c.ip)
        .is_some(),
        "B's guest cannot resolve C's: {}",
        short(&b.g(gb).ns, "192.168.150.1", &["guestc.span"])
    );
    assert_eq!(short(&c.g(gc).ns, "192.168.150.1", &["guestb.span"]), lease_b.ip);
    assert!(ping(&b.g(gb).ns, &lease_c.ip), "B's guest cannot reach C's");
    echo(&mut conn, b"after").expect("the connection from before the reload broke");
    assert_eq!(
        ifindex(&a, "vx150"),
        vx_a,
        "the reload made A's VXLAN device again"
    );

    // C leaves A's config: A stops flooding to it.
    std::fs::write(&cfg_a, config(&ia, &peers(&[&ib]), LAB)).expect("config");
    agent_a.signal(libc::SIGHUP);
    assert!(
        wait_for(T, || !flood(&a).contains(&format!("dst {ic}"))).is_some(),
        "A still floods to C:\n{}\n{}",
        flood(&a),
        agent_a.log()
    );
    assert!(flood(&a).contains(&format!("dst {ib}")));
    // Reconciling is idempotent: each flood entry was added once.
    let adds = agent_a.log().matches(&format!("floods to {ib}")).count();
    assert_eq!(adds, 1, "{}", agent_a.log());
}

/// A second network spanned by EVPN, added by a reload.
const SPAN2: &str = r#"[[network]]
name = "span2"
bridge = "brt"
address = "192.168.151.1/24"
ports = ["gt*"]

[network.span]
vni = 151
home = "10.98.0.1"
evpn = true
"#;

/// `netagent info span` on a host.
fn info(t: &Topo, network: &str) -> String {
    String::from_utf8_lossy(&t.netagent(&["info", network]).stdout).into_owned()
}

#[test]
fn netns_span_evpn_through_frr_learns_guests_and_follows_the_config() {
    need_root!("netns_span_evpn_through_frr_learns_guests_and_follows_the_config");
    if !std::path::Path::new("/usr/lib/frr/bgpd").exists() {
        panic!("FRR is not installed: `make deps` installs it (Debian package frr)");
    }
    let mut u = Underlay::new();
    let (a, ia) = u.host();
    let (mut b, ib) = u.host();
    let (mut c, ic) = u.host();
    let gb = b.dhcp_guest("gs1");
    let gc = c.dhcp_guest("gs1");
    let hosts = [(&a, &ia), (&b, &ib), (&c, &ic)];
    let all = [ia.as_str(), ib.as_str(), ic.as_str()];
    let others = |me: &str| -> Vec<&str> { all.iter().copied().filter(|h| *h != me).collect() };
    let frr: Vec<Frr> = hosts.iter().map(|(t, _)| Frr::start(&t.app)).collect();
    let cfg = |t: &Topo, me: &str, neighbors: &[&str], extra: &str| {
        config(
            me,
            "evpn = true",
            &format!("{extra}\n{}", evpn(neighbors, &t.app.name)),
        )
    };
    let paths: Vec<_> = hosts
        .iter()
        .map(|(t, me)| t.write_config("h.toml", &cfg(t, me, &others(me), "")))
        .collect();
    let agents: Vec<Agent> = hosts.iter().zip(&paths).map(|((t, _), p)| t.start(p)).collect();

    // BGP sessions establish; `netagent info` shows them, from FRR.
    let up = wait_for(Duration::from_secs(30), || {
        info(&a, "span").matches("BGP Established").count() == 2
    });
    assert!(
        up.is_some(),
        "A's sessions:\n{}\n{}\n{}",
        info(&a, "span"),
        frr[0].vtysh("show bgp summary"),
        agents[0].log()
    );
    let shown = info(&a, "span");
    assert!(
        shown.contains("VNI 150 on vx150") && shown.contains("10.98.0.1 (this host)"),
        "{shown}"
    );

    // Guests on B and C take their leases from A; their MACs become type-2
    // routes and reach the other hosts' VXLAN devices through FRR.
    let cb = Udhcpc::start(&b.g(gb).ns, &b.dir, "guestb");
    let lease_b = wait_event(&cb.events, 0, &["bound"], T).expect("the guest on B got no lease from A");
    let cc = Udhcpc::start(&c.g(gc).ns, &c.dir, "guestc");
    let lease_c = wait_event(&cc.events, 0, &["bound"], T).expect("the guest on C got no lease from A");
    assert_eq!(
        (lease_b.router.as_str(), lease_c.router.as_str()),
        ("192.168.150.1", "192.168.150.1")
    );
    assert!(ping(&b.g(gb).ns, &lease_c.ip), "B's guest cannot reach C's");
    let mac_b = mac_of(&b.g(gb).ns, "eth0");
    let learned = wait_for(T, || {
        fdb(&a)
            .lines()
            .any(|l| l.starts_with(&mac_b) && l.contains(&format!("dst {ib}")) && l.contains("extern_learn"))
    });
    assert!(learned.is_some(), "A has no EVPN entry for B's guest {mac_b}");
    let macip = frr[0].vtysh("show bgp l2vpn evpn route type macip");
    assert!(macip.contains(&mac_b), "no type-2 route for {mac_b}:\n{macip}");
    let imet = frr[0].vtysh("show bgp l2vpn evpn route type multicast");
    assert!(
        imet.contains(&format!("[{ib}]")) && imet.contains(&format!("[{ic}]")),
        "type-3 routes:\n{imet}"
    );
    // The gateway's MAC (A's bridge) is known on B through FRR, so B's
    // guests' frames to it go to A alone, not flooded to every host.
    let gw_mac = mac_of(&a.app, "brs");
    let known = wait_for(T, || {
        fdb(&b)
            .lines()
            .any(|l| l.starts_with(&gw_mac) && l.contains(&format!("dst {ia}")))
    });
    assert!(
        known.is_some(),
        "B does not know the gateway's MAC {gw_mac}:\n{}",
        frr[1].vtysh("show bgp l2vpn evpn route type macip")
    );
    // The learning is FRR's: the VXLAN port learns nothing by itself.
    let port = b.app.ip(&["-d", "link", "show", "vx150"]);
    assert!(
        port.contains("learning off") && port.contains("neigh_suppress on"),
        "{port}"
    );

    // Reload: C leaves A's and B's configs and a second VNI joins them. A
    // stops flooding to C; the new VNI is advertised; the guests go on.
    let vx_a = ifindex(&a, "vx150");
    for (i, (t, me)) in hosts.iter().take(2).enumerate() {
        let keep: Vec<&str> = others(me).into_iter().filter(|h| *h != ic).collect();
        std::fs::write(&paths[i], cfg(t, me, &keep, SPAN2)).expect("config");
        agents[i].signal(libc::SIGHUP);
    }
    let gone = wait_for(Duration::from_secs(20), || {
        !flood(&a).contains(&format!("dst {ic}"))
    });
    assert!(
        gone.is_some(),
        "A still floods to C:\n{}\n{}",
        flood(&a),
        agents[0].log()
    );
    let vni151 = wait_for(Duration::from_secs(20), || {
        frr[0]
            .vtysh("show bgp l2vpn evpn route type multicast")
            .contains(&format!("[{ib}]"))
            && frr[0]
                .vtysh("show evpn vni 151")
                .contains("Remote VTEPs for this VNI")
    });
    assert!(
        vni151.is_some(),
        "VNI 151 is not advertised:\n{}",
        frr[0].vtysh("show evpn vni")
    );
    assert!(
        frr[0].vtysh("show evpn vni").contains("vx151"),
        "{}",
        frr[0].vtysh("show evpn vni")
    );
    assert_eq!(
        ifindex(&a, "vx150"),
        vx_a,
        "the reload made A's VXLAN device again"
    );
    assert!(
        ping(&b.g(gb).ns, "192.168.150.1"),
        "B's guest lost its gateway across the reload"
    );
    assert!(
        !frr[0]
            .vtysh("show bgp neighbors json")
            .contains(&format!("\"{ic}\"")),
        "A's session to C is still configured"
    );
}
