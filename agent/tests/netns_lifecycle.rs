//! Root, network namespaces: netagent's lifecycle on a real kernel. Ports
//! that appear later, things deleted by hand, restarts that keep guests
//! connected, idempotent runs, reload, `down`, a missing nft, and the
//! uplink's DHCP client against busybox udhcpd.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::ok;
use common::topo::*;

fn nat_config() -> String {
    with_uplink(
        "[[network]]\nname = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vg*\", \"vnet*\"]\n",
    )
}

#[test]
fn netns_a_port_that_appears_later_is_enslaved_at_once() {
    need_root!("netns_a_port_that_appears_later_is_enslaved_at_once");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &nat_config());
    let _agent = t.start(&cfg);
    // As when libvirt starts a VM: its tap appears after the network is up.
    let late = t.guest("vnet7", "10.77.0.77/24", "10.77.0.1");
    let took = wait_for(Duration::from_secs(3), || {
        t.master_of("vnet7").as_deref() == Some("virbr0")
    });
    let took = took.expect("vnet7 was not enslaved to virbr0");
    eprintln!("vnet7 enslaved after {took:?}");
    assert!(took < Duration::from_secs(1), "enslaving took {took:?}");
    assert!(wait_for(Duration::from_secs(3), || ping(&t.g(late).ns, "10.77.0.1")).is_some());
}

#[test]
fn netns_deleted_bridge_and_table_come_back() {
    need_root!("netns_deleted_bridge_and_table_come_back");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &nat_config());
    let agent = t.start(&cfg);
    t.app.ip(&["link", "del", "virbr0"]);
    ok(t.app.cmd("nft").args(["delete", "table", "inet", "netagent"]));
    let took = wait_for(Duration::from_secs(5), || {
        t.has_link("virbr0") && t.master_of("vg1").as_deref() == Some("virbr0") && t.nft_table().is_some()
    });
    assert!(took.is_some(), "not restored:\n{}", agent.log());
    // A flushed chain is put back too.
    ok(t.app
        .cmd("nft")
        .args(["flush", "chain", "inet", "netagent", "postrouting"]));
    assert!(wait_for(Duration::from_secs(5), || t
        .nft_table()
        .is_some_and(|s| s.contains("masquerade")))
    .is_some());
    // Our default route via the uplink's gateway, deleted by hand, returns.
    t.app.ip(&["route", "del", "default"]);
    assert!(wait_for(Duration::from_secs(5), || t
        .app
        .ip(&["route"])
        .contains("default via 10.99.0.1 dev up0"))
    .is_some());
    // An address removed by hand returns.
    t.app.ip(&["addr", "del", "10.77.0.1/24", "dev", "virbr0"]);
    assert!(wait_for(Duration::from_secs(5), || t
        .app
        .ip(&["-o", "addr", "show", "dev", "virbr0"])
        .contains("10.77.0.1/24"))
    .is_some());
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("NAT works again");
    assert_eq!(srv.peers()[0].ip(), ip(UPLINK_IP));
}

#[test]
fn netns_guests_stay_connected_across_restarts() {
    need_root!("netns_guests_stay_connected_across_restarts");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &nat_config());
    let agent = t.start(&cfg);
    let index = t.ifindex("virbr0");
    let _srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    let mut conn = tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("connect");
    echo(&mut conn, b"before").expect("echo");

    // SIGTERM: the agent stops, the data plane stays.
    let status = agent.stop(libc::SIGTERM);
    assert!(status.success(), "{status}");
    assert!(t.has_link("virbr0") && t.nft_table().is_some());
    echo(&mut conn, b"while stopped").expect("guest connection while the agent is stopped");

    // Start again: it adopts what is there without recreating anything.
    let agent = t.start(&cfg);
    assert_eq!(t.ifindex("virbr0"), index, "the bridge was recreated");
    assert!(
        !agent.log().contains("created"),
        "restart changed links:\n{}",
        agent.log()
    );
    echo(&mut conn, b"after restart").expect("connection survives a restart");

    // Even a crash (SIGKILL) keeps guests connected.
    let _ = agent.stop(libc::SIGKILL);
    let _agent = t.start(&cfg);
    echo(&mut conn, b"after kill").expect("connection survives a kill -9");
}

#[test]
fn netns_a_second_run_changes_nothing() {
    need_root!("netns_a_second_run_changes_nothing");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &nat_config());
    let c = cfg.to_str().unwrap_or_default().to_string();
    let first = t.netagent(&["run", "--once", "-c", &c]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let n: usize = String::from_utf8_lossy(&first.stdout)
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n >= 5, "first run made only {n} changes");
    let second = t.netagent(&["run", "--once", "-c", &c]);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "0 changes",
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

/// A restart with a config whose rules differ but number the same (a
/// forward's port changed) must not keep the old run's rules.
#[test]
fn netns_a_restart_replaces_rules_that_differ_in_content_only() {
    need_root!("netns_a_restart_replaces_rules_that_differ_in_content_only");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let with_port = |port: u16| {
        format!(
            "{}[[network.forward]]\nport = {port}\nto = \"10.77.0.10\"\n",
            nat_config()
        )
    };
    let cfg = t.write_config("nat.toml", &with_port(8080));
    let c = cfg.to_str().unwrap_or_default().to_string();
    let first = t.netagent(&["run", "--once", "-c", &c]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let table = || {
        String::from_utf8_lossy(
            &t.app
                .cmd("nft")
                .args(["list", "table", "inet", "netagent"])
                .output()
                .expect("nft")
                .stdout,
        )
        .into_owned()
    };
    assert!(table().contains("dport 8080"), "{}", table());
    std::fs::write(&cfg, with_port(9090)).expect("write");
    let second = t.netagent(&["run", "--once", "-c", &c]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let now = table();
    assert!(
        now.contains("dport 9090") && !now.contains("dport 8080"),
        "the old run's rules stayed:\n{now}"
    );
    // And the same config again changes nothing.
    let third = t.netagent(&["run", "--once", "-c", &c]);
    assert_eq!(String::from_utf8_lossy(&third.stdout).trim(), "0 changes");
}

#[test]
fn netns_reload_removes_what_the_config_drops_and_refuses_bad_configs() {
    need_root!("netns_reload_removes_what_the_config_drops_and_refuses_bad_configs");
    let mut t = Topo::new();
    t.guest("vga1", "10.77.0.10/24", "10.77.0.1");
    t.guest("vgb1", "10.78.0.10/24", "10.78.0.1");
    let two = "[uplink]\ninterface = \"up0\"\naddress = \"10.99.0.2/24\"\n\
        [[network]]\nname = \"a\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vga*\"]\n\
        [[network]]\nname = \"b\"\nbridge = \"virbr1\"\naddress = \"10.78.0.1/24\"\nstp = false\nports = [\"vgb*\"]\n";
    let cfg = t.write_config("two.toml", two);
    let agent = t.start(&cfg);
    assert!(t.has_link("virbr1"));

    // A broken file: the running networks stay exactly as they are.
    std::fs::write(
        &cfg,
        "[[network]]\nname = \"a\"\nbridge = \"virbr0\"\naddress = \"10.77.0.300/24\"\n",
    )
    .expect("write");
    agent.signal(libc::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(3), || agent.log().contains("reload refused")).is_some(),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains(":4:11"),
        "the error names line and column:\n{}",
        agent.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(t.has_link("virbr0") && t.has_link("virbr1"));

    // Network b dropped from the file: its bridge goes, a stays untouched.
    let index = t.ifindex("virbr0");
    let one = two.split("[[network]]\nname = \"b\"").next().unwrap_or_default();
    std::fs::write(&cfg, one).expect("write");
    agent.signal(libc::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(3), || !t.has_link("virbr1")).is_some(),
        "{}",
        agent.log()
    );
    assert_eq!(t.ifindex("virbr0"), index);
    let gone = wait_for(Duration::from_secs(3), || {
        t.nft_table()
            .is_some_and(|r| !r.contains("virbr1") && r.contains("virbr0"))
    });
    assert!(gone.is_some(), "{:?}", t.nft_table());
}

#[test]
fn netns_down_removes_everything_netagent_owns() {
    need_root!("netns_down_removes_everything_netagent_owns");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    // Someone else's bridge and table must survive `down`.
    t.app.ip(&["link", "add", "other0", "type", "bridge"]);
    ok(t.app.cmd("nft").args(["add", "table", "inet", "theirs"]));
    let cfg = t.write_config("nat.toml", &nat_config());
    let agent = t.start(&cfg);
    let tables = || ok(t.app.cmd("nft").args(["list", "tables"]));
    assert!(tables().contains("table bridge netagent"), "{}", tables());
    let _ = agent.stop(libc::SIGTERM);
    let c = cfg.to_str().unwrap_or_default().to_string();
    let out = t.netagent(&["down", "-c", &c]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!t.has_link("virbr0"));
    assert_eq!(t.nft_table(), None);
    assert!(!tables().contains("netagent"), "{}", tables());
    assert!(!t.app.ip(&["route"]).contains("proto 78"), "our routes stay");
    assert!(t.has_link("other0"), "down deleted a bridge it does not own");
    assert!(ok(t.app.cmd("nft").args(["list", "tables"])).contains("theirs"));
}

#[test]
fn netns_missing_nft_is_named_and_nothing_is_applied() {
    need_root!("netns_missing_nft_is_named_and_nothing_is_applied");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &nat_config());
    let out = t
        .app
        .cmd("env")
        .args([
            "PATH=/nonexistent",
            env!("CARGO_BIN_EXE_netagent"),
            "run",
            "--once",
            "-c",
            cfg.to_str().unwrap_or_default(),
            "--state-dir",
        ])
        .arg(t.dir.join("state"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot run nft") && err.contains("nftables"),
        "{err}"
    );
    assert!(!t.has_link("virbr0"), "a bridge was created before the failure");
    assert!(
        !t.app.ip(&["-o", "addr"]).contains("10.99.0.2"),
        "the uplink was addressed before the failure"
    );
}

#[test]
fn netns_uplink_by_dhcp_from_busybox_udhcpd() {
    need_root!("netns_uplink_by_dhcp_from_busybox_udhcpd");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let conf = t.write_config(
        "udhcpd.conf",
        &format!(
            "start 10.99.0.100\nend 10.99.0.120\ninterface out0\nlease_file {}\npidfile {}\noption subnet 255.255.255.0\noption router 10.99.0.1\noption dns 10.99.0.53\noption lease 120\n",
            t.dir.join("udhcpd.leases").display(),
            t.dir.join("udhcpd.pid").display()
        ),
    );
    std::fs::write(t.dir.join("udhcpd.leases"), b"").expect("lease file");
    let mut server = t
        .out
        .cmd("busybox")
        .args(["udhcpd", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("udhcpd");
    let cfg = t.write_config(
        "dhcp.toml",
        "[uplink]\ninterface = \"up0\"\naddress = \"dhcp\"\n[[network]]\nname = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vg*\"]\n",
    );
    let agent = t.start(&cfg);
    let leased = wait_for(Duration::from_secs(20), || {
        t.app
            .ip(&["-o", "addr", "show", "dev", "up0"])
            .contains("10.99.0.1")
    });
    let addrs = t.app.ip(&["-o", "-4", "addr", "show", "dev", "up0"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(leased.is_some(), "no lease:\n{}", agent.log());
    let got = addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let a: std::net::Ipv4Addr = got
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .expect("an address");
    assert!(
        (100..=120).contains(&a.octets()[3]) && got.ends_with("/24"),
        "{got}"
    );
    assert!(wait_for(Duration::from_secs(3), || t
        .app
        .ip(&["route"])
        .contains("default via 10.99.0.1 dev up0"))
    .is_some());
    // The learned gateway carries the guests' NATed traffic.
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest out via a DHCP uplink");
    assert_eq!(srv.peers()[0].ip(), std::net::IpAddr::V4(a));
    assert!(agent.log().contains("dns [10.99.0.53]"), "{}", agent.log());

    // A reload to a static uplink stops the DHCP client and takes the new
    // address, in place: the guest still gets out, now from 10.99.0.7.
    std::fs::write(
        &cfg,
        "[uplink]\ninterface = \"up0\"\naddress = \"10.99.0.7/24\"\ngateway = \"10.99.0.1\"\n[[network]]\nname = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vg*\"]\n",
    )
    .expect("write config");
    let o = t.netagent(&["reload"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let moved = wait_for(Duration::from_secs(5), || {
        let a = t.app.ip(&["-o", "-4", "addr", "show", "dev", "up0"]);
        a.contains("10.99.0.7/24") && !a.contains(&got)
    });
    assert!(
        moved.is_some(),
        "{}",
        t.app.ip(&["-o", "-4", "addr", "show", "dev", "up0"])
    );
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest out via the static uplink");
    assert_eq!(srv.wait_count(2)[1].ip(), ip("10.99.0.7"));
}

#[test]
fn netns_port_isolation_keeps_guests_apart_but_not_from_the_appliance() {
    need_root!("netns_port_isolation_keeps_guests_apart_but_not_from_the_appliance");
    let mut t = Topo::new();
    let a = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    t.guest("vg2", "10.77.0.11/24", "10.77.0.1");
    let cfg = t.write_config(
        "iso.toml",
        &nat_config().replace(
            "ports = [\"vg*\", \"vnet*\"]",
            "ports = [\"vg*\", \"vnet*\"]\nport_isolation = true",
        ),
    );
    let _agent = t.start(&cfg);
    for port in ["vg1", "vg2"] {
        let d = t.app.ip(&["-d", "link", "show", "dev", port]);
        assert!(d.contains("isolated on"), "{port} is not isolated:\n{d}");
    }
    assert!(
        ping(&t.g(a).ns, "10.77.0.1"),
        "an isolated port still reaches the bridge"
    );
    assert!(
        !ping(&t.g(a).ns, "10.77.0.11"),
        "isolated ports talked to each other"
    );
}

/// STP where ports can close a loop (`@nics`), none where they are VM
/// ports: a new VM's port forwards at once instead of after STP's 4 s, so
/// its first DHCP answer comes at once. What the config says wins.
#[test]
fn netns_stp_is_on_only_where_ports_can_loop() {
    need_root!("netns_stp_is_on_only_where_ports_can_loop");
    let t = Topo::new();
    let cfg = t.write_config(
        "stp.toml",
        &with_uplink(
            "[[network]]\nname = \"vms\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nports = [\"vnet*\"]\n\
             [[network]]\nname = \"lan\"\nkind = \"isolated\"\nbridge = \"virbr1\"\naddress = \"10.78.0.1/24\"\nports = [\"@nics\"]\n\
             [[network]]\nname = \"said\"\nkind = \"isolated\"\nbridge = \"virbr2\"\naddress = \"10.79.0.1/24\"\nports = [\"tap*\"]\nstp = true\n",
        ),
    );
    let _agent = t.start(&cfg);
    let stp = |br: &str| {
        let o = t
            .app
            .cmd("cat")
            .arg(format!("/sys/class/net/{br}/bridge/stp_state"))
            .output()
            .expect("cat");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(stp("virbr0"), "0", "VM ports cannot loop: no STP");
    assert_eq!(stp("virbr1"), "1", "every NIC a port: STP");
    assert_eq!(stp("virbr2"), "1", "the config says so");
}

/// A host's own LAN bridge (a `bridge` network, made by the admin) keeps
/// the STP the admin set: netagent turns it neither on nor off unless the
/// config says so.
#[test]
fn netns_a_host_bridge_keeps_its_stp_unless_the_config_states_it() {
    need_root!("netns_a_host_bridge_keeps_its_stp_unless_the_config_states_it");
    let t = Topo::new();
    t.app
        .ip(&["link", "add", "br0", "type", "bridge", "stp_state", "1"]);
    t.app.ip(&["link", "set", "br0", "up"]);
    let stp = || {
        let o = t
            .app
            .cmd("cat")
            .arg("/sys/class/net/br0/bridge/stp_state")
            .output()
            .expect("cat");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let net = "[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"vnet*\"]\nadopt = true\n";
    let cfg = t.write_config("lan.toml", &with_uplink(net));
    let agent = t.start(&cfg);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(stp(), "1", "netagent changed the admin's STP");
    std::fs::write(&cfg, with_uplink(&format!("{net}stp = false\n"))).expect("write");
    let r = t.netagent(&["reload"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        wait_for(std::time::Duration::from_secs(3), || stp() == "0").is_some(),
        "{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        agent.log()
    );
}
