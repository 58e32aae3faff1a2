//! `netagent import-libvirt`: libvirt's documented network XML (the default
//! NAT network, and the routed, isolated and bridge examples of libvirt's
//! network XML page) against golden TOML files; every output passes the
//! check, and what has no equivalent is named. UPDATE_GOLDEN=1 rewrites the
//! golden files.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use netagent::config;
use netagent::libvirt::import;

fn dir() -> PathBuf {
    common::repo_root().join("agent/tests/libvirt")
}

fn doc(name: &str) -> (String, String) {
    let p = dir().join(format!("{name}.xml"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (format!("{name}.xml"), text)
}

#[test]
fn imports_match_golden_files_and_pass_the_check() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for name in [
        "default", "routed", "isolated", "bridge", "full", "nat-dev", "open", "nat-ipv6",
    ] {
        let out = import(&[doc(name)], &HashMap::new()).unwrap_or_else(|e| panic!("{name}.xml: {e}"));
        let cfg = config::parse(&out.toml, "imported.toml")
            .unwrap_or_else(|p| panic!("{name}.xml imports to a config that fails the check:\n{p}"));
        assert_eq!(cfg.networks.len(), 1);
        let golden = dir().join(format!("{name}.toml"));
        if update {
            std::fs::write(&golden, &out.toml).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", golden.display()));
        assert_eq!(
            out.toml,
            want,
            "{name}.xml: import differs from {}",
            golden.display()
        );
    }
}

#[test]
fn libvirts_default_network_becomes_netagents_default() {
    let out = import(&[doc("default")], &HashMap::new()).expect("import");
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    let n = &cfg.networks[0];
    let d = config::default_config();
    let want = &d.networks[0];
    assert_eq!(
        (
            n.kind,
            &n.bridge,
            n.address,
            &n.dhcp.as_ref().map(|x| x.ranges.clone())
        ),
        (
            want.kind,
            &want.bridge,
            want.address,
            &want.dhcp.as_ref().map(|x| x.ranges.clone())
        )
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // A libvirt host keeps configuring its own NIC.
    assert_eq!(cfg.uplink.map(|u| u.addressing), Some(config::Addressing::Host));
}

#[test]
fn what_has_no_equivalent_is_named() {
    let out = import(&[doc("full")], &HashMap::new()).expect("import");
    for needle in [
        "<network ipv6='yes'>",
        "<bandwidth>",
        "<portgroup>",
        "<virtualport>",
        "<ip/tftp>",
        "DHCP <host> db has its own lease time",
        "DHCP <host> v6only needs both mac= and an IPv4 ip=",
    ] {
        assert!(
            out.warnings.iter().any(|w| w.contains(needle)),
            "no warning about {needle}: {:#?}",
            out.warnings
        );
        assert!(
            out.toml.contains(needle),
            "the output's comments do not name {needle}"
        );
    }
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    let n = &cfg.networks[0];
    assert!(n.port_isolation);
    assert_eq!(n.mtu, Some(9000));
    assert_eq!(n.routes.len(), 1);
    let nat = n.nat.as_ref().expect("nat");
    assert_eq!(nat.ports.to_string(), "20000-29999");
    assert_eq!(
        nat.address.map(|a| a.to_string()).as_deref(),
        Some("203.0.113.10-203.0.113.20")
    );
    let dhcp = n.dhcp.as_ref().expect("dhcp");
    assert_eq!(dhcp.hosts.len(), 2);
    assert_eq!(dhcp.lease_time.seconds(), Some(12 * 3600));
    let dns = n.dns.as_ref().expect("dns");
    assert!(dns.local_only);
    assert_eq!(dns.forwarders.len(), 3);
    assert_eq!(dns.hosts[0].names, vec!["cache", "redis"]);
    assert_eq!(dns.srv.len(), 1);
    assert_eq!(dns.txt.len(), 1);
}

#[test]
fn several_files_become_one_config_and_macvtap_is_refused() {
    let out = import(&[doc("default"), doc("isolated"), doc("bridge")], &HashMap::new()).expect("import");
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    assert_eq!(cfg.networks.len(), 3);
    assert_eq!(cfg.networks[0].ports, vec!["vnet*"]);
    assert!(out
        .warnings
        .iter()
        .any(|w| w.contains("network \"private\": no ports")));

    // Taps on a bridge now are kept there by name; a name beats `vnet*`.
    let attached = HashMap::from([(
        "virbr2".to_string(),
        vec!["vnet3".to_string(), "vnet1".to_string()],
    )]);
    let out = import(&[doc("default"), doc("isolated")], &attached).expect("import");
    let cfg = config::parse(&out.toml, "imported.toml").expect("a name beside vnet* passes the check");
    assert_eq!(cfg.networks[1].ports, vec!["vnet1", "vnet3"]);
    assert!(out
        .warnings
        .iter()
        .any(|w| w.contains("ports are the taps on virbr2 now (vnet1, vnet3)")));

    // No bridge name: a free virbrN, as libvirt picks one.
    let unnamed = (
        "unnamed.xml".to_string(),
        "<network><name>lab</name><forward/><ip address='10.5.0.1' prefix='24'/></network>".to_string(),
    );
    let out = import(&[doc("default"), unnamed], &HashMap::new()).expect("import");
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    assert_eq!(cfg.networks[1].bridge, "virbr1");
    assert!(out.warnings.iter().any(|w| w.contains("bridge virbr1 chosen")));

    let e = import(&[doc("macvtap")], &HashMap::new())
        .expect_err("macvtap has no equivalent, and nothing else is there");
    assert!(e.contains("macvtap"), "{e}");
    // Two networks on one subnet: the check's problem, not a silent output.
    let e = import(&[doc("default"), doc("routed")], &HashMap::new()).expect_err("overlapping subnets");
    assert!(e.contains("overlaps"), "{e}");
}

#[test]
fn the_command_prints_toml_and_warnings() {
    let o = Command::new(env!("CARGO_BIN_EXE_netagent"))
        .arg("import-libvirt")
        .arg(dir().join("nat-ipv6.xml"))
        .output()
        .expect("run");
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: network \"nat6\": a second IPv6 <ip address='fd00:151::1'>"),
        "{stderr}"
    );
    let toml = String::from_utf8_lossy(&o.stdout);
    config::parse(&toml, "stdout").expect("stdout is a valid config");
    let o = Command::new(env!("CARGO_BIN_EXE_netagent"))
        .arg("import-libvirt")
        .arg(dir().join("macvtap.xml"))
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

/// libvirt's `<forward dev>`, `forwardPlainNames='no'` and `localPtr='yes'`
/// are imported as what they do; a host bridge's STP is left to the host.
#[test]
fn forward_dev_plain_names_local_ptr_and_host_bridges() {
    let out = import(&[doc("nat-dev")], &HashMap::new()).expect("import");
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    let n = &cfg.networks[0];
    assert_eq!(n.egress.as_deref(), Some("eth1"));
    let dns = n.dns.as_ref().expect("dns");
    assert!(!dns.forward_plain_names && dns.local_ptr);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("<bridge delay='5'>") && w.contains("forward delay of 0")),
        "{:?}",
        out.warnings
    );
    assert!(!out
        .warnings
        .iter()
        .any(|w| w.contains("localPtr") || w.contains("forwardPlainNames")));
    // By default plain names go upstream, as libvirt's dnsmasq sends them.
    let d = import(&[doc("default")], &HashMap::new()).expect("import");
    let cfg = config::parse(&d.toml, "imported.toml").expect("valid");
    let dns = cfg.networks[0].dns.as_ref().expect("dns");
    assert!(dns.forward_plain_names && !dns.local_ptr);
    // The admin's bridge: nothing written that would change its STP.
    let b = import(&[doc("bridge")], &HashMap::new()).expect("import");
    let cfg = config::parse(&b.toml, "imported.toml").expect("valid");
    assert_eq!(cfg.networks[0].stp, None);
    let p = netagent::plan::plan(&cfg);
    assert!(p.bridges[0].keep_stp);
}

#[test]
fn bad_prefixes_and_netmasks_are_named() {
    let with = |attrs: &str| {
        let xml = format!("<network><name>x</name><forward/><bridge name='virbr9'/><ip address='10.9.0.1' {attrs}/></network>");
        import(&[("x.xml".to_string(), xml)], &HashMap::new()).expect_err("refused")
    };
    let e = with("prefix='33'");
    assert!(e.contains("prefix='33' is not a prefix length"), "{e}");
    let e = with("netmask='255.0.255.0'");
    assert!(e.contains("netmask='255.0.255.0' is not contiguous"), "{e}");
    let e = import(
        &[(
            "i.xml".to_string(),
            "<network><name>i</name><bridge name='virbr9'/></network>".to_string(),
        )],
        &HashMap::new(),
    )
    .expect_err("no address");
    assert!(e.contains("an isolated network needs"), "{e}");
}

/// One network that cannot be imported does not take the others down: they
/// are written, the refused one is named, the exit status is 2; `-o` writes
/// atomically and leaves the old file whole when nothing can be imported.
#[test]
fn a_refused_network_does_not_fail_the_others_and_output_is_atomic() {
    let out = import(&[doc("default"), doc("macvtap")], &HashMap::new()).expect("import");
    assert_eq!(out.refused.len(), 1);
    assert!(out.refused[0].contains("macvtap.xml") && out.refused[0].contains("macvtap"));
    assert!(out.toml.contains("Networks NOT imported") && out.toml.contains("macvtap.xml"));
    let cfg = config::parse(&out.toml, "imported.toml").expect("valid");
    assert_eq!(cfg.networks.len(), 1);

    let dir = std::env::temp_dir().join(format!("netagent-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let target = dir.join("netagent.toml");
    std::fs::write(&target, "# the old config\n").expect("write");
    let run = |files: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_netagent"))
            .arg("import-libvirt")
            .arg("-o")
            .arg(&target)
            .args(files.iter().map(|f| super_dir(f)))
            .output()
            .expect("run")
    };
    let o = run(&["macvtap.xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "# the old config\n"
    );
    let o = run(&["default.xml", "macvtap.xml"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("macvtap.xml"));
    let written = std::fs::read_to_string(&target).expect("read");
    config::parse(&written, "netagent.toml").expect("the written file is a valid config");
    assert!(written.contains("name = \"default\""));
    let _ = std::fs::remove_dir_all(&dir);
}

fn super_dir(f: &str) -> PathBuf {
    dir().join(f)
}
