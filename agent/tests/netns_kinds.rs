//! Root, network namespaces: every network kind of the seed, proven with
//! real TCP, UDP and ICMP between guests, the appliance and the outside.
//! Guests have static addresses here; DHCP has its own tests.

mod common;

use common::topo::*;

const NAT: &str = r#"
[[network]]
name = "nat"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]
"#;

/// libvirt's `<forward dev='up0'>` as `egress = "up0"`: the guests reach
/// the outside by the uplink, but not a VPN or management network that the
/// host also routes to.
#[test]
fn netns_egress_keeps_guests_off_every_other_interface() {
    need_root!("netns_egress_keeps_guests_off_every_other_interface");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    // The host's second network: vpn0 (10.98.0.2/24) to a peer at 10.98.0.1.
    let vpn = common::Netns::new("nv");
    common::ok(std::process::Command::new("ip").args([
        "link",
        "add",
        "vpn0",
        "netns",
        &t.app.name,
        "type",
        "veth",
        "peer",
        "name",
        "peer0",
        "netns",
        &vpn.name,
    ]));
    t.app.ip(&["addr", "add", "10.98.0.2/24", "dev", "vpn0"]);
    t.app.ip(&["link", "set", "vpn0", "up"]);
    vpn.ip(&["addr", "add", "10.98.0.1/24", "dev", "peer0"]);
    vpn.ip(&["link", "set", "peer0", "up"]);
    let reach = |t: &Topo, to: &str| {
        tcp_connect(&t.g(g).ns.name, None, sa(to))
            .and_then(|mut c| echo(&mut c, b"hi"))
            .is_ok()
    };
    let _out = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    let _peer = TcpServer::start(&vpn.name, sa("10.98.0.1:8080"));

    // Without egress both are reachable (masqueraded)...
    let cfg = t.write_config("nat.toml", &with_uplink(NAT));
    let agent = t.start(&cfg);
    assert!(reach(&t, "10.99.0.1:8080") && reach(&t, "10.98.0.1:8080"));
    // ...with it, only the outside by up0.
    std::fs::write(&cfg, with_uplink(&format!("{NAT}egress = \"{UPLINK}\"\n"))).expect("write");
    let r = t.netagent(&["reload"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        reach(&t, "10.99.0.1:8080"),
        "the outside by the egress: {}",
        agent.log()
    );
    assert!(!reach(&t, "10.98.0.1:8080"), "the VPN side must be out of reach");
}

#[test]
fn netns_nat_masquerades_and_keeps_the_outside_out() {
    need_root!("netns_nat_masquerades_and_keeps_the_outside_out");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &with_uplink(NAT));
    let _agent = t.start(&cfg);
    // The outside knows the way to the guests, so only the firewall stops it.
    t.route_back("10.77.0.0/24");

    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    // From a privileged source port, so masquerade must move it into 1024-65535.
    let mut c = tcp_connect(&t.g(g).ns.name, Some(sa("10.77.0.10:80")), sa("10.99.0.1:8080"))
        .expect("guest reaches the outside");
    echo(&mut c, b"hello").expect("echo through NAT");
    let peers = srv.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(
        peers[0].ip(),
        ip(UPLINK_IP),
        "the outside must see the uplink's address"
    );
    assert!(
        (1024..=65535).contains(&peers[0].port()),
        "source port {} outside 1024-65535",
        peers[0].port()
    );
    assert!(ping(&t.g(g).ns, OUTSIDE_IP), "ICMP through NAT");

    // The outside cannot open a connection to a guest.
    let _gs = TcpServer::start(&t.g(g).ns.name, sa("10.77.0.10:9000"));
    assert!(
        tcp_connect(&t.out.name, None, sa("10.77.0.10:9000")).is_err(),
        "outside opened a connection into a NAT network"
    );
    assert!(!ping(&t.out, "10.77.0.10"));

    // A guest sending from an address outside its subnet is dropped.
    t.g(g).ns.ip(&["addr", "add", "10.55.0.5/32", "dev", "eth0"]);
    let udp = UdpServer::start(&t.out.name, sa("10.99.0.1:5353"));
    udp_send(&t.g(g).ns.name, sa("10.55.0.5:4000"), sa("10.99.0.1:5353"));
    udp_send(&t.g(g).ns.name, sa("10.77.0.10:4001"), sa("10.99.0.1:5353"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let seen = udp.peers();
    assert!(
        seen.iter().all(|p| p.ip() == ip(UPLINK_IP)),
        "a spoofed source got out: {seen:?}"
    );
    assert!(
        !seen.is_empty(),
        "the control datagram from the guest's own address was lost"
    );
}

#[test]
fn netns_routed_guests_keep_their_addresses() {
    need_root!("netns_routed_guests_keep_their_addresses");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.88.0.10/24", "10.88.0.1");
    let cfg = t.write_config(
        "route.toml",
        &with_uplink("[[network]]\nname = \"r\"\nkind = \"route\"\nbridge = \"virbr1\"\naddress = \"10.88.0.1/24\"\nstp = false\nports = [\"vg*\"]\n"),
    );
    let _agent = t.start(&cfg);
    t.route_back("10.88.0.0/24");

    let gs = TcpServer::start(&t.g(g).ns.name, sa("10.88.0.10:9000"));
    let mut c =
        tcp_connect(&t.out.name, None, sa("10.88.0.10:9000")).expect("outside reaches a routed guest");
    echo(&mut c, b"in").expect("echo");
    assert_eq!(gs.peers()[0].ip(), ip(OUTSIDE_IP));

    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    let mut c = tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest reaches the outside");
    echo(&mut c, b"out").expect("echo");
    assert_eq!(
        srv.peers()[0].ip(),
        ip("10.88.0.10"),
        "no NAT on a routed network"
    );
    assert!(ping(&t.out, "10.88.0.10") && ping(&t.g(g).ns, OUTSIDE_IP));
}

#[test]
fn netns_isolated_guests_reach_each_other_and_nothing_else() {
    need_root!("netns_isolated_guests_reach_each_other_and_nothing_else");
    let mut t = Topo::new();
    let a = t.guest("vg1", "10.66.0.10/24", "10.66.0.1");
    let b = t.guest("vg2", "10.66.0.11/24", "10.66.0.1");
    let cfg = t.write_config(
        "iso.toml",
        &with_uplink("[[network]]\nname = \"i\"\nkind = \"isolated\"\nbridge = \"virbr2\"\naddress = \"10.66.0.1/24\"\nstp = false\nports = [\"vg*\"]\n"),
    );
    let _agent = t.start(&cfg);
    t.route_back("10.66.0.0/24");

    assert!(ping(&t.g(a).ns, "10.66.0.11"), "guest to guest");
    assert!(ping(&t.g(a).ns, "10.66.0.1"), "guest to appliance");
    let gs = TcpServer::start(&t.g(b).ns.name, sa("10.66.0.11:9000"));
    tcp_connect(&t.g(a).ns.name, None, sa("10.66.0.11:9000")).expect("guest to guest TCP");
    assert_eq!(gs.peers()[0].ip(), ip("10.66.0.10"));

    let _srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    assert!(
        tcp_connect(&t.g(a).ns.name, None, sa("10.99.0.1:8080")).is_err(),
        "an isolated guest got out"
    );
    assert!(!ping(&t.g(a).ns, OUTSIDE_IP));
    assert!(
        tcp_connect(&t.out.name, None, sa("10.66.0.11:9000")).is_err(),
        "the outside got in"
    );
    assert!(!ping(&t.out, "10.66.0.10"));
}

#[test]
fn netns_open_network_is_plain_routing_without_our_rules() {
    need_root!("netns_open_network_is_plain_routing_without_our_rules");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.44.0.10/24", "10.44.0.1");
    let cfg = t.write_config(
        "open.toml",
        &with_uplink("[[network]]\nname = \"o\"\nkind = \"open\"\nbridge = \"virbr3\"\naddress = \"10.44.0.1/24\"\nstp = false\nports = [\"vg*\"]\n[network.dns]\nenabled = false\n"),
    );
    let _agent = t.start(&cfg);
    t.route_back("10.44.0.0/24");
    assert_eq!(t.nft_table(), None, "an open network needs no table of ours");
    // As libvirt does for every mode but isolated, netagent turned IPv4
    // forwarding on (a new namespace starts with it off): traffic is
    // routed both ways with real addresses.
    let fwd = common::ok(t.app.cmd("sysctl").args(["-n", "net.ipv4.ip_forward"]));
    assert_eq!(fwd.trim(), "1", "an open network must turn forwarding on");
    let gs = TcpServer::start(&t.g(g).ns.name, sa("10.44.0.10:9000"));
    tcp_connect(&t.out.name, None, sa("10.44.0.10:9000")).expect("outside to guest");
    assert_eq!(gs.peers()[0].ip(), ip(OUTSIDE_IP));
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest to outside");
    assert_eq!(srv.peers()[0].ip(), ip("10.44.0.10"));
}

#[test]
fn netns_bridged_guests_share_the_outside_segment() {
    need_root!("netns_bridged_guests_share_the_outside_segment");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.99.0.50/24", "");
    // No uplink of its own: the uplink NIC up0 is a port of br0.
    let cfg = t.write_config(
        "bridge.toml",
        "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br0\"\nstp = false\nports = [\"up0\", \"vg*\"]\n",
    );
    let _agent = t.start(&cfg);
    assert_eq!(
        t.master_of(UPLINK).as_deref(),
        Some("br0"),
        "the uplink NIC is enslaved"
    );
    assert_eq!(t.master_of("vg1").as_deref(), Some("br0"));
    assert!(ping(&t.g(g).ns, OUTSIDE_IP), "guest on the outside L2 segment");
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest to outside");
    assert_eq!(
        srv.peers()[0].ip(),
        ip("10.99.0.50"),
        "the guest talks with its own address"
    );
    assert_eq!(t.nft_table(), None, "a bridged network needs no rules");
}

#[test]
fn netns_custom_nat_snats_to_its_range_and_ports() {
    need_root!("netns_custom_nat_snats_to_its_range_and_ports");
    let mut t = Topo::new();
    let g = t.guest("vg1", "172.30.5.10/24", "172.30.5.1");
    let cfg = t.write_config(
        "custom-nat.toml",
        &with_uplink(
            "[[network]]\nname = \"lab\"\nbridge = \"virbr10\"\naddress = \"172.30.5.1/24\"\nmtu = 1400\nstp = false\nports = [\"vg*\"]\n[network.nat]\nports = \"20000-20099\"\naddress = \"10.99.0.2\"\n",
        ),
    );
    let _agent = t.start(&cfg);
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    for _ in 0..3 {
        let mut c = tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest to outside");
        echo(&mut c, b"x").expect("echo");
    }
    for p in srv.peers() {
        assert_eq!(p.ip(), ip(UPLINK_IP));
        assert!(
            (20000..=20099).contains(&p.port()),
            "port {} outside the configured 20000-20099",
            p.port()
        );
    }
    let mtu = t.app.ip(&["-o", "link", "show", "dev", "virbr10"]);
    assert!(mtu.contains("mtu 1400"), "{mtu}");
}

#[test]
fn netns_custom_route_adds_its_static_route() {
    need_root!("netns_custom_route_adds_its_static_route");
    let mut t = Topo::new();
    let g = t.guest("vg1", "172.20.0.2/16", "172.20.0.1");
    let cfg = t.write_config(
        "custom-route.toml",
        &with_uplink("[[network]]\nname = \"srv\"\nkind = \"route\"\nbridge = \"virbr20\"\naddress = \"172.20.0.1/16\"\nstp = false\nports = [\"vg*\"]\n[[network.route]]\nto = \"172.21.0.0/16\"\nvia = \"172.20.0.2\"\nmetric = 10\n"),
    );
    let _agent = t.start(&cfg);
    let routes = t.app.ip(&["route", "show", "172.21.0.0/16"]);
    assert!(
        routes.contains("via 172.20.0.2 dev virbr20") && routes.contains("metric 10"),
        "{routes}"
    );
    // The guest behind which 172.21/16 lives answers for an address in it.
    t.g(g).ns.ip(&["addr", "add", "172.21.0.1/32", "dev", "lo"]);
    t.route_back("172.20.0.0/16");
    t.route_back("172.21.0.0/16");
    assert!(
        ping(&t.out, "172.21.0.1"),
        "the outside reaches the subnet behind the guest"
    );
}

#[test]
fn netns_networks_cannot_open_connections_into_each_other() {
    need_root!("netns_networks_cannot_open_connections_into_each_other");
    let mut t = Topo::new();
    let a = t.guest("vga1", "10.77.0.10/24", "10.77.0.1");
    let b = t.guest("vgb1", "10.78.0.10/24", "10.78.0.1");
    let c = t.guest("vgc1", "10.79.0.10/24", "10.79.0.1");
    let cfg = t.write_config(
        "multi.toml",
        &with_uplink(
            "[[network]]\nname = \"a\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vga*\"]\n\
             [[network]]\nname = \"b\"\nbridge = \"virbr1\"\naddress = \"10.78.0.1/24\"\nstp = false\nports = [\"vgb*\"]\n\
             [[network]]\nname = \"c\"\nkind = \"isolated\"\nbridge = \"virbr2\"\naddress = \"10.79.0.1/24\"\nstp = false\nports = [\"vgc*\"]\n",
        ),
    );
    let _agent = t.start(&cfg);
    let _sb = TcpServer::start(&t.g(b).ns.name, sa("10.78.0.10:9000"));
    let _sc = TcpServer::start(&t.g(c).ns.name, sa("10.79.0.10:9000"));
    let _sa = TcpServer::start(&t.g(a).ns.name, sa("10.77.0.10:9000"));
    assert!(
        tcp_connect(&t.g(a).ns.name, None, sa("10.78.0.10:9000")).is_err(),
        "NAT a opened into NAT b"
    );
    assert!(
        tcp_connect(&t.g(b).ns.name, None, sa("10.77.0.10:9000")).is_err(),
        "NAT b opened into NAT a"
    );
    assert!(
        tcp_connect(&t.g(a).ns.name, None, sa("10.79.0.10:9000")).is_err(),
        "NAT a opened into isolated c"
    );
    assert!(
        tcp_connect(&t.g(c).ns.name, None, sa("10.77.0.10:9000")).is_err(),
        "isolated c got out"
    );
    // Both NAT networks still reach the outside.
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    tcp_connect(&t.g(a).ns.name, None, sa("10.99.0.1:8080")).expect("a out");
    tcp_connect(&t.g(b).ns.name, None, sa("10.99.0.1:8080")).expect("b out");
    assert_eq!(srv.wait_count(2).len(), 2);
}
