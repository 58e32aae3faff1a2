//! Root, network namespaces: netagent's DNS server asked by `dig` from
//! guests: lease names forward and reverse, static, SRV and TXT records,
//! local-only NXDOMAIN, forwarding to a real upstream (dnsmasq in the outside
//! namespace serving a zone of its own) with failover past a dead one, no
//! answer to the uplink side, and an isolated network that does not forward.

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::clients::{dig, dnsmasq, short, wait_event, Peer, Udhcpc};
use common::topo::*;
use common::Netns;

/// Wait until `name` resolves to `want` through the agent, as seen from `ns`.
fn resolves(ns: &Netns, name: &str, want: &str) -> bool {
    wait_for(Duration::from_secs(5), || short(ns, "10.77.0.1", &[name]) == want).is_some()
}

/// The usual stage: the topology, one asking guest at 10.77.0.60 (vg2),
/// netagent up on `networks` and answering local names.
fn stage(networks: &str) -> (Topo, Agent, usize) {
    let mut t = Topo::new();
    let asker = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let cfg = t.write_config("dns.toml", &with_uplink(networks));
    let agent = t.start(&cfg);
    assert!(
        resolves(&t.g(asker).ns, "cache.lab", "10.77.0.20"),
        "{}",
        agent.log()
    );
    (t, agent, asker)
}

/// dnsmasq on the outside, authoritative for upstream.test only.
struct Upstream;

impl Upstream {
    fn start(t: &Topo) -> Peer {
        let p = dnsmasq(
            &t.out,
            &[
                "--listen-address=10.99.0.1",
                "--address=/www.upstream.test/10.99.0.80",
                "--local=/upstream.test/",
                "--txt-record=hello.upstream.test,from upstream",
                // What only upstream knows: a plain name and a reverse
                // name in the guests' subnet.
                "--address=/printer/10.99.0.81",
                "--ptr-record=99.0.77.10.in-addr.arpa,known-upstream.test",
                // An upstream answer netagent keeps (the rest have TTL 0).
                "--host-record=kept.upstream.test,10.99.0.82,300",
            ],
        );
        let ready = wait_for(Duration::from_secs(5), || {
            short(&t.out, "10.99.0.1", &["www.upstream.test"]) == "10.99.0.80"
        });
        assert!(ready.is_some(), "the upstream dnsmasq did not start");
        p
    }
}

/// The networks of these tests, behind the topology's uplink.
const NETWORKS: &str = r#"[[network]]
name = "nat"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]

[network.dhcp]
ranges = ["10.77.0.100-10.77.0.150"]
[[network.dhcp.host]]
mac = "52:54:00:00:00:10"
ip = "10.77.0.10"
name = "db"

[network.dns]
domain = "lab"
local_only = true
# The first upstream is dead: queries must fail over to the second.
[[network.dns.forwarder]]
addr = "10.99.0.9"
[[network.dns.forwarder]]
addr = "10.99.0.1"
[[network.dns.host]]
ip = "10.77.0.20"
names = ["cache"]
[[network.dns.srv]]
service = "http"
protocol = "tcp"
target = "db"
port = 8080
priority = 10
weight = 5
[[network.dns.txt]]
name = "info"
value = "managed by netagent"

[[network]]
name = "iso"
kind = "isolated"
bridge = "virbr1"
address = "10.66.0.1/24"
stp = false
ports = ["iso*"]

[network.dns]
domain = "iso"
"#;

#[test]
fn netns_dns_answers_guests_forwards_and_never_serves_the_uplink_side() {
    need_root!("netns_dns_answers_guests_forwards_and_never_serves_the_uplink_side");
    let mut t = Topo::new();
    let web = t.guest("vg1", "0.0.0.0/32", "");
    let asker = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let iso = t.guest("iso1", "10.66.0.60/24", "10.66.0.1");
    let _up = Upstream::start(&t);
    let cfg = t.write_config("dns.toml", &with_uplink(NETWORKS));
    let agent = t.start(&cfg);
    let ns = &t.g(asker).ns;
    assert!(
        wait_for(Duration::from_secs(5), || short(ns, "10.77.0.1", &["virbr0.lab"])
            == "10.77.0.1")
        .is_some(),
        "{}",
        agent.log()
    );

    // A guest that leased with hostname `web` is found by name and address.
    let c = Udhcpc::start(&t.g(web).ns, &t.dir, "web");
    let lease = wait_event(&c.events, 0, &["bound"], Duration::from_secs(15)).expect("lease");
    assert_eq!(short(ns, "10.77.0.1", &["web.lab"]), lease.ip);
    assert_eq!(
        short(ns, "10.77.0.1", &["web"]),
        lease.ip,
        "the short name resolves too"
    );
    assert_eq!(short(ns, "10.77.0.1", &["-x", &lease.ip]), "web.lab.");

    // Static DHCP hosts, DNS hosts, SRV and TXT records.
    assert_eq!(short(ns, "10.77.0.1", &["db.lab"]), "10.77.0.10");
    assert_eq!(short(ns, "10.77.0.1", &["-x", "10.77.0.10"]), "db.lab.");
    assert_eq!(short(ns, "10.77.0.1", &["cache.lab"]), "10.77.0.20");
    assert_eq!(
        short(ns, "10.77.0.1", &["SRV", "_http._tcp.lab"]),
        "10 5 8080 db.lab."
    );
    assert_eq!(
        short(ns, "10.77.0.1", &["TXT", "info.lab"]),
        "\"managed by netagent\""
    );
    assert!(
        dig(ns, "10.77.0.1", &["+tcp", "db.lab"]).contains("10.77.0.10"),
        "TCP answers too"
    );

    // Local-only: an unknown name in the domain is NXDOMAIN, not forwarded.
    assert!(dig(ns, "10.77.0.1", &["nosuch.lab"]).contains("status: NXDOMAIN"));
    // As libvirt's dnsmasq: a plain name that is not local goes upstream,
    // and so does a reverse name in the subnet netagent does not know
    // (forward_plain_names and local_ptr at their defaults).
    assert_eq!(short(ns, "10.77.0.1", &["printer"]), "10.99.0.81");
    assert_eq!(
        short(ns, "10.77.0.1", &["-x", "10.77.0.99"]),
        "known-upstream.test."
    );

    // Forwarded (past the dead first upstream) to the upstream's own zone.
    assert_eq!(short(ns, "10.77.0.1", &["www.upstream.test"]), "10.99.0.80");
    assert_eq!(
        short(ns, "10.77.0.1", &["TXT", "hello.upstream.test"]),
        "\"from upstream\""
    );
    assert!(
        dig(ns, "10.77.0.1", &["nope.upstream.test"]).contains("status: NXDOMAIN"),
        "upstream NXDOMAIN passes through"
    );

    // The names above the guests' reverse names exist (RFC 8020), though
    // the reverse zone is the upstream's: NODATA, not the upstream's
    // word on a zone it does not know.
    let ent = dig(ns, "10.77.0.1", &["0.77.10.in-addr.arpa", "SOA"]);
    assert!(
        ent.contains("status: NOERROR") && ent.contains("ANSWER: 0"),
        "an empty non-terminal of the reverse zone:\n{ent}"
    );

    // The uplink side gets no answer, whichever address it asks.
    t.route_back("10.77.0.0/24");
    for server in [UPLINK_IP, "10.77.0.1"] {
        let out = dig(&t.out, server, &["db.lab"]);
        assert!(
            out.contains("timed out") || out.contains("no servers could be reached"),
            "{server} answered the outside:\n{out}"
        );
    }

    // The release removes the name.
    c.signal(libc::SIGUSR2);
    assert!(
        wait_for(Duration::from_secs(5), || dig(ns, "10.77.0.1", &["web.lab"])
            .contains("status: NXDOMAIN"))
        .is_some()
    );

    // The isolated network answers its own names and forwards nothing.
    let ins = &t.g(iso).ns;
    assert_eq!(short(ins, "10.66.0.1", &["virbr1.iso"]), "10.66.0.1");
    let out = dig(ins, "10.66.0.1", &["www.upstream.test"]);
    assert!(
        out.contains("status: REFUSED"),
        "the isolated network forwarded:\n{out}"
    );
    assert!(!agent.log().contains("panicked"));
}

#[test]
fn netns_dns_reload_swaps_records_without_restarting() {
    need_root!("netns_dns_reload_swaps_records_without_restarting");
    let mut t = Topo::new();
    let asker = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let cfg = t.write_config("dns.toml", &with_uplink(NETWORKS));
    let agent = t.start(&cfg);
    let ns = &t.g(asker).ns;
    assert!(resolves(ns, "cache.lab", "10.77.0.20"));
    std::fs::write(&cfg, with_uplink(NETWORKS).replace("10.77.0.20", "10.77.0.21")).expect("write");
    agent.signal(libc::SIGHUP);
    assert!(resolves(ns, "cache.lab", "10.77.0.21"), "{}", agent.log());
    assert!(agent.log().contains("zone reloaded"));
    assert_eq!(
        agent.log().matches("dns nat: serving").count(),
        1,
        "the server was restarted:\n{}",
        agent.log()
    );
}

/// An answer built for a small EDNS buffer (truncated) is never replayed to
/// a client that can take more, and a kept answer's TTL counts down.
#[test]
fn netns_dns_cache_keeps_answers_apart_by_buffer_size_and_counts_ttls_down() {
    need_root!("netns_dns_cache_keeps_answers_apart_by_buffer_size_and_counts_ttls_down");
    let long = "x".repeat(200);
    let txt: String = (0..5)
        .map(|i| format!("[[network.dns.txt]]\nname = \"big\"\nvalue = \"{i}{long}\"\n"))
        .collect();
    let (t, _agent, asker) =
        stage(&NETWORKS.replace("[[network.dns.txt]]", &format!("{txt}[[network.dns.txt]]")));
    let ns = &t.g(asker).ns;
    let small = dig(ns, "10.77.0.1", &["+bufsize=512", "+ignore", "big.lab", "TXT"]);
    assert!(
        small.contains("flags: qr aa tc") || small.contains(" tc"),
        "512 bytes cannot hold it:\n{small}"
    );
    let big = dig(ns, "10.77.0.1", &["+bufsize=1232", "+ignore", "big.lab", "TXT"]);
    assert_eq!(
        big.matches("\tTXT\t").count(),
        5,
        "after the truncated one, 1232 bytes get all five:\n{big}"
    );
    assert!(!big.contains(" tc"), "{big}");

    // A kept upstream answer's TTLs count down; a local name's stay what
    // the zone says (authoritative data: dnsmasq and unbound say 60 of
    // theirs every time).
    let _up = Upstream::start(&t);
    let ttl = |name: &str| -> Option<u32> {
        dig(ns, "10.77.0.1", &[name])
            .lines()
            .find(|l| l.starts_with(&format!("{name}.")) && l.contains("\tA\t"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let (local, up) = (
        ttl("cache.lab").expect("a TTL"),
        ttl("kept.upstream.test").expect("a TTL"),
    );
    std::thread::sleep(Duration::from_millis(2100));
    let (local2, up2) = (
        ttl("cache.lab").expect("a TTL"),
        ttl("kept.upstream.test").expect("a TTL"),
    );
    assert_eq!((local, local2), (60, 60), "a local name's TTL moved");
    assert!(
        up2 + 2 <= up,
        "the upstream TTL did not count down: {up} then {up2}"
    );
    // TCP is answered from the same cache: the kept answer, counted down
    // (asked upstream again, it would say 300).
    let tcp = dig(ns, "10.77.0.1", &["+tcp", "kept.upstream.test"]);
    let tcp_ttl: u32 = tcp
        .lines()
        .find(|l| l.starts_with("kept.upstream.test.") && l.contains("\tA\t"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no answer over TCP:\n{tcp}"));
    assert!(tcp_ttl <= up2, "TCP went upstream again: {tcp_ttl} after {up2}");
}

/// A guest that forges the source address of a DNS query (an outside host's)
/// gets nothing sent to that host: the agent's DNS is no reflector.
#[test]
fn netns_dns_answers_no_forged_source() {
    need_root!("netns_dns_answers_no_forged_source");
    let (t, _agent, asker) = stage(NETWORKS);
    let ns = &t.g(asker).ns;
    // The victim: an outside address, listening where the answer would go.
    t.out.ip(&["addr", "add", "10.99.0.77/24", "dev", "out0"]);
    let victim = UdpServer::start(&t.out.name, sa("10.99.0.77:5353"));
    // The guest sends from that address (it owns it only on its own side).
    ns.ip(&["addr", "add", "10.99.0.77/32", "dev", "eth0"]);
    for _ in 0..3 {
        dig(
            ns,
            "10.77.0.1",
            &["-b", "10.99.0.77#5353", "+tries=1", "+time=1", "cache.lab"],
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        victim.peers().is_empty(),
        "answers reached the forged source: {:?}",
        victim.peers()
    );
    // The guest's own address still gets answers.
    assert_eq!(short(ns, "10.77.0.1", &["cache.lab"]), "10.77.0.20");
}

/// The same question from many clients at once goes upstream once: the
/// repeats wait for the first one's answer (identical queries in flight
/// are what a forger's birthday attack needs, RFC 5452 §5).
#[test]
fn netns_dns_identical_questions_in_flight_go_upstream_once() {
    need_root!("netns_dns_identical_questions_in_flight_go_upstream_once");
    let (t, _agent, asker) = stage(NETWORKS);
    // The first forwarder, made to exist and stay silent: every query the
    // agent relays is counted there, and none is answered for a second.
    t.out.ip(&["addr", "add", "10.99.0.9/24", "dev", "out0"]);
    let upstream = UdpServer::start(&t.out.name, sa("10.99.0.9:53"));
    let ns = t.g(asker).ns.name.clone();
    let s = in_ns(&ns, || {
        let s = std::net::UdpSocket::bind("10.77.0.60:0").expect("bind");
        for id in 0..20u16 {
            let mut q = id.to_be_bytes().to_vec();
            q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
            q.extend_from_slice(b"\x04same\x07example\x00\x00\x01\x00\x01");
            s.send_to(&q, "10.77.0.1:53").expect("send");
        }
        s
    });
    // Well within the second the agent gives the first forwarder.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        upstream.peers().len(),
        1,
        "twenty identical questions went upstream as {:?}",
        upstream.peers()
    );
    // Neither forwarder answers (the second is nobody): each client gets
    // the one SERVFAIL, under its own ID.
    s.set_read_timeout(Some(Duration::from_secs(4))).expect("timeout");
    let mut ids = Vec::new();
    let mut b = [0u8; 512];
    while let Ok(n) = s.recv(&mut b) {
        assert!(n >= 12 && b[3] & 0x0f == 2, "not a SERVFAIL: {:?}", &b[..n]);
        ids.push(u16::from_be_bytes([b[0], b[1]]));
        if ids.len() == 20 {
            break;
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..20).collect::<Vec<u16>>());
}

/// One query over TCP on `c`: the answer's length, or None when the agent
/// closed the connection.
fn tcp_ask(c: &mut std::net::TcpStream, id: u16) -> Option<usize> {
    use std::io::{Read, Write};
    let q = dns_query(id, "cache.lab");
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    c.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    c.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    c.read_exact(&mut body).ok()?;
    (body[..2] == id.to_be_bytes()).then_some(body.len())
}

/// TCP is bounded by design: connections past the cap are closed at once,
/// and one connection lives a bounded time however often it asks. While
/// hundreds are held, UDP DNS and the control socket answer.
#[test]
fn netns_dns_tcp_connections_are_bounded_and_a_trickle_cannot_hold_one() {
    use std::io::Read;
    need_root!("netns_dns_tcp_connections_are_bounded_and_a_trickle_cannot_hold_one");
    let (t, _agent, asker) = stage(NETWORKS);
    let ns = t.g(asker).ns.name.clone();

    let held: Vec<std::net::TcpStream> = in_ns(&ns, || {
        (0..400)
            .filter_map(|_| std::net::TcpStream::connect("10.77.0.1:53").ok())
            .collect()
    });
    std::thread::sleep(Duration::from_millis(500));
    let open = held
        .iter()
        .filter(|c| {
            let _ = c.set_read_timeout(Some(Duration::from_millis(5)));
            let mut b = [0u8; 1];
            matches!((&**c).read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
        })
        .count();
    eprintln!("{} connections made, {open} held open by the agent", held.len());
    assert!(
        (64..=128).contains(&open),
        "{open} of {} connections held",
        held.len()
    );
    assert_eq!(short(&t.g(asker).ns, "10.77.0.1", &["cache.lab"]), "10.77.0.20");
    assert!(t.netagent(&["status"]).status.success());
    drop(held);

    // A trickle: a query every 2 s keeps no connection forever.
    let mut c = in_ns(&ns, || {
        std::net::TcpStream::connect("10.77.0.1:53").expect("connect")
    });
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let start = std::time::Instant::now();
    let mut answered = 0;
    while tcp_ask(&mut c, answered).is_some() {
        answered += 1;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "a trickle held a connection for a minute"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "the trickling connection was closed after {:?} and {answered} answers",
        start.elapsed()
    );
    assert!(answered >= 5, "closed too early: {answered} answers");
}

/// A guest floods random names toward an upstream that never answers:
/// past the cap on questions in flight each gets SERVFAIL at once, and
/// local names, DHCP and the control socket go on answering meanwhile.
#[test]
fn netns_dns_a_flood_toward_a_black_holed_upstream_stops_nothing_else() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    need_root!("netns_dns_a_flood_toward_a_black_holed_upstream_stops_nothing_else");
    let mut t = Topo::new();
    let flooder = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let asker = t.guest("vg3", "10.77.0.61/24", "10.77.0.1");
    let newcomer = t.guest("vg4", "0.0.0.0/32", "");
    // The only upstream is an address nobody has: questions vanish there.
    let only_dead = NETWORKS.replace("[[network.dns.forwarder]]\naddr = \"10.99.0.1\"\n", "");
    let cfg = t.write_config("dns.toml", &with_uplink(&only_dead));
    let agent = t.start(&cfg);
    assert!(
        resolves(&t.g(asker).ns, "cache.lab", "10.77.0.20"),
        "{}",
        agent.log()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let ns = t.g(flooder).ns.name.clone();
    let flood = {
        let (stop, sent, answered) = (stop.clone(), sent.clone(), answered.clone());
        std::thread::spawn(move || {
            in_ns(&ns, move || {
                let s = std::net::UdpSocket::bind("10.77.0.60:0").expect("bind");
                s.set_read_timeout(Some(Duration::from_millis(1)))
                    .expect("timeout");
                let mut buf = [0u8; 512];
                let mut i: u32 = 0;
                while !stop.load(Ordering::SeqCst) {
                    for _ in 0..20 {
                        i += 1;
                        let name = format!("r{i}.flood.example");
                        if s.send_to(&dns_query(i as u16, &name), "10.77.0.1:53").is_ok() {
                            sent.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    while s.recv(&mut buf).is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
    };
    // Well into the flood: thousands of questions, most of them waiting.
    assert!(wait_for(Duration::from_secs(10), || sent.load(Ordering::SeqCst) > 5_000).is_some());
    assert_eq!(short(&t.g(asker).ns, "10.77.0.1", &["cache.lab"]), "10.77.0.20");
    let c = Udhcpc::start(&t.g(newcomer).ns, &t.dir, "late");
    assert!(
        wait_event(&c.events, 0, &["bound"], Duration::from_secs(10)).is_some(),
        "no lease during the flood:\n{}",
        agent.log()
    );
    let st = t.netagent(&["status"]);
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    stop.store(true, Ordering::SeqCst);
    flood.join().expect("flood thread");
    let (s, a) = (sent.load(Ordering::SeqCst), answered.load(Ordering::SeqCst));
    eprintln!("{s} flood questions sent, {a} answered (SERVFAIL) during the flood");
    assert!(
        a + 2_048 >= s,
        "questions past the cap were not answered at once: {a} of {s}"
    );
}

/// RFC conformance of the local zone, asked with dig as guests' resolvers
/// ask: negative answers carry the zone's SOA (RFC 2308), the apex has its
/// SOA and NS, empty non-terminals exist (RFC 8020), EDNS version 1 gets
/// BADVERS (RFC 6891), zone transfers are refused, class ANY is answered,
/// TCP answers carry OPT, and a query that cannot be read gets FORMERR.
#[test]
fn netns_dns_local_zone_answers_as_the_rfcs_say() {
    need_root!("netns_dns_local_zone_answers_as_the_rfcs_say");
    // The subnet's reverse zone is netagent's alone (libvirt's
    // localPtr='yes'), and plain names stay local (forwardPlainNames='no').
    let cfg = NETWORKS.replace(
        "local_only = true\n",
        "local_only = true\nlocal_ptr = true\nforward_plain_names = false\n",
    );
    let (t, _agent, asker) = stage(&cfg);
    let ns = &t.g(asker).ns;
    let q = |args: &[&str]| dig(ns, "10.77.0.1", args);
    let authority_soa = |o: &str| o.lines().any(|l| l.starts_with("lab.") && l.contains("\tSOA\t"));

    let nodata = q(&["cache.lab", "AAAA"]);
    assert!(
        nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0"),
        "{nodata}"
    );
    assert!(authority_soa(&nodata), "NODATA without the zone's SOA:\n{nodata}");
    let nx = q(&["nope.lab"]);
    assert!(nx.contains("status: NXDOMAIN") && authority_soa(&nx), "{nx}");
    let rev = q(&["-x", "10.77.0.99"]);
    assert!(
        rev.contains("status: NXDOMAIN") && rev.contains("0.77.10.in-addr.arpa.") && rev.contains("\tSOA\t"),
        "{rev}"
    );
    assert!(q(&["printer"]).contains("status: NXDOMAIN"));

    assert!(short(ns, "10.77.0.1", &["lab", "SOA"]).starts_with("virbr0.lab. hostmaster.lab. 1 "));
    assert_eq!(short(ns, "10.77.0.1", &["lab", "NS"]), "virbr0.lab.");
    let ent = q(&["_tcp.lab", "SRV"]);
    assert!(
        ent.contains("status: NOERROR"),
        "an empty non-terminal is not NXDOMAIN:\n{ent}"
    );

    // RFC 3225 §3: DO is copied into the answer, local ones too, over
    // UDP and TCP (dnsmasq and unbound both say `flags: do`).
    for args in [
        &["+dnssec", "cache.lab"][..],
        &["+dnssec", "nope.lab"],
        &["+dnssec", "cache.lab", "AAAA"],
        &["+dnssec", "lab", "SOA"],
        &["+dnssec", "+tcp", "cache.lab"],
    ] {
        let out = q(args);
        assert!(out.contains("; EDNS: version: 0, flags: do;"), "{args:?}:\n{out}");
    }
    assert!(q(&["cache.lab"]).contains("; EDNS: version: 0, flags:;"));

    let v1 = q(&["+edns=1", "+noednsnegotiation", "cache.lab"]);
    assert!(v1.contains("status: BADVERS"), "{v1}");
    let axfr = q(&["lab", "AXFR"]);
    assert!(
        axfr.contains("Transfer failed") || axfr.contains("REFUSED"),
        "{axfr}"
    );
    assert_eq!(short(ns, "10.77.0.1", &["-c", "ANY", "cache.lab"]), "10.77.0.20");
    let tcp = q(&["+tcp", "CaChE.LaB"]);
    assert!(
        tcp.contains("OPT PSEUDOSECTION") && tcp.contains("10.77.0.20"),
        "{tcp}"
    );
    assert!(
        tcp.lines()
            .any(|l| l.starts_with("CaChE.LaB.") && l.contains("\tA\t")),
        "over TCP the answer does not keep the question's case:\n{tcp}"
    );

    // ANCOUNT 1 with no answer behind it: the body does not read.
    let mut bad = dns_query(0x4242, "cache.lab");
    bad[7] = 1;
    let reply = in_ns(&ns.name, move || {
        let s = std::net::UdpSocket::bind("10.77.0.60:0").expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        s.send_to(&bad, "10.77.0.1:53").expect("send");
        let mut buf = [0u8; 512];
        s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    });
    let reply = reply.expect("no answer to a malformed query");
    assert_eq!(
        (&reply[..2], reply[3] & 0x0f),
        (&[0x42u8, 0x42][..], 1),
        "not FORMERR: {reply:?}"
    );
}

/// nsd on the outside serving `signed.test`, signed with fresh keys by
/// ldns-signzone; the trust anchor for it as delv reads one.
struct SignedUpstream {
    nsd: Child,
    anchor: std::path::PathBuf,
}

impl SignedUpstream {
    fn start(t: &Topo) -> SignedUpstream {
        let d = t.dir.join("signed");
        std::fs::create_dir_all(&d).expect("zone dir");
        std::fs::write(
            d.join("signed.test.zone"),
            "$ORIGIN signed.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\n\
             ns IN A 10.99.0.1\nwww IN A 10.99.0.80\nalias IN CNAME gone.signed.test.\nchain IN CNAME www.signed.test.\n",
        )
        .expect("zone");
        let keygen = |extra: &[&str]| {
            let o = std::process::Command::new("ldns-keygen")
                .current_dir(&d)
                .args(["-a", "ECDSAP256SHA256"])
                .args(extra)
                .arg("signed.test")
                .output()
                .expect("ldns-keygen");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let (ksk, zsk) = (keygen(&["-k"]), keygen(&[]));
        common::ok(std::process::Command::new("ldns-signzone").current_dir(&d).args([
            "signed.test.zone",
            &ksk,
            &zsk,
        ]));
        let key = std::fs::read_to_string(d.join(format!("{ksk}.key"))).expect("ksk");
        let f: Vec<&str> = key.split_whitespace().collect();
        let anchor = d.join("anchor.conf");
        std::fs::write(
            &anchor,
            format!(
                "trust-anchors {{\n  signed.test. static-key {} {} {} \"{}\";\n}};\n",
                f[3], f[4], f[5], f[6]
            ),
        )
        .expect("anchor");
        let conf = d.join("nsd.conf");
        let dir = d.display();
        std::fs::write(
            &conf,
            format!(
                "server:\n  ip-address: 10.99.0.1\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{dir}\"\n\
                 pidfile: \"{dir}/nsd.pid\"\n  zonelistfile: \"{dir}/zone.list\"\n  database: \"\"\n  xfrdfile: \"{dir}/xfrd.state\"\n\
                 xfrdir: \"{dir}\"\n  server-count: 1\nremote-control:\n  control-enable: no\n\
                 zone:\n  name: \"signed.test\"\n  zonefile: \"signed.test.zone.signed\"\n"
            ),
        )
        .expect("nsd.conf");
        let nsd = t
            .out
            .cmd("nsd")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd");
        let up = wait_for(Duration::from_secs(5), || {
            short(&t.out, "10.99.0.1", &["www.signed.test"]) == "10.99.0.80"
        });
        assert!(up.is_some(), "nsd did not start");
        SignedUpstream { nsd, anchor }
    }
}

impl Drop for SignedUpstream {
    fn drop(&mut self) {
        let _ = self.nsd.kill();
        let _ = self.nsd.wait();
    }
}

/// A validating guest (delv with a trust anchor for a signed zone) gets
/// "fully validated" through netagent, for an address, for a name that
/// does not exist and for a CNAME: DO and CD go upstream, RRSIG and NSEC
/// come back. A CNAME to a missing name keeps its chain (RFC 2308 §2.1).
#[test]
fn netns_dns_a_validating_guest_validates_through_netagent() {
    need_root!("netns_dns_a_validating_guest_validates_through_netagent");
    let mut t = Topo::new();
    let asker = t.guest("vg2", "10.77.0.60/24", "10.77.0.1");
    let signed = SignedUpstream::start(&t);
    let only_nsd = NETWORKS.replace("[[network.dns.forwarder]]\naddr = \"10.99.0.9\"\n", "");
    let cfg = t.write_config("dns.toml", &with_uplink(&only_nsd));
    let agent = t.start(&cfg);
    let ns = &t.g(asker).ns;
    assert!(resolves(ns, "www.signed.test", "10.99.0.80"), "{}", agent.log());
    let delv = |name: &str, ty: &str| {
        let o = ns
            .cmd("delv")
            .arg("-a")
            .arg(&signed.anchor)
            .args(["+root=signed.test", "@10.77.0.1", name, ty])
            .output()
            .expect("delv");
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let a = delv("www.signed.test", "A");
    assert!(a.contains("; fully validated") && a.contains("10.99.0.80"), "{a}");
    let chain = delv("chain.signed.test", "A");
    assert!(
        chain.contains("; fully validated") && chain.contains("CNAME"),
        "{chain}"
    );
    let nx = delv("nope.signed.test", "A");
    assert!(nx.contains("negative response, fully validated"), "{nx}");
    let dangling = dig(ns, "10.77.0.1", &["alias.signed.test"]);
    assert!(
        dangling.contains("status: NXDOMAIN") && dangling.contains("CNAME\tgone.signed.test."),
        "the CNAME is lost:\n{dangling}"
    );
    let signed_answer = dig(ns, "10.77.0.1", &["+dnssec", "www.signed.test"]);
    assert!(
        signed_answer.contains("\tRRSIG\t") && signed_answer.contains("flags: do;"),
        "{signed_answer}"
    );
    // RA says what netagent offers, whatever the guest asked (+norec) or
    // the upstream said of itself (nsd, authoritative only, never sets
    // it; dnsmasq answers `qr aa ra` here).
    let norec = dig(ns, "10.77.0.1", &["+norec", "AAAA", "www.signed.test"]);
    let flags = norec
        .lines()
        .find(|l| l.contains(";; flags:"))
        .unwrap_or_default();
    assert!(
        flags.contains(" aa") && flags.contains(" ra"),
        "a relayed answer without RA:\n{norec}"
    );
}
