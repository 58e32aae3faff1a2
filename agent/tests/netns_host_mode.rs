//! Root, network namespaces: a libvirt host moved to netagent. libvirt's
//! default network XML is imported; the host's own NIC setup (address,
//! default route) is left alone (`address = "host"`); the bridge libvirt
//! left behind is adopted with its guest tap still attached; guests reach
//! the outside through NAT, and DNS is forwarded to the host's resolver from
//! /etc/resolv.conf.

mod common;

use std::process::Command;

use common::topo::*;

#[test]
fn netns_imported_libvirt_default_runs_beside_the_hosts_own_network() {
    need_root!("netns_imported_libvirt_default_runs_beside_the_hosts_own_network");
    let mut t = Topo::new();
    // The host's network tools configured the uplink.
    t.app.ip(&["addr", "add", "10.99.0.2/24", "dev", UPLINK]);
    t.app.ip(&["link", "set", UPLINK, "up"]);
    t.app.ip(&["route", "add", "default", "via", OUTSIDE_IP]);
    std::fs::write(
        format!("/etc/netns/{}/resolv.conf", t.app.name),
        format!("nameserver {OUTSIDE_IP}\n"),
    )
    .expect("the host's resolv.conf");
    // What libvirt leaves: virbr0 with a running guest's tap on it.
    let g = t.guest("vnet0", "192.168.122.10/24", "192.168.122.1");
    t.app.ip(&[
        "link",
        "add",
        "virbr0",
        "type",
        "bridge",
        "stp_state",
        "1",
        "forward_delay",
        "0",
    ]);
    t.app.ip(&["link", "set", "vnet0", "master", "virbr0"]);
    t.app.ip(&["link", "set", "virbr0", "up"]);
    let before = t.app.ip(&["-o", "link", "show", "virbr0"]);

    let o = Command::new(env!("CARGO_BIN_EXE_netagent"))
        .arg("import-libvirt")
        .arg(common::repo_root().join("agent/tests/libvirt/default.xml"))
        .output()
        .expect("import");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = t.write_config("imported.toml", &String::from_utf8_lossy(&o.stdout));
    let _agent = t.start(&cfg);

    // Adopted, not recreated; the tap stays attached.
    let after = t.app.ip(&["-o", "link", "show", "virbr0"]);
    assert_eq!(
        before.split(':').next(),
        after.split(':').next(),
        "virbr0 was recreated"
    );
    assert_eq!(t.master_of("vnet0").as_deref(), Some("virbr0"));

    // The host's uplink is untouched.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let addrs = t.app.ip(&["-4", "-o", "addr", "show", "dev", UPLINK]);
    assert!(addrs.contains("10.99.0.2/24"), "{addrs}");
    let routes = t.app.ip(&["route", "show", "default"]);
    assert!(
        routes.contains(&format!("default via {OUTSIDE_IP} dev {UPLINK}")),
        "{routes}"
    );
    assert!(
        !routes.contains("proto 78"),
        "netagent took over the host's default route: {routes}"
    );

    // STP is on, as libvirt has it: the kernel holds a port for at least
    // 2 s listening and 2 s learning.
    let forwarding = wait_for(std::time::Duration::from_secs(10), || {
        t.app
            .ip(&["-d", "link", "show", "vnet0"])
            .contains("state forwarding")
    });
    assert!(forwarding.is_some(), "vnet0 never forwards");

    // NAT to the outside.
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    let mut c = tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080")).expect("guest reaches the outside");
    echo(&mut c, b"hello").expect("echo");
    assert_eq!(srv.peers()[0].ip(), ip("10.99.0.2"));

    // DNS for an outside name goes to the host's resolver.
    let upstream = UdpServer::start(&t.out.name, sa("10.99.0.1:53"));
    let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01";
    in_ns(&t.g(g).ns.name, move || {
        let s = std::net::UdpSocket::bind("192.168.122.10:0").expect("bind");
        let _ = s.send_to(q, "192.168.122.1:53");
    });
    let seen = wait_for(std::time::Duration::from_secs(3), || !upstream.peers().is_empty());
    assert!(
        seen.is_some(),
        "the query was not forwarded to the host's resolver"
    );
    assert_eq!(upstream.peers()[0].ip(), ip("10.99.0.2"));
}

/// A host as libvirt leaves it with two networks running: the uplink
/// configured by the host's tools, virbr0 and virbr2 up with a guest's tap
/// on each (vnet0, vnet1).
fn libvirt_host() -> Topo {
    let mut t = Topo::new();
    t.app.ip(&["addr", "add", "10.99.0.2/24", "dev", UPLINK]);
    t.app.ip(&["link", "set", UPLINK, "up"]);
    t.guest("vnet0", "192.168.122.10/24", "192.168.122.1");
    t.guest("vnet1", "192.168.152.10/24", "");
    for (br, tap) in [("virbr0", "vnet0"), ("virbr2", "vnet1")] {
        t.app.ip(&["link", "add", br, "type", "bridge"]);
        t.app.ip(&["link", "set", tap, "master", br]);
        t.app.ip(&["link", "set", br, "up"]);
    }
    t
}

/// Several libvirt networks: `import-libvirt --keep-taps` runs while
/// libvirt's bridges are up and records which taps sit on the second one;
/// after libvirt's networks are destroyed (bridges gone, taps left), netagent
/// puts every tap back on its own network's bridge.
#[test]
fn netns_taps_go_back_to_their_own_networks_after_libvirt_is_stopped() {
    need_root!("netns_taps_go_back_to_their_own_networks_after_libvirt_is_stopped");
    let t = libvirt_host();
    let dir = common::repo_root().join("agent/tests/libvirt");
    let o = t
        .app
        .cmd(env!("CARGO_BIN_EXE_netagent"))
        .args(["import-libvirt", "--keep-taps"])
        .arg(dir.join("default.xml"))
        .arg(dir.join("isolated.xml"))
        .output()
        .expect("import");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let toml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(toml.contains("ports = [\"vnet1\"]"), "{toml}");
    // `virsh net-destroy`: the bridges go, the guests' taps stay.
    t.app.ip(&["link", "del", "virbr0"]);
    t.app.ip(&["link", "del", "virbr2"]);
    let cfg = t.write_config("imported.toml", &toml);
    let _agent = t.start(&cfg);
    assert_eq!(t.master_of("vnet0").as_deref(), Some("virbr0"));
    assert_eq!(t.master_of("vnet1").as_deref(), Some("virbr2"));
}

/// In host mode the guests resolve the host's /etc/hosts, as libvirt's
/// dnsmasq lets them (loopback lines left out), read again when it changes;
/// `etc_hosts = false` turns it off.
#[test]
fn netns_host_mode_serves_the_hosts_etc_hosts_and_follows_its_changes() {
    need_root!("netns_host_mode_serves_the_hosts_etc_hosts_and_follows_its_changes");
    let mut t = Topo::new();
    t.app.ip(&["addr", "add", "10.99.0.2/24", "dev", UPLINK]);
    t.app.ip(&["link", "set", UPLINK, "up"]);
    // `ip netns exec` mounts this over the agent's /etc/hosts.
    let hosts = format!("/etc/netns/{}/hosts", t.app.name);
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n127.0.1.1 thishost\n10.99.0.77 nas nas.corp.test\n",
    )
    .expect("hosts");
    let g = t.guest("vnet0", "192.168.122.10/24", "192.168.122.1");
    let net = "[uplink]\ninterface = \"up0\"\naddress = \"host\"\n[[network]]\nname = \"default\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\nstp = false\nports = [\"vnet*\"]\n[network.dns]\ndomain = \"lab\"\n";
    let cfg = t.write_config("host.toml", net);
    let _agent = t.start(&cfg);
    let dig = |name: &str| common::clients::short(&t.g(g).ns, "192.168.122.1", &[name]);
    assert_eq!(dig("nas"), "10.99.0.77");
    assert_eq!(dig("nas.lab"), "10.99.0.77", "a plain name is also in the domain");
    assert_eq!(dig("nas.corp.test"), "10.99.0.77");
    assert_ne!(dig("thishost"), "127.0.1.1", "loopback lines are not for guests");
    std::fs::write(&hosts, "10.99.0.77 nas\n10.99.0.78 printer\n").expect("hosts");
    let seen = wait_for(std::time::Duration::from_secs(5), || {
        dig("printer") == "10.99.0.78"
    });
    assert!(seen.is_some(), "a changed /etc/hosts was not read again");
    std::fs::write(&cfg, format!("{net}etc_hosts = false\n")).expect("config");
    let r = t.netagent(&["reload"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_ne!(dig("printer"), "10.99.0.78", "etc_hosts = false still served it");
}

/// The README's steps for moving a libvirt host without libvirt's network
/// driver (import-libvirt), run as written (paths
/// under the test's directory instead of /root and /etc, and the test's
/// own agent for `make install && systemctl enable --now netagent`),
/// against a stand-in `virsh` that lists, dumps and destroys two libvirt
/// networks whose guests' taps sit on their bridges.
#[test]
fn netns_the_readmes_migration_steps_work_as_written() {
    need_root!("netns_the_readmes_migration_steps_work_as_written");
    let t = libvirt_host();
    // libvirt's networks, as virsh shows them.
    let lv = t.dir.join("libvirt");
    std::fs::create_dir_all(&lv).expect("dir");
    let xml = common::repo_root().join("agent/tests/libvirt");
    for n in ["default", "isolated"] {
        let text = std::fs::read_to_string(xml.join(format!("{n}.xml"))).expect("xml");
        let name = if n == "isolated" { "private" } else { n };
        std::fs::write(lv.join(format!("{name}.xml")), text).expect("xml");
        std::fs::write(lv.join(format!("{name}.active")), "").expect("active");
    }
    let bin = t.dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let virsh = bin.join("virsh");
    std::fs::write(
        &virsh,
        format!(
            "#!/bin/sh\nD={d}\ncase \"$1\" in\n\
             net-list) for f in \"$D\"/*.active; do [ -e \"$f\" ] && basename \"$f\" .active; done ;;\n\
             net-dumpxml) cat \"$D/$2.xml\" ;;\n\
             net-autostart) : ;;\n\
             net-destroy) br=$(sed -n \"s/.*<bridge name=[\\\"']\\([^\\\"']*\\).*/\\1/p\" \"$D/$2.xml\"); ip link del \"$br\"; rm \"$D/$2.active\" ;;\n\
             *) echo \"virsh: $1?\" >&2; exit 1 ;;\nesac\n",
            d = lv.display()
        ),
    )
    .expect("virsh");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&virsh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let netagent_dir = std::path::Path::new(env!("CARGO_BIN_EXE_netagent"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        netagent_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).expect("README");
    let block = readme
        .split("To move\na libvirt host without libvirt's network driver, as root:")
        .nth(1)
        .and_then(|r| r.split("```sh\n").nth(1))
        .and_then(|r| r.split("```").next())
        .expect("the README's migration steps");
    let nets = t.dir.join("libvirt-networks");
    let etc = t.dir.join("etc-netagent");
    let subst = |l: &str| {
        l.replace("/root/libvirt-networks", &nets.display().to_string())
            .replace("/etc/netagent", &etc.display().to_string())
    };
    let mut ran = Vec::new();
    let mut agent = None;
    for line in block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line {
            "make install && systemctl enable --now netagent" => {
                agent = Some(t.start(&etc.join("netagent.toml")));
            }
            "netagent list" => {
                let o = t.netagent(&["list"]);
                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                assert!(o.status.success(), "{out}");
                for (n, br) in [("default", "virbr0"), ("private", "virbr2")] {
                    assert!(
                        out.lines()
                            .any(|l| l.contains(n) && l.contains(br) && l.contains("active")),
                        "netagent list:\n{out}"
                    );
                }
            }
            _ => {
                let o = t
                    .app
                    .cmd("sh")
                    .arg("-c")
                    .arg(subst(line))
                    .env("PATH", &path)
                    .output()
                    .expect("sh");
                assert!(
                    o.status.success(),
                    "README step failed: {line}\n{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        ran.push(line.to_string());
    }
    assert!(agent.is_some(), "the steps never start netagent: {ran:?}");
    assert!(
        ran.iter().any(|l| l.starts_with("netagent import-libvirt")),
        "{ran:?}"
    );
    assert!(ran.iter().any(|l| l == "netagent list"), "{ran:?}");
    // Every guest is back on its own network's bridge.
    assert_eq!(t.master_of("vnet0").as_deref(), Some("virbr0"));
    assert_eq!(t.master_of("vnet1").as_deref(), Some("virbr2"));
}
