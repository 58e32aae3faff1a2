//! netagent as a drop-in for libvirt's network driver, against a real
//! libvirtd 9 and QEMU domains whose iPXE asks for DHCP: `adopt-libvirt`
//! takes a running network over with its domains unchanged, libvirt keeps
//! seeing the network and its leases, guests are named after their
//! domains, a libvirtd restart changes nothing, and `--undo` gives it all
//! back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use common::libvirt::LibvirtHost;
use common::topo::wait_for;
use common::{ok, unique, Netns};

const NETAGENT: &str = env!("CARGO_BIN_EXE_netagent");

/// A guest namespace on `bridge` of the host, by a veth whose host end is `port`.
fn veth_guest(host: &LibvirtHost, port: &str, bridge: &str) -> Netns {
    let g = Netns::new("lg");
    common::veth(port, &host.ns, "eth0", &g);
    host.ns.ip(&["link", "set", port, "master", bridge, "up"]);
    g.ip(&["link", "set", "eth0", "up"]);
    g
}

/// `netagent ARGS` in the libvirt host, with the test's directories.
fn netagent(host: &LibvirtHost, args: &[&str]) -> Output {
    let mut c = host.cmd(NETAGENT);
    c.args(args);
    let d = &host.dir;
    match args.first().copied() {
        Some("adopt-libvirt") => {
            c.arg("--save-dir").arg(d.join("save"));
            c.arg("--state-dir").arg(d.join("state"));
            c.arg("--lease-dir").arg(d.join("leases"));
        }
        Some("leases") => {
            c.arg("--state-dir").arg(d.join("state"));
            c.arg("--lease-dir").arg(d.join("leases"));
        }
        Some("list" | "status") => {
            c.arg("--state-dir").arg(d.join("state"));
        }
        _ => {}
    }
    c.output().expect("run netagent")
}

/// `netagent adopt-libvirt -o CONFIG ARGS`.
fn adopt(host: &LibvirtHost, config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["adopt-libvirt", "-o", config.to_str().unwrap_or_default()];
    all.extend_from_slice(args);
    netagent(host, &all)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The running agent, killed on drop.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(host: &LibvirtHost, config: &Path) -> Agent {
        let log = host.dir.join(format!("agent-{}.log", unique("")));
        let child = host
            .cmd(NETAGENT)
            .args(["run", "-c"])
            .arg(config)
            .arg("--state-dir")
            .arg(host.dir.join("state"))
            .arg("--lease-dir")
            .arg(host.dir.join("leases"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn netagent");
        let a = Agent { child, log };
        let up = wait_for(Duration::from_secs(10), || a.log().contains("networks are up"));
        assert!(up.is_some(), "netagent did not come up:\n{}", a.log());
        a
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it, and wait for it to end.
    fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Run libvirt's hook as libvirt does: the arguments, and the XML on stdin.
fn run_hook(host: &LibvirtHost, args: &[&str], xml: &str) -> Output {
    use std::io::Write;
    let mut c = host
        .cmd(HOOK)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the hook");
    if let Some(mut i) = c.stdin.take() {
        let _ = i.write_all(xml.as_bytes());
    }
    c.wait_with_output().expect("the hook's end")
}

const HOOK: &str = "/etc/libvirt/hooks/network.d/50-netagent";

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ping` from `g` to `to` every 10 ms until stopped: the longest time
/// between two answers says how long the path was broken.
struct Pinger(Child);

impl Pinger {
    fn start(g: &Netns, to: &str) -> Pinger {
        let c = g
            .cmd("ping")
            .args(["-n", "-D", "-i", "0.01", "-W", "1", to])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping");
        Pinger(c)
    }

    /// Stop; the longest silence between two answers, in milliseconds.
    fn longest_silence_ms(self) -> u64 {
        // SAFETY: signalling our own child; SIGINT ends ping.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let out = self.0.wait_with_output().expect("ping's output");
        let s = String::from_utf8_lossy(&out.stdout);
        // `[1796665921.576975] 64 bytes from ...`
        let times: Vec<f64> = s
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect();
        assert!(times.len() > 10, "ping got almost no answers:\n{s}");
        let longest = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        (longest * 1000.0) as u64
    }
}

/// The leases netagent holds now, as `netagent leases` prints them.
fn netagent_lease(host: &LibvirtHost, mac: &str) -> Option<String> {
    let o = netagent(host, &["leases", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    v.as_array()?
        .iter()
        .find(|l| l.get("mac").and_then(|m| m.as_str()) == Some(mac))
        .and_then(|l| l.get("address")?.as_str())
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
}

#[test]
fn netns_libvirt_adopt_keeps_every_domain_and_undo_gives_it_back() {
    need_libvirt!("netns_libvirt_adopt_keeps_every_domain_and_undo_gives_it_back");
    let host = LibvirtHost::start();
    let (br, other_br) = (unique("lvd"), unique("lvo"));
    host.nat_network("default", &br, 133, "");
    host.nat_network("other", &other_br, 134, "");
    // netagent already serves a network of its own on this host, with the
    // host's NIC as its uplink.
    let outside = Netns::new("lx");
    common::veth("up0", &host.ns, "out0", &outside);
    outside.ip(&["link", "set", "out0", "up"]);
    host.ns.ip(&["addr", "add", "10.99.0.2/24", "dev", "up0"]);
    host.ns.ip(&["link", "set", "up0", "up"]);
    let config = host.dir.join("netagent.toml");
    std::fs::write(
        &config,
        "# the host's own netagent\n[uplink]\ninterface = \"up0\"\naddress = \"host\"\n\n\
         [[network]]\nname = \"lab\"\nkind = \"isolated\"\nbridge = \"lab0\"\naddress = \"10.77.0.1/24\"\n",
    )
    .expect("config");
    let agent = Agent::start(&host, &config);

    // A domain libvirt's own dnsmasq leases to, and a guest that pings its
    // gateway through the takeover.
    let mac1 = "52:54:00:33:00:01";
    host.domain("vm1", "default", mac1);
    let xml1 = host.virsh(&["dumpxml", "--inactive", "vm1"]);
    host.virsh(&["start", "vm1"]);
    let mut ip1 = None;
    wait_for(Duration::from_secs(90), || {
        ip1 = host.status_lease(&br, mac1);
        ip1.is_some()
    });
    let ip1 = ip1.expect("libvirt's dnsmasq leased to vm1");
    assert!(host.dnsmasq_of("default"));
    let pinger_ns = veth_guest(&host, &unique("lp"), &br);
    pinger_ns.ip(&["addr", "add", "192.168.133.250/24", "dev", "eth0"]);
    // libvirt's bridge has STP on: a new port listens and learns 2 + 2 s.
    let through = wait_for(Duration::from_secs(10), || {
        common::topo::ping(&pinger_ns, "192.168.133.1")
    });
    assert!(
        through.is_some(),
        "the pinging guest never reached libvirt's gateway"
    );
    // A guest of the network that stays libvirt's.
    let other_guest = veth_guest(&host, &unique("lq"), &other_br);
    // A rule a crashed libvirtd left behind for the bridge.
    ok(host
        .ns
        .cmd("iptables")
        .args(["-I", "LIBVIRT_FWI", "-o", &br, "-j", "REJECT"]));

    let ping = Pinger::start(&pinger_ns, "192.168.133.1");
    std::thread::sleep(Duration::from_millis(300));
    let o = adopt(&host, &config, &["default"]);
    std::thread::sleep(Duration::from_millis(500));
    let adopt_lost = ping.longest_silence_ms();
    let said = text(&o);
    assert!(
        o.status.success(),
        "adopt-libvirt failed:\n{said}\n{}",
        agent.log()
    );
    assert!(said.contains("1 lease carried"), "{said}");
    assert!(said.contains("removed 1 leftover libvirt rule"), "{said}");
    eprintln!("adopt-libvirt said:\n{said}\nthe pinging guest heard nothing for {adopt_lost} ms at most");

    // libvirt keeps the network, as a host-bridge network of its name and UUID.
    let net = host.virsh(&["net-dumpxml", "default"]);
    assert!(
        net.contains("<forward mode='bridge'/>") && net.contains(&format!("<bridge name='{br}'/>")),
        "{net}"
    );
    assert!(host
        .virsh(&["net-info", "default"])
        .contains("Active:         yes"));
    // No dnsmasq of libvirt's and no rule of libvirt's for the bridge.
    assert!(!host.dnsmasq_of("default"), "libvirt's dnsmasq still runs");
    let rules = host.foreign_rules();
    assert!(
        !rules.contains(&br) && !rules.contains("192.168.133.0/24"),
        "libvirt's rules remain:\n{rules}"
    );
    // The network not adopted keeps its dnsmasq, its rules and its guests.
    assert!(host.dnsmasq_of("other"));
    assert!(rules.contains(&other_br), "{rules}");
    let dir = host.dir.clone();
    let _udhcpc = common::clients::Udhcpc::start(&other_guest, &dir, "other-guest");
    let e = common::clients::wait_event(
        &dir.join(format!("udhcpc-{}.events", other_guest.name)),
        0,
        &["bound"],
        Duration::from_secs(15),
    );
    assert!(
        e.is_some_and(|e| e.ip.starts_with("192.168.134.")),
        "the other network's dnsmasq did not lease"
    );

    // The lease came along before vm1 asks again; adopting again is done.
    assert_eq!(netagent_lease(&host, mac1).as_deref(), Some(ip1.as_str()));
    let again = adopt(&host, &config, &["default"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to adopt: default adopted already"),
        "{}",
        text(&again)
    );

    // The same domain, its XML untouched, starts again on netagent's bridge
    // and gets the address libvirt had given it.
    host.virsh(&["destroy", "vm1"]);
    host.virsh(&["start", "vm1"]);
    let tap1 = host.tap_of("vm1");
    assert_eq!(host.master_of(&tap1).as_deref(), Some(br.as_str()));
    assert_eq!(host.virsh(&["dumpxml", "--inactive", "vm1"]), xml1);
    let mut got = None;
    wait_for(Duration::from_secs(90), || {
        got = netagent_lease(&host, mac1);
        got.is_some()
    });
    assert_eq!(
        got.as_deref(),
        Some(ip1.as_str()),
        "vm1 did not get its address back:\n{}",
        agent.log()
    );

    // A new domain leases from netagent; libvirt sees the lease, and its
    // name resolves through netagent's DNS though iPXE sends no hostname.
    let mac2 = "52:54:00:33:00:02";
    host.domain("vm2", "default", mac2);
    host.virsh(&["start", "vm2"]);
    let mut ip2 = None;
    wait_for(Duration::from_secs(90), || {
        ip2 = netagent_lease(&host, mac2);
        ip2.is_some()
    });
    let ip2 = ip2.unwrap_or_else(|| panic!("vm2 got no lease from netagent:\n{}", agent.log()));
    let seen = wait_for(Duration::from_secs(5), || {
        let l = host.virsh(&["net-dhcp-leases", "default"]);
        l.contains(mac2) && l.contains(&ip2)
    });
    assert!(seen.is_some(), "virsh net-dhcp-leases does not show vm2");
    let ifaddr = host.virsh(&["domifaddr", "vm2", "--source", "lease"]);
    assert!(ifaddr.contains(&ip2), "{ifaddr}");
    assert_eq!(
        common::clients::short(&pinger_ns, "192.168.133.1", &["vm2.lab133"]),
        ip2
    );
    assert_eq!(
        common::clients::short(&pinger_ns, "192.168.133.1", &["vm1.lab133"]),
        ip1
    );

    // libvirtd dies and comes back: the network is active, both taps are
    // still ports, and netagent removes or makes nothing.
    let before = agent.log().len();
    let pid = host.libvirtd().expect("libvirtd runs");
    // SAFETY: killing the test's own libvirtd.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for(Duration::from_secs(5), || host.libvirtd().is_none());
    host.start_libvirtd();
    assert!(host
        .virsh(&["net-info", "default"])
        .contains("Active:         yes"));
    let tap2 = host.tap_of("vm2");
    for t in [&tap1, &tap2] {
        assert_eq!(
            host.master_of(t).as_deref(),
            Some(br.as_str()),
            "{t} left the bridge"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let since = agent.log()[before..].to_string();
    for word in ["created", "deleted", "removed", "stopped"] {
        assert!(
            !since.contains(word),
            "netagent {word} something across libvirtd's restart:\n{since}"
        );
    }
    assert!(common::topo::ping(&pinger_ns, "192.168.133.1"));

    // netagent stops and starts again: the bridge a libvirt network names
    // stays, with its ports, and is not made again.
    let index = host.ns.ip(&["-o", "link", "show", "dev", &br]);
    let index = index.split(':').next().unwrap_or_default().to_string();
    let first_log = agent.log();
    agent.stop();
    for t in [&tap1, &tap2] {
        assert_eq!(
            host.master_of(t).as_deref(),
            Some(br.as_str()),
            "{t} left the bridge when netagent stopped"
        );
    }
    let agent = Agent::start(&host, &config);
    assert!(host
        .ns
        .ip(&["-o", "link", "show", "dev", &br])
        .starts_with(&format!("{index}:")));
    assert!(
        !agent.log().contains(&format!("bridge {br}: created")),
        "{}",
        agent.log()
    );
    let names = std::fs::read_to_string(host.dir.join("state/libvirt-names.json")).unwrap_or_default();
    assert_eq!(
        common::clients::short(&pinger_ns, "192.168.133.1", &["vm2.lab133"]),
        ip2,
        "the restarted agent forgot vm2's name ({names}):\n{}\nbefore the restart:\n{first_log}",
        agent.log()
    );

    // The way back: libvirt runs its network again, with netagent's leases.
    let ping = Pinger::start(&pinger_ns, "192.168.133.1");
    std::thread::sleep(Duration::from_millis(300));
    let o = netagent(&host, &["adopt-libvirt", "--undo"]);
    // libvirt's bridge has STP on: its ports listen and learn 2 + 2 s.
    std::thread::sleep(Duration::from_secs(6));
    let undo_lost = ping.longest_silence_ms();
    let said = text(&o);
    assert!(o.status.success(), "--undo failed:\n{said}\n{}", agent.log());
    eprintln!("--undo said:\n{said}\nthe pinging guest heard nothing for {undo_lost} ms at most");
    let net = host.virsh(&["net-dumpxml", "default"]);
    assert!(net.contains("<forward mode='nat'"), "{net}");
    assert!(host.dnsmasq_of("default"));
    assert_eq!(host.master_of(&tap2).as_deref(), Some(br.as_str()));
    let cfg = std::fs::read_to_string(&config).unwrap_or_default();
    assert!(
        cfg.starts_with("# the host's own netagent") && !cfg.contains("libvirt"),
        "{cfg}"
    );
    // vm2, which only netagent ever leased to, gets the same address from
    // libvirt's dnsmasq.
    host.virsh(&["destroy", "vm2"]);
    host.virsh(&["start", "vm2"]);
    let mut back = None;
    wait_for(Duration::from_secs(90), || {
        back = host.status_lease(&br, mac2);
        back.as_deref() == Some(ip2.as_str())
    });
    assert_eq!(
        back.as_deref(),
        Some(ip2.as_str()),
        "libvirt's dnsmasq did not give vm2 its address"
    );
    assert_eq!(host.virsh(&["dumpxml", "--inactive", "vm1"]), xml1);
}

#[test]
fn netns_libvirt_adopt_dry_run_changes_nothing_and_refuses_what_it_cannot_keep() {
    need_libvirt!("netns_libvirt_adopt_dry_run_changes_nothing_and_refuses_what_it_cannot_keep");
    let host = LibvirtHost::start();
    let br = unique("lvd");
    host.nat_network("default", &br, 135, "");
    // A network whose QoS a host-bridge network cannot keep (defined only:
    // starting it needs traffic control in the namespace).
    let qos = "<network>\n  <name>qos</name>\n  <forward mode='nat'/>\n  <bridge name='lvq0'/>\n  <bandwidth><inbound average='1000'/></bandwidth>\n  <ip address='192.168.136.1' netmask='255.255.255.0'/>\n</network>\n";
    host.write("/run/libvirt/qos.xml", qos);
    host.virsh(&["net-define", "/run/libvirt/qos.xml"]);
    let config = host.dir.join("netagent.toml");
    // What a command could change; not the carrier, which the kernel
    // settles on its own after libvirt made the bridge (UNKNOWN, then DOWN
    // and NO-CARRIER while it has no port).
    let settled = |brief: String| -> String {
        brief
            .lines()
            .map(|l| {
                let mut f = l.split_whitespace();
                let name = f.next().unwrap_or_default();
                let _state = f.next();
                let rest: Vec<String> = f
                    .map(|w| {
                        w.trim_matches(|c| c == '<' || c == '>')
                            .split(',')
                            .filter(|x| !x.contains("NO-CARRIER") && !x.contains("LOWER_UP"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                format!("{name} {}\n", rest.join(" "))
            })
            .collect()
    };
    let snapshot = || {
        let nets: Vec<String> = ["default", "qos"]
            .iter()
            .map(|n| host.virsh(&["net-dumpxml", "--inactive", n]) + &host.virsh(&["net-info", n]))
            .collect();
        (
            nets,
            settled(host.ns.ip(&["-br", "link"])),
            settled(host.ns.ip(&["-br", "addr"])),
            host.foreign_rules(),
        )
    };
    let before = snapshot();
    let hook = HOOK;

    let o = adopt(&host, &config, &["--dry-run", "default"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("would adopt network \"default\""), "{said}");
    assert!(said.contains("libvirt = true"), "{said}");
    assert_eq!(snapshot(), before, "--dry-run changed something");
    assert!(!config.exists());
    assert!(host.read(hook).is_empty());

    // Everything, qos included: refused whole, nothing touched.
    let o = adopt(&host, &config, &[]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(
        said.contains("\"qos\"") && said.contains("<bandwidth>") && said.contains("--force"),
        "{said}"
    );
    assert_eq!(snapshot(), before, "a refused adoption changed something");
    assert!(!config.exists());

    // Forced, with no agent running: the bridges and rules are up at once
    // and the agent started later serves them.
    let o = adopt(&host, &config, &["--force"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("netagent is not running"), "{said}");
    assert!(host.ns.ip(&["-br", "link"]).contains(&br));
    for n in ["default", "qos"] {
        assert!(host
            .virsh(&["net-dumpxml", n])
            .contains("<forward mode='bridge'/>"));
    }
    assert!(host.virsh(&["net-info", "qos"]).contains("Active:         no"));
    assert!(host.read(hook).contains("libvirt-hook"));
    // libvirt's hook with no agent to tell: it succeeds, and a domain starts.
    let port = format!(
        "<hookData><network><name>default</name></network><networkport><owner><name>vm9</name></owner>\
         <mac address='52:54:00:35:00:09'/><plug type='bridge' bridge='{br}'/></networkport></hookData>"
    );
    let o = run_hook(&host, &["default", "port-created", "begin", "-"], &port);
    assert!(o.status.success(), "{}", text(&o));
    let agent = Agent::start(&host, &config);
    let list = text(&netagent(&host, &["list"]));
    assert!(list.contains("default") && list.contains("active"), "{list}");
    let o = run_hook(&host, &["default", "port-created", "begin", "-"], &port);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        agent.log().contains("52:54:00:35:00:09 belongs to domain vm9"),
        "{}",
        agent.log()
    );

    // netagent serves nothing but the adopted networks: --undo asks for it
    // to be stopped first, and changes nothing.
    let o = netagent(&host, &["adopt-libvirt", "--undo"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("stop it first"));
    drop(agent);
    let o = netagent(&host, &["adopt-libvirt", "--undo"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(host
        .virsh(&["net-dumpxml", "default"])
        .contains("<forward mode='nat'"));
    assert!(host
        .virsh(&["net-dumpxml", "--inactive", "qos"])
        .contains("<bandwidth>"));
    assert!(host.dnsmasq_of("default"));
    assert!(!config.exists(), "the config adopt-libvirt made outlived --undo");
    assert!(host.read(hook).is_empty());
    assert_eq!(snapshot().0, before.0, "libvirt's networks are not as they were");
}
