//! Root, network namespaces: the virsh-like commands against a running
//! agent, and a reload that applies only the difference: the unchanged
//! network keeps its bridge, its leases and its DNS socket, and a stream of
//! DNS queries across the reload loses nothing.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clients::{wait_event, Udhcpc};
use common::topo::*;

const T: Duration = Duration::from_secs(10);

/// The networks before a reload, behind the topology's uplink.
const NETWORKS: &str = r#"
[[network]]
name = "web"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]

[network.dhcp]
ranges = ["10.77.0.100-10.77.0.150"]

[[network]]
name = "lab"
kind = "isolated"
bridge = "virbr1"
address = "10.78.0.1/24"
ports = ["vh*"]
"#;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What a stream of DNS queries met.
struct Stream {
    sent: u32,
    answered: u32,
    /// When each unanswered query left.
    lost: Vec<Instant>,
    /// The slowest answer: a few ms across the reload, since the agent's
    /// requests to the kernel wait on its netlink thread, not on the one
    /// that answers (38-59 ms when they did).
    slowest: Duration,
}

/// Query the bridge's DNS from the guest every 5 ms until `stop`.
fn query_stream(ns: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Stream> {
    std::thread::spawn(move || {
        in_ns(&ns, move || {
            let s = UdpSocket::bind("10.77.0.10:0").expect("bind");
            // Lost means never answered: a slow answer (a loaded CI machine
            // once took over a second during the reload) still counts, and
            // a late answer to an earlier query is skipped, not taken for
            // this one's.
            s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
            let mut st = Stream {
                sent: 0,
                answered: 0,
                lost: vec![],
                slowest: Duration::ZERO,
            };
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) {
                let id = st.sent as u16;
                st.sent += 1;
                let at = Instant::now();
                let _ = s.send_to(&dns_query(id, "virbr0"), "10.77.0.1:53");
                let mut answered = false;
                while let Ok(n) = s.recv(&mut buf) {
                    if n > 2 && buf[..2] == id.to_be_bytes() {
                        answered = true;
                        break;
                    }
                }
                if answered {
                    st.answered += 1;
                    st.slowest = st.slowest.max(at.elapsed());
                } else {
                    st.lost.push(at);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            st
        })
    })
}

#[test]
fn netns_commands_and_a_reload_that_changes_only_the_difference() {
    need_root!("netns_commands_and_a_reload_that_changes_only_the_difference");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let dhcp_guest = t.guest("vg2", "0.0.0.0/32", "");
    let _lab = t.guest("vh1", "10.78.0.10/24", "");
    let cfg = t.write_config("n.toml", &with_uplink(NETWORKS));
    let agent = t.start(&cfg);

    // Root only: another user is turned away, however the socket's mode is set.
    let sock = t.dir.join("state/netagent.sock");
    let mode =
        std::fs::metadata(&sock).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "the control socket is not root-only");
    let as_nobody = || {
        std::process::Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_netagent"))
            .args(["status", "--state-dir"])
            .arg(t.dir.join("state"))
            .output()
            .expect("setpriv")
    };
    let o = as_nobody();
    assert!(!o.status.success());
    assert!(text(&o).contains("permission denied"), "{}", text(&o));
    // Opened up by hand: the agent checks the caller itself.
    std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o666)).expect("chmod");
    let o = as_nobody();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the netagent control socket is for root only"),
        "{}",
        text(&o)
    );

    // A second agent on the same state directory stops before touching anything.
    for args in [&["run", "-c"][..], &["run", "--once", "-c"][..]] {
        let mut a = args.to_vec();
        a.push(cfg.to_str().unwrap_or_default());
        let o = t.netagent(&a);
        assert!(!o.status.success(), "{args:?}: a second agent ran");
        assert!(text(&o).contains("another netagent is running"), "{}", text(&o));
    }

    // A malformed request gets an error answer; the agent carries on.
    {
        use std::io::{BufRead, Write};
        let mut c = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        c.write_all(b"{\"cmd\":\"format-disk\"}\n").expect("send");
        let mut line = String::new();
        std::io::BufReader::new(&c).read_line(&mut line).expect("answer");
        assert!(
            line.contains("\"ok\":false") && line.contains("bad request"),
            "{line}"
        );
    }

    // status
    let o = t.netagent(&["status"]);
    assert!(o.status.success(), "{}", text(&o));
    let s = text(&o);
    assert!(s.contains(&format!("running (pid {})", agent.pid())), "{s}");
    assert!(s.contains(cfg.to_str().unwrap_or_default()), "{s}");
    assert!(s.contains("Errors:         none"), "{s}");

    // A lease, then list and info.
    let c = Udhcpc::start(&t.g(dhcp_guest).ns, &t.dir, "db");
    let bound = wait_event(&c.events, 0, &["bound"], T).expect("no lease");
    let o = t.netagent(&["list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list --json");
    assert_eq!(rows[0]["name"], "web");
    assert_eq!(rows[0]["state"], "active");
    assert_eq!(rows[0]["leases"], 1);
    assert_eq!(rows[1]["name"], "lab");
    assert_eq!(rows[1]["kind"], "isolated");
    let listed = text(&t.netagent(&["list"]));
    assert!(
        listed.contains(" web    nat        virbr0   10.77.0.1/24   active   1"),
        "{listed}"
    );
    let info = text(&t.netagent(&["info", "web"]));
    assert!(info.contains("Ports:          vg1, vg2"), "{info}");
    assert!(
        info.contains("Uplink:         up0 (static) 10.99.0.2/24 gateway 10.99.0.1"),
        "{info}"
    );
    assert!(info.contains("DHCP ranges:    10.77.0.100-10.77.0.150"), "{info}");
    assert!(info.contains("DHCP:           serving"), "{info}");
    assert!(info.contains("DNS:            serving on 10.77.0.1:53"), "{info}");
    let o = t.netagent(&["info", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no network named \"nope\"; networks: web, lab"));
    let leases = text(&t.netagent(&["leases", "web"]));
    assert!(
        leases.contains(&format!("{}/24", bound.ip)) && leases.contains("db"),
        "{leases}"
    );

    // The new config: lab removed, web's range widened with a static host
    // for a newcomer, a port forward added.
    let newcomer = t.guest("vg3", "0.0.0.0/32", "");
    let mac = t.g(newcomer).ns.ip(&["-o", "link", "show", "eth0"]);
    let mac = mac
        .split("link/ether ")
        .nth(1)
        .and_then(|m| m.split_whitespace().next())
        .expect("mac");
    let after = with_uplink(NETWORKS)
        .replace("10.77.0.100-10.77.0.150", "10.77.0.100-10.77.0.250")
        .replace(
            "[network.dhcp]",
            "[[network.forward]]\nport = 8080\nto = \"10.77.0.10\"\n\n[network.dhcp]",
        )
        .replace(
            "\n[[network]]\nname = \"lab\"",
            &format!("[[network.dhcp.host]]\nmac = \"{mac}\"\nip = \"10.77.0.42\"\nname = \"cache\"\n\n[[network]]\nname = \"lab\""),
        );
    let after = &after[..after.find("[[network]]\nname = \"lab\"").unwrap_or(after.len())];
    let next = t.write_config("next.toml", after);
    let d = text(&t.netagent(&["diff", next.to_str().unwrap_or_default()]));
    assert!(d.contains("would apply 4 changes"), "{d}");
    assert!(d.contains("- network \"lab\""), "{d}");
    assert!(
        d.contains("~ network \"web\" dhcp.ranges: 10.77.0.100-10.77.0.150 -> 10.77.0.100-10.77.0.250"),
        "{d}"
    );
    std::fs::write(&cfg, after).expect("write config");
    let dry = text(&t.netagent(&["reload", "--dry-run"]));
    assert!(dry.contains("would apply 4 changes"), "{dry}");
    assert!(t.has_link("virbr1"), "a dry run changed something");

    // The real reload, with DNS queries flowing on the unchanged bridge.
    let index = t.app.ip(&["-o", "link", "show", "virbr0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let stream = query_stream(t.g(g).ns.name.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let reload = Instant::now();
    let o = t.netagent(&["reload"]);
    let reloaded = reload.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("applied 4 changes"), "{}", text(&o));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let st = stream.join().expect("query stream");
    assert!(st.sent > 50, "only {} queries sent", st.sent);
    // When one is lost, say when against the reload, with the agent's log.
    let lost: Vec<String> = st
        .lost
        .iter()
        .map(|at| match at.checked_duration_since(reload) {
            Some(d) => format!("+{} ms", d.as_millis()),
            None => format!("-{} ms", reload.duration_since(*at).as_millis()),
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} DNS queries lost across the reload (sent at {lost:?} from the reload's start; the reload took {} ms; slowest answer {} ms); the agent's log:\n{}",
        lost.len(),
        st.sent,
        reloaded.as_millis(),
        st.slowest.as_millis(),
        agent.log()
    );
    assert_eq!(st.answered, st.sent);
    assert!(
        !t.has_link("virbr1"),
        "the removed network's bridge is still there"
    );
    assert_eq!(
        t.app.ip(&["-o", "link", "show", "virbr0"]).split(':').next(),
        index.split(':').next(),
        "the unchanged bridge was recreated"
    );
    // The new static host is live without a restart; the old lease is kept.
    let c2 = Udhcpc::start(&t.g(newcomer).ns, &t.dir, "cache");
    let b2 = wait_event(&c2.events, 0, &["bound"], T).expect("no lease after reload");
    assert_eq!(
        b2.ip, "10.77.0.42",
        "the static host added by the reload was not used"
    );
    let leases = text(&t.netagent(&["leases", "web"]));
    assert!(leases.contains("db") && leases.contains("cache"), "{leases}");
    drop(c);
    let _srv = TcpServer::start(&t.g(g).ns.name, sa("10.77.0.10:8080"));
    let mut conn = tcp_connect(&t.out.name, None, sa("10.99.0.2:8080")).expect("forward added by reload");
    echo(&mut conn, b"reloaded").expect("echo");

    // A broken file is refused with its position, and nothing changes.
    std::fs::write(
        &cfg,
        "[[network]]\nname = \"web\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/33\"\n",
    )
    .expect("write broken config");
    let o = t.netagent(&["reload"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(":4:11"), "{}", text(&o));
    assert!(t.has_link("virbr0"));
    let s = text(&t.netagent(&["status"]));
    assert!(s.contains("refused"), "{s}");

    // Stopped: status says so, with exit code 3.
    let _ = agent.stop(libc::SIGTERM);
    let o = t.netagent(&["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("netagent is not running"), "{}", text(&o));
}

/// systemd's readiness protocol: READY=1 once the networks are up,
/// RELOADING=1 then READY=1 around a reload, STOPPING=1 at the end. The
/// unit in contrib/ relies on it.
#[test]
fn netns_readiness_is_notified_as_systemd_expects() {
    need_root!("netns_readiness_is_notified_as_systemd_expects");
    let t = Topo::new();
    let sock_path = t.dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(T)).expect("timeout");
    let cfg = t.write_config("n.toml", &with_uplink(NETWORKS));
    let agent = t.start_with_env(&cfg, &[("NOTIFY_SOCKET", sock_path.to_str().unwrap_or_default())]);
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\nSTATUS=2 networks from "), "{ready}");
    let o = t.netagent(&["reload"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(next().starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert!(next().starts_with("READY=1"));
    let _ = agent.stop(libc::SIGTERM);
    assert_eq!(next(), "STOPPING=1");

    let unit = std::fs::read_to_string(common::repo_root().join("contrib/netagent.service")).expect("unit");
    for line in [
        "Type=notify",
        "ExecReload=/usr/local/sbin/netagent reload",
        "RuntimeDirectoryPreserve=yes",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "contrib/netagent.service lacks {line}"
        );
    }
}

/// `status` names what is wrong now and keeps every error it met: here a
/// program squats on the bridge's DNS port, then lets go.
#[test]
fn netns_status_names_the_errors_it_met() {
    need_root!("netns_status_names_the_errors_it_met");
    let t = Topo::new();
    t.app.ip(&["link", "add", "virbr0", "type", "bridge"]);
    t.app.ip(&["addr", "add", "10.77.0.1/24", "dev", "virbr0"]);
    t.app.ip(&["link", "set", "virbr0", "up"]);
    let squatter = in_ns(&t.app.name, || {
        UdpSocket::bind("10.77.0.1:53").expect("bind the squatter")
    });
    // The bridge was made by hand, before netagent: the config adopts it.
    let adopted = NETWORKS.replacen("bridge = \"virbr0\"\n", "bridge = \"virbr0\"\nadopt = true\n", 1);
    let cfg = t.write_config("n.toml", &with_uplink(&adopted));
    let _agent = t.start(&cfg);
    let failing = wait_for(T, || {
        text(&t.netagent(&["status"])).contains("dns web: listen on 10.77.0.1:53")
    });
    assert!(failing.is_some(), "{}", text(&t.netagent(&["status"])));
    let s = text(&t.netagent(&["status"]));
    assert!(s.contains("Errors:         1"), "{s}");
    let info = text(&t.netagent(&["info", "web"]));
    assert!(
        info.contains("DNS:            10.77.0.1:53 (not serving: dns web: listen on"),
        "{info}"
    );

    drop(squatter);
    let recovered = wait_for(T, || {
        text(&t.netagent(&["status"])).contains("Errors:         none")
    });
    assert!(recovered.is_some(), "{}", text(&t.netagent(&["status"])));
    let s = text(&t.netagent(&["status"]));
    assert!(s.contains("Met so far:     1"), "{s}");
    assert!(s.contains("UTC: dns web: listen on 10.77.0.1:53"), "{s}");
    let json: serde_json::Value =
        serde_json::from_slice(&t.netagent(&["status", "--json"]).stdout).expect("status --json");
    assert_eq!(json["errors"].as_array().map(|a| a.len()), Some(0));
    assert_eq!(json["recent"].as_array().map(|a| a.len()), Some(1));
}
