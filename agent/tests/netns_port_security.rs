//! Port security, as a hostile guest tries it (python3-scapy and a rogue
//! dnsmasq in guest A's namespace) against guest B on the same isolated
//! network, with tcpdump listening in B: nothing of it reaches B while the
//! guard is on, and all of it does with the guard off (so the capture
//! would have seen it). A trusted port's DHCP server does reach B.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::clients::{dnsmasq, short, wait_event, Udhcpc};
use common::topo::*;
use common::Netns;

const T: Duration = Duration::from_secs(15);

fn config(extra: &str) -> String {
    format!(
        "[[network]]\nname = \"iso\"\nkind = \"isolated\"\nbridge = \"psbr\"\naddress = \"10.128.0.1/24\"\naddress6 = \"fd00:128::1/64\"\n\
         stp = false\nports = [\"pa*\", \"pb*\", \"pc*\", \"pt*\"]\n\
         [network.dhcp]\nranges = [\"10.128.0.10-10.128.0.60\"]\n\
         [network.dns]\ndomain = \"lab\"\n\
         [network.port_security]\n{extra}"
    )
}

const ON: &str = "trusted = [\"pt*\"]\n";
const OFF: &str = "enabled = false\n";

/// tcpdump on a guest's eth0, to a file, until stopped.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(ns: &Netns, dir: &Path) -> Capture {
        let file = dir.join(format!("{}-{}.pcap", ns.name, common::unique("")));
        let child = ns
            .cmd("tcpdump")
            .args(["-i", "eth0", "-n", "-U", "--immediate-mode", "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(file.with_extension("err")).expect("tcpdump's log"))
            .spawn()
            .expect("tcpdump");
        let ready = wait_for(Duration::from_secs(5), || file.exists());
        assert!(ready.is_some(), "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(300));
        Capture { child, file }
    }

    /// Stop and return the file.
    fn stop(mut self) -> PathBuf {
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: signalling our own child; tcpdump flushes on SIGINT.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many frames of `file` match the tcpdump `filter`.
fn count(file: &Path, filter: &str) -> usize {
    let out = std::process::Command::new("tcpdump")
        .args(["-r"])
        .arg(file)
        .args(["-n", filter])
        .stderr(Stdio::null())
        .output()
        .expect("tcpdump -r");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// The frames of `file` that match `filter`, as tcpdump shows them.
fn show(file: &Path, filter: &str) -> String {
    let out = std::process::Command::new("tcpdump")
        .args(["-r"])
        .arg(file)
        .args(["-n", "-e", filter])
        .stderr(Stdio::null())
        .output()
        .expect("tcpdump -r");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The port security table as it is now.
fn nft_table(t: &Topo) -> String {
    let o = t
        .app
        .cmd("nft")
        .args(["list", "table", "bridge", "netagent"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Guest `ns` runs `attack.py ARGS` (the hostile guest's toolbox).
fn attack(ns: &Netns, args: &[&str]) -> String {
    let script = common::repo_root().join("agent/tests/port_security/attack.py");
    let out = ns
        .cmd("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .expect("attack.py");
    assert!(
        out.status.success(),
        "attack.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An address of netagent's pool (the rogue's is .100-.150).
fn ours(ip: &str) -> bool {
    ip.strip_prefix("10.128.0.")
        .and_then(|h| h.parse::<u8>().ok())
        .is_some_and(|h| (10..=60).contains(&h))
}

fn mac_of(ns: &Netns) -> String {
    ns.ip(&["-br", "link", "show", "dev", "eth0"])
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// A guest leases with udhcpc (a new one: its events file may hold an
/// earlier one's); its event.
fn lease_event(ns: &Netns, dir: &Path, name: &str) -> (Udhcpc, common::clients::Event) {
    let before = common::clients::events(&dir.join(format!("udhcpc-{}.events", ns.name))).len();
    let c = Udhcpc::start(ns, dir, name);
    let e = wait_event(&c.events, before, &["bound"], T).expect("no lease");
    (c, e)
}

fn lease(t: &Topo, g: usize, name: &str) -> (Udhcpc, String) {
    let (c, e) = lease_event(&t.g(g).ns, &t.dir, name);
    (c, e.ip)
}

fn reload(t: &Topo, cfg: &Path, body: &str) {
    std::fs::write(cfg, body).expect("config");
    let r = t.netagent(&["reload"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

/// Everything guest A throws at B; the ports that carry something that
/// must not arrive are 9990-9995 (9999 is A's honest datagram).
fn throw_everything(a: &Netns, ip_a: &str, ip_b: &str) {
    attack(a, &["ra"]);
    attack(a, &["dhcp6-advertise"]);
    attack(a, &["garp", "10.128.0.1"]);
    attack(a, &["na", "fd00:128::1"]);
    // Sources that are not A's: the gateway's, B's, a free one (A holds a
    // lease, so only its own), the gateway's IPv6, and a foreign MAC.
    attack(a, &["udp", "10.128.0.1", ip_b, "9990"]);
    attack(a, &["udp", ip_b, "10.128.0.255", "9991"]);
    attack(a, &["udp", "10.128.0.200", ip_b, "9992"]);
    attack(a, &["udp6", "fd00:128::1", "ff02::1", "9993"]);
    attack(a, &["foreign-mac", ip_a, ip_b, "9994"]);
    attack(a, &["udp", ip_a, ip_b, "9999"]);
}

#[test]
fn netns_port_security_stops_rogue_servers_routers_and_spoofers() {
    need_root!("netns_port_security_stops_rogue_servers_routers_and_spoofers");
    let mut t = Topo::bare();
    let a = t.dhcp_guest("pa0");
    let b = t.dhcp_guest("pb0");
    let tr = t.dhcp_guest("pt0");
    let cfg = t.write_config("ps.toml", &config(ON));
    let agent = t.start(&cfg);
    let table = t
        .app
        .cmd("nft")
        .args(["list", "table", "bridge", "netagent"])
        .output()
        .expect("nft");
    assert!(table.status.success(), "no port security table:\n{}", agent.log());

    let (_ca, ip_a) = lease(&t, a, "attacker");
    let (cb, ip_b) = lease(&t, b, "victim");
    let amac = mac_of(&t.g(a).ns);
    // A also answers DHCP itself, at once (no ping first), naming itself
    // the router.
    t.g(a).ns.ip(&["addr", "add", "10.128.0.66/24", "dev", "eth0"]);
    let _rogue = dnsmasq(
        &t.g(a).ns,
        &[
            "--port=0",
            "--interface=eth0",
            "--no-ping",
            "--dhcp-authoritative",
            "--dhcp-range=10.128.0.100,10.128.0.150,1h",
            "--dhcp-option=3,10.128.0.66",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));

    let cap = Capture::start(&t.g(b).ns, &t.dir);
    drop(cb);
    // B asks again, twice: netagent's offer is the only one it hears.
    for i in 0..2 {
        let (_c, e) = lease_event(&t.g(b).ns, &t.dir, &format!("victim{i}"));
        assert!(
            ours(&e.ip) && e.router.is_empty() && e.dns == "10.128.0.1",
            "B's lease is the rogue's: {e:?}"
        );
    }
    throw_everything(&t.g(a).ns, &ip_a, &ip_b);
    let pcap = cap.stop();
    assert_eq!(
        count(&pcap, &format!("udp src port 67 and ether src {amac}")),
        0,
        "the rogue's DHCP reached B"
    );
    assert_eq!(
        count(&pcap, "ip6 src fe80::bad"),
        0,
        "A's RA, ADVERTISE or NA reached B"
    );
    assert_eq!(count(&pcap, "udp src port 547"), 0);
    assert_eq!(
        count(
            &pcap,
            &format!("arp and ether src {amac} and arp[14:4] = 0x0a800001")
        ),
        0,
        "A's ARP for the gateway reached B"
    );
    assert_eq!(
        count(&pcap, "udp dst portrange 9990-9995"),
        0,
        "a spoofed datagram reached B:\n{}\n{}",
        show(&pcap, "udp dst portrange 9990-9995"),
        nft_table(&t)
    );
    assert!(
        count(&pcap, "udp dst port 9999") > 0,
        "A's honest datagram did not reach B: the capture saw nothing ({ip_a} -> {ip_b}):\n{}\n{}\n{}",
        std::fs::read_to_string(pcap.with_extension("err")).unwrap_or_default(),
        nft_table(&t),
        agent.log()
    );
    // B's addresses, routes and neighbours are its own.
    let b_ns = &t.g(b).ns;
    let addrs = b_ns.ip(&["-6", "addr", "show", "dev", "eth0"]);
    assert!(!addrs.contains("2001:db8:bad"), "{addrs}");
    let routes = b_ns.ip(&["-6", "route"]);
    assert!(
        !routes.contains("2001:db8:bad") && !routes.contains("fe80::bad"),
        "{routes}"
    );
    let neigh = b_ns.ip(&["neigh", "show", "10.128.0.1"]);
    assert!(!neigh.contains(&amac), "B thinks A is its gateway: {neigh}");

    // A trusted port's DHCP server is heard.
    t.g(tr).ns.ip(&["addr", "add", "10.128.0.77/24", "dev", "eth0"]);
    let _router = dnsmasq(
        &t.g(tr).ns,
        &[
            "--port=0",
            "--interface=eth0",
            "--no-ping",
            "--dhcp-range=10.128.0.160,10.128.0.170,1h",
        ],
    );
    let cap = Capture::start(b_ns, &t.dir);
    drop(lease_event(b_ns, &t.dir, "victim3"));
    let pcap = cap.stop();
    assert!(
        count(&pcap, "udp src port 67 and src host 10.128.0.77") > 0,
        "the trusted port's DHCP did not reach B:\n{}\n{}",
        show(&pcap, ""),
        std::fs::read_to_string(pcap.with_extension("err")).unwrap_or_default()
    );

    // With the guard off, the same packets reach B: the capture would have
    // seen them.
    reload(&t, &cfg, &config(OFF));
    let gone = wait_for(Duration::from_secs(5), || {
        !t.app
            .cmd("nft")
            .args(["list", "table", "bridge", "netagent"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        gone.is_some(),
        "the table outlived port security:\n{}",
        agent.log()
    );
    let cap = Capture::start(b_ns, &t.dir);
    throw_everything(&t.g(a).ns, &ip_a, &ip_b);
    drop(lease_event(b_ns, &t.dir, "victim4"));
    let pcap = cap.stop();
    assert!(
        count(&pcap, &format!("udp src port 67 and ether src {amac}")) > 0,
        "{}\n{}",
        show(&pcap, "udp port 67 or udp port 68"),
        t.g(a).ns.ip(&["addr"])
    );
    assert!(count(&pcap, "ip6 src fe80::bad") > 0);
    assert!(
        count(
            &pcap,
            &format!("arp and ether src {amac} and arp[14:4] = 0x0a800001")
        ) > 0
    );
    assert!(count(&pcap, "udp dst portrange 9990-9995") > 0);
    let _ = short(b_ns, "10.128.0.1", &["victim.lab"]);
}

/// `netagent leases --json`: (address, MAC) of each live lease.
fn leases(t: &Topo) -> Vec<(String, String)> {
    let o = t.netagent(&["leases", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let a = l.get("address")?.as_str()?;
            Some((
                a.split('/').next()?.to_string(),
                l.get("mac")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn netns_port_security_keeps_each_lease_on_its_port_and_shares_the_pool() {
    need_root!("netns_port_security_keeps_each_lease_on_its_port_and_shares_the_pool");
    let mut t = Topo::bare();
    let a = t.dhcp_guest("pa0");
    let b = t.dhcp_guest("pb0");
    let c = t.dhcp_guest("pc0");
    let cfg = t.write_config("ps.toml", &config(ON));
    let agent = t.start(&cfg);
    let (_ca, ip_a) = lease(&t, a, "attacker");
    let (_cb, ip_b) = lease(&t, b, "victim");
    let bmac = mac_of(&t.g(b).ns);
    let resolves = || short(&t.g(a).ns, "10.128.0.1", &["victim.lab"]) == ip_b;
    assert!(resolves());
    // The daemon has read B's pin and told the DHCP server (a tick).
    std::thread::sleep(Duration::from_millis(1500));

    // A releases B's lease in B's name (its MAC, client-id and address),
    // from A's own port, sent from B's address and from A's own: nothing
    // happens to B (the first is not A's to send, the second is refused
    // by the DHCP server, which knows the request's port).
    attack(&t.g(a).ns, &["release", &bmac, &ip_b, "10.128.0.1"]);
    attack(&t.g(a).ns, &["release", &bmac, &ip_b, "10.128.0.1", &ip_a]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        leases(&t).iter().any(|(ip, m)| ip == &ip_b && m == &bmac),
        "B lost its lease:\n{}",
        agent.log()
    );
    assert!(resolves(), "B's name is gone");
    assert!(
        agent.log().contains(&format!("a request for {bmac} from port")),
        "{}",
        agent.log()
    );

    // A takes leases under 80 invented MACs: Ethernet sources that are not
    // its own get nowhere; invented chaddrs from its own MAC get its share.
    assert_eq!(attack(&t.g(a).ns, &["dora", "20", "invented"]).trim(), "0");
    let got: usize = attack(&t.g(a).ns, &["dora", "80", "own"])
        .trim()
        .parse()
        .unwrap_or(usize::MAX);
    let amac = mac_of(&t.g(a).ns);
    let held = leases(&t)
        .iter()
        .filter(|(_, m)| m.starts_with("02:00:40") || *m == amac)
        .count();
    assert!(
        held <= 4 && got <= 3,
        "port A holds {held} leases ({got} new):\n{:?}",
        leases(&t)
    );
    // A guest on another port still leases.
    let (_cc, ip_c) = lease(&t, c, "bystander");
    assert!(ours(&ip_c));
    // `info` says, per port, what it may do and what was stopped.
    std::thread::sleep(Duration::from_millis(1500));
    let info = String::from_utf8_lossy(&t.netagent(&["info", "iso"]).stdout).into_owned();
    let line = |port: &str| {
        info.lines()
            .find(|l| l.trim_start().starts_with(&format!("{port}:")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(info.contains("Port security:  on: 4 leases a port"), "{info}");
    assert!(
        line("pb0").contains(&format!("guest {bmac} from {ip_b}")),
        "{info}"
    );
    assert!(
        line("pa0").contains("DHCP refused") && line("pa0").contains("dropped"),
        "{info}"
    );
    let json = t.netagent(&["info", "iso", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    let a_row = v["port_security"]["ports"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["port"] == "pa0").cloned())
        .unwrap_or_default();
    assert!(a_row["dhcp_refused"].as_u64().unwrap_or(0) > 0, "{a_row}");
    assert!(a_row["dropped_mac"].as_u64().unwrap_or(0) > 0, "{a_row}");

    // A `flush ruleset` takes the table; it is back at once, and B's
    // address is its own again once it speaks.
    t.app
        .cmd("nft")
        .args(["flush", "ruleset"])
        .output()
        .expect("nft flush");
    let made = wait_for(Duration::from_secs(5), || nft_table(&t).contains("port_mac"));
    assert!(made.is_some(), "the table did not come back:\n{}", agent.log());
    // B's next frame pins its MAC again, and its address is bound.
    assert!(ping(&t.g(b).ns, "10.128.0.1"));
    let back = wait_for(Duration::from_secs(10), || {
        nft_table(&t).contains(&format!("\"pb0\" . {ip_b}"))
    });
    assert!(
        back.is_some(),
        "the table did not come back whole:\n{}\n{}",
        nft_table(&t),
        agent.log()
    );

    // With the guard off, the same forged RELEASE ends B's lease: the
    // test would have seen it.
    reload(&t, &cfg, &config(OFF));
    attack(&t.g(a).ns, &["release", &bmac, &ip_b, "10.128.0.1", &ip_a]);
    let gone = wait_for(Duration::from_secs(3), || {
        !leases(&t).iter().any(|(ip, _)| ip == &ip_b)
    });
    assert!(gone.is_some(), "the forged RELEASE did nothing even unguarded");
}
