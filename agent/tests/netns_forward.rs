//! Root, network namespaces: port forwarding into a NAT network, proven with
//! real connections from the outside, from the appliance itself, from a
//! guest of the same bridge (hairpin) and from a guest of another network.

mod common;

use common::topo::*;

const NETWORKS: &str = r#"
[[network]]
name = "web"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]

[[network.forward]]
port = 8080
to = "10.77.0.10"
to_port = 80

[[network.forward]]
protocol = "udp"
port = "5300-5310"
to = "10.77.0.10"

[[network.forward]]
port = 2222
to = "10.77.0.10"
to_port = 22
from = ["10.99.0.0/24"]

[[network]]
name = "other"
bridge = "virbr1"
address = "10.78.0.1/24"
stp = false
ports = ["vh*"]
"#;

#[test]
fn netns_port_forwards_reach_the_guest_from_everywhere() {
    need_root!("netns_port_forwards_reach_the_guest_from_everywhere");
    let mut t = Topo::new();
    let srv = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let peer = t.guest("vg2", "10.77.0.11/24", "10.77.0.1");
    let far = t.guest("vh1", "10.78.0.10/24", "10.78.0.1");
    let cfg = t.write_config("fwd.toml", &with_uplink(NETWORKS));
    let _agent = t.start(&cfg);

    let http = TcpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:80"));
    let ssh = TcpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:22"));
    let dns = UdpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:5305"));
    let _other = TcpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:9000"));

    // From outside: the guest sees the real client address.
    let mut c = tcp_connect(&t.out.name, None, sa("10.99.0.2:8080")).expect("outside -> forward");
    echo(&mut c, b"outside").expect("echo from outside");
    assert_eq!(http.wait_count(1)[0].ip(), ip(OUTSIDE_IP));

    // From the appliance itself, to its own uplink address.
    let mut c = tcp_connect(&t.app.name, None, sa("10.99.0.2:8080")).expect("appliance -> forward");
    echo(&mut c, b"appliance").expect("echo from the appliance");
    assert_eq!(http.wait_count(2).len(), 2);

    // Hairpin from a guest of the same bridge: masqueraded to the bridge's
    // address, so the reply comes back through the appliance.
    let mut c = tcp_connect(&t.g(peer).ns.name, None, sa("10.99.0.2:8080")).expect("hairpin");
    echo(&mut c, b"hairpin").expect("echo through the hairpin");
    assert_eq!(http.wait_count(3)[2].ip(), ip("10.77.0.1"));

    // From a guest of another NAT network.
    let mut c = tcp_connect(&t.g(far).ns.name, None, sa("10.99.0.2:8080")).expect("other network -> forward");
    echo(&mut c, b"far").expect("echo from the other network");
    assert_eq!(http.wait_count(4).len(), 4);

    // UDP, a port of the range, port for port.
    udp_send(&t.out.name, sa("10.99.0.1:4000"), sa("10.99.0.2:5305"));
    assert!(
        wait_for(std::time::Duration::from_secs(2), || !dns.peers().is_empty()).is_some(),
        "UDP forward lost"
    );
    assert_eq!(dns.peers()[0], sa("10.99.0.1:4000"));

    // Limited to sources in 10.99.0.0/24: the outside gets in, a guest does not.
    let mut c = tcp_connect(&t.out.name, None, sa("10.99.0.2:2222")).expect("allowed source");
    echo(&mut c, b"ssh").expect("echo from an allowed source");
    assert!(
        tcp_connect(&t.g(peer).ns.name, None, sa("10.99.0.2:2222")).is_err(),
        "a source outside `from` was forwarded"
    );
    assert_eq!(ssh.wait_count(1).len(), 1);

    // What is not forwarded stays closed: another port, and the guest itself.
    assert!(tcp_connect(&t.out.name, None, sa("10.99.0.2:9000")).is_err());
    t.route_back("10.77.0.0/24");
    assert!(
        tcp_connect(&t.out.name, None, sa("10.77.0.10:9000")).is_err(),
        "the outside reached an unforwarded guest port"
    );
    // The bridge's own address is never forwarded.
    assert!(tcp_connect(&t.g(peer).ns.name, None, sa("10.77.0.1:8080")).is_err());
}

/// Port forwards open no holes: an isolated network's guest reaches no
/// forwarded guest, and a guest that forges a source inside a forward's
/// `from` gets nothing through.
#[test]
fn netns_port_forwards_obey_isolation_and_cannot_be_spoofed() {
    need_root!("netns_port_forwards_obey_isolation_and_cannot_be_spoofed");
    let mut t = Topo::new();
    let srv = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let liar = t.guest("vh1", "10.78.0.10/24", "10.78.0.1");
    let iso = t.guest("vk1", "10.66.0.10/24", "10.66.0.1");
    let extra = r#"
[[network.forward]]
protocol = "udp"
port = 5400
to = "10.77.0.10"
from = ["10.99.0.0/24"]

[[network]]
name = "iso"
kind = "isolated"
bridge = "virbr2"
address = "10.66.0.1/24"
stp = false
ports = ["vk*"]
"#;
    // The UDP forward belongs to "web": insert it before "other".
    let networks = NETWORKS.replacen(
        "[[network]]\nname = \"other\"",
        &format!("{extra}\n[[network]]\nname = \"other\""),
        1,
    );
    let cfg = t.write_config("fwd.toml", &with_uplink(&networks));
    let agent = t.start(&cfg);
    let http = TcpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:80"));
    let udp = UdpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:5400"));
    // The forward works for the outside.
    let mut c = tcp_connect(&t.out.name, None, sa("10.99.0.2:8080")).expect("outside -> forward");
    echo(&mut c, b"outside").expect("echo");
    udp_send(&t.out.name, sa("10.99.0.1:4001"), sa("10.99.0.2:5400"));
    assert!(
        wait_for(std::time::Duration::from_secs(2), || !udp.peers().is_empty()).is_some(),
        "{}",
        agent.log()
    );

    // An isolated guest: no way out, not even through a port forward.
    assert!(
        tcp_connect(&t.g(iso).ns.name, None, sa("10.99.0.2:8080")).is_err(),
        "an isolated guest reached a forwarded guest"
    );
    assert_eq!(http.wait_count(1).len(), 1);
    // Not one way either (a reply could not come back over TCP; a UDP
    // datagram needs none).
    let range = UdpServer::start(&t.g(srv).ns.name, sa("10.77.0.10:5305"));
    udp_send(&t.g(iso).ns.name, sa("10.66.0.10:4003"), sa("10.99.0.2:5305"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        range.peers().is_empty(),
        "an isolated guest's datagram got through: {:?}",
        range.peers()
    );

    // A guest of another network sends from an address inside `from`.
    t.g(liar).ns.ip(&["addr", "add", "10.99.0.50/32", "dev", "eth0"]);
    udp_send(&t.g(liar).ns.name, sa("10.99.0.50:4002"), sa("10.99.0.2:5400"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let peers = udp.peers();
    assert!(
        peers.iter().all(|p| *p == sa("10.99.0.1:4001")),
        "a forged source got through: {peers:?}"
    );
}
