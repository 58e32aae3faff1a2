//! Every example config is accepted, the embedded default equals
//! config/default.toml, and broken configs get every problem with its place.

mod common;

use netagent::config::{self, default_config, Problems};

#[test]
fn every_example_config_is_accepted() {
    let examples = common::example_configs();
    let names: Vec<&str> = examples.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "default",
        "nat",
        "custom-nat",
        "route",
        "custom-route",
        "isolated",
        "open",
        "bridge",
        "multi",
        "port-forward",
    ] {
        assert!(names.contains(&want), "config/{want}.toml is missing");
    }
    for (name, path) in &examples {
        let src = std::fs::read_to_string(path).expect("read example");
        if let Err(p) = config::parse(&src, name) {
            panic!("config/{name}.toml is rejected:\n{p}");
        }
    }
}

#[test]
fn every_example_config_survives_being_written_back() {
    for (name, path) in common::example_configs() {
        let src = std::fs::read_to_string(&path).expect("read example");
        let cfg = config::parse(&src, &name).expect("valid example");
        let written = config::write::write(&cfg);
        match config::parse(&written, "written.toml") {
            Ok(back) => assert_eq!(back, cfg, "config/{name}.toml changed when written:\n{written}"),
            Err(p) => panic!("config/{name}.toml written back is rejected:\n{p}\n{written}"),
        }
    }
}

#[test]
fn default_toml_is_the_embedded_default() {
    let src = std::fs::read_to_string(common::repo_root().join("config/default.toml")).expect("read");
    let parsed = config::parse(&src, "default.toml").expect("default.toml is valid");
    assert_eq!(parsed, default_config());
}

fn problems(src: &str) -> Problems {
    match config::parse(src, "t.toml") {
        Ok(c) => panic!("accepted a broken config: {c:?}"),
        Err(p) => p,
    }
}

/// The problem at `line` whose message contains `needle`, or a panic listing all.
fn has(p: &Problems, line: usize, needle: &str) {
    assert!(
        p.list
            .iter()
            .any(|x| x.line == line && x.message.contains(needle)),
        "no problem at line {line} containing {needle:?} in:\n{p}"
    );
}

const UPLINK: &str = "[uplink]\ninterface = \"eth0\"\n";

#[test]
fn every_problem_is_reported_at_once_with_its_position() {
    let src = format!(
        r#"{UPLINK}
[[network]]
name = "a"
bridge = "virbr0"
address = "10.0.0.1/24"
[network.dhcp]
ranges = ["10.0.0.1-10.0.0.50", "10.0.1.2-10.0.1.9"]
lease_time = "10 parsecs"

[[network]]
name = "a"
bridge = "virbr0"
address = "10.0.0.129/25"
"#
    );
    let p = problems(&src);
    has(&p, 9, "contains the bridge's own address");
    has(&p, 9, "is not inside 10.0.0.0/24");
    has(&p, 10, "is not a lease time");
    has(&p, 13, "another network has this name");
    has(&p, 14, "already used by network");
    has(&p, 15, "overlaps 10.0.0.0/24");
    assert_eq!(p.list.len(), 6, "{p}");
    // Columns point at the value.
    let lease = p.list.iter().find(|x| x.line == 10).unwrap();
    assert_eq!(lease.col, 14);
    let text = p.to_string();
    assert!(
        text.starts_with("t.toml:9:11: network \"a\" dhcp.ranges[0]:"),
        "{text}"
    );
    assert!(text.ends_with("6 problems found; nothing was applied"), "{text}");
}

#[test]
fn unknown_keys_are_typos_with_a_suggestion() {
    let p = problems(&format!(
        "{UPLINK}gatewy = \"1.2.3.4\"\n[[network]]\nname = \"n\"\nbridge = \"b0\"\naddress = \"10.1.0.1/24\"\nprots = [\"vnet*\"]\n[network.dhcp]\nlease = \"1h\"\n"
    ));
    has(&p, 3, "unknown key `gatewy`: did you mean `gateway`?");
    has(&p, 8, "unknown key `prots`: did you mean `ports`?");
    has(&p, 10, "unknown key `lease`");
    assert!(p.list.iter().any(|x| x.field == "network \"n\" prots"), "{p}");
}

#[test]
fn static_hosts_are_checked() {
    let p = problems(&format!(
        r#"{UPLINK}[[network]]
name = "n"
bridge = "b0"
address = "10.1.0.1/24"
[network.dhcp]
[[network.dhcp.host]]
mac = "52:54:00:00:00:01"
ip = "10.1.0.1"
[[network.dhcp.host]]
mac = "52:54:00:00:00:02"
ip = "10.2.0.5"
[[network.dhcp.host]]
mac = "52:54:00:00:00:03"
ip = "10.1.0.7"
[[network.dhcp.host]]
mac = "52:54:00:00:00:03"
ip = "10.1.0.7"
[[network.dhcp.host]]
mac = "52:54:00:00:00"
ip = "10.1.0.9"
"#
    ));
    has(&p, 10, "the bridge's own address");
    has(&p, 13, "is not a host address in 10.1.0.0/24");
    has(&p, 19, "10.1.0.7 is already given to 52:54:00:00:00:03");
    has(&p, 18, "already has a static host entry");
    has(&p, 21, "is not a MAC address");
}

#[test]
fn interface_names_and_ports_are_checked() {
    let p = problems(
        r#"[uplink]
interface = "eth0"
[[network]]
name = "a"
bridge = "virbr-much-too-long"
address = "10.1.0.1/24"
ports = ["vnet*", "eth0", "tap 1"]
[[network]]
name = "b"
bridge = "vir/br1"
address = "10.2.0.1/24"
ports = ["vnet7*"]
"#,
    );
    has(&p, 5, "Linux interface names have at most 15");
    has(&p, 7, "takes the uplink eth0 as a port");
    has(&p, 7, "contains ' '");
    has(&p, 10, "contains '/'");
    has(&p, 12, "also claimed by network \"a\"");
}

#[test]
fn kinds_get_only_options_that_make_sense() {
    let p = problems(
        r#"[[network]]
name = "nat-without-uplink"
bridge = "virbr0"
address = "10.1.0.1/24"
[[network]]
name = "iso"
kind = "isolated"
bridge = "virbr1"
address = "10.2.0.1/24"
[network.nat]
ports = "1024-2000"
[network.dhcp]
router = true
[network.dns]
[[network.dns.forwarder]]
addr = "9.9.9.9"
[[network]]
name = "br"
kind = "bridge"
bridge = "br0"
[network.dhcp]
[[network]]
name = "odd"
kind = "switch"
bridge = "virbr3"
"#,
    );
    has(&p, 1, "needs an uplink");
    has(&p, 10, "does no NAT");
    has(&p, 13, "hands out no router");
    has(&p, 15, "does not forward queries");
    has(&p, 21, "DHCP needs the bridge to have an address");
    has(&p, 24, "unknown kind `switch`");
}

#[test]
fn port_forwards_are_checked() {
    let p = problems(
        r#"[uplink]
interface = "eth0"
[[network]]
name = "a"
bridge = "virbr0"
address = "10.1.0.1/24"
[[network.forward]]
port = 8080
to = "10.2.0.5"
[[network.forward]]
protocol = "sctp"
port = "9000-8000"
to = "10.1.0.5"
[[network.forward]]
port = "7000-7010"
to = "10.1.0.5"
to_port = 80
[[network.forward]]
port = 443
to = "10.1.0.6"
from = ["not-a-net"]
[[network]]
name = "b"
bridge = "virbr1"
address = "10.3.0.1/24"
[[network.forward]]
port = "440-450"
to = "10.3.0.5"
[[network]]
name = "r"
kind = "route"
bridge = "virbr2"
address = "10.4.0.1/24"
[[network.forward]]
port = 1
to = "10.4.0.5"
"#,
    );
    has(&p, 9, "not a guest address in 10.1.0.0/24");
    has(&p, 11, "unknown protocol `sctp`");
    has(&p, 12, "not a port range");
    has(&p, 17, "forwarded port for port");
    has(&p, 21, "`not-a-net` is not an address or subnet");
    has(
        &p,
        26,
        "tcp port 440-450 is already forwarded to 10.1.0.6 by network \"a\"",
    );
    has(&p, 34, "a route network has no port forwarding");
}

#[test]
fn bad_units_and_values_are_explained() {
    let long = "x".repeat(200);
    let p = problems(&format!(
        r#"{UPLINK}[[network]]
name = "n"
bridge = "b0"
address = "10.1.0.0/24"
mtu = 12
mac = "01:00:5e:00:00:01"
[[network]]
name = "m"
bridge = "b1"
address = "10.2.0.1/24"
[network.nat]
ports = "80-70"
[network.dhcp]
lease_time = "30s"
[network.dhcp.pxe]
file = "{long}"
[[network.route]]
to = "10.9.0.1/16"
via = "10.3.0.1"
"#
    ));
    has(&p, 6, "is the subnet's network address");
    has(&p, 7, "out of range: use 68 to 65535");
    has(&p, 8, "is a multicast MAC");
    has(&p, 14, "is not a port range");
    has(&p, 16, "2 minute minimum");
    has(&p, 18, "a boot file name has 1 to 127 bytes");
    has(&p, 20, "has host bits set: did you mean 10.9.0.0/16?");
    has(&p, 21, "must be a guest address in 10.2.0.0/24");
}

#[test]
fn names_routes_and_records_that_would_break_the_host_are_refused() {
    let long = "t".repeat(256);
    let p = problems(&format!(
        r#"{UPLINK}
[[network]]
name = "a"
bridge = "default"
address = "10.0.0.1/24"
[[network.route]]
to = "0.0.0.0/0"
via = "10.0.0.5"
[network.dns]
[[network.dns.txt]]
name = "x"
value = "{long}"
[[network]]
name = "b"
bridge = "lo"
address = "10.1.0.1/24"
"#
    ));
    has(&p, 6, "`default` cannot be a bridge's name");
    has(&p, 9, "would send all of the host's traffic to a guest");
    has(&p, 14, "a TXT value has at most 255");
    has(&p, 17, "`lo` cannot be a bridge's name");
}

#[test]
fn resolvers_that_are_our_own_and_routes_over_other_subnets_are_refused() {
    let p = problems(
        r#"[uplink]
interface = "eth0"
address = "10.99.0.2/24"
dns = ["10.1.0.1"]
[[network]]
name = "a"
bridge = "virbr0"
address = "10.0.0.1/24"
[[network.route]]
to = "10.1.0.0/24"
via = "10.0.0.5"
[[network.route]]
to = "10.99.0.0/16"
via = "10.0.0.5"
[network.dns]
[[network.dns.forwarder]]
addr = "10.0.0.1"
[[network]]
name = "b"
bridge = "virbr1"
address = "10.1.0.1/24"
"#,
    );
    has(&p, 4, "is network \"b\"'s own address");
    has(&p, 10, "overlaps 10.1.0.0/24 of network \"b\"");
    has(&p, 13, "overlaps the uplink's subnet 10.99.0.0/24");
    has(&p, 17, "is network \"a\"'s own address");
}

#[test]
fn syntax_errors_have_a_position() {
    let p = problems("[[network]\nname = 1\n");
    assert_eq!(p.list.len(), 1);
    assert_eq!((p.list[0].line, p.list[0].field.as_str()), (1, "syntax"));
    let p = problems("[[network]]\nname = \"x\"\nbridge = 7\n");
    has(&p, 3, "invalid type");
}

#[test]
fn an_empty_file_asks_for_a_network() {
    let p = problems("");
    has(&p, 1, "no [[network]] is defined");
}

#[test]
fn a_bridge_network_serves_the_physical_lan_only_when_told_to() {
    let p = problems(
        r#"[[network]]
name = "lan"
kind = "bridge"
bridge = "br0"
address = "192.168.1.2/24"
ports = ["eth0"]
[network.dhcp]
[network.dns]
"#,
    );
    has(&p, 7, "serve_lan = true");
    has(&p, 8, "serve_lan = true");
    let ok = r#"[[network]]
name = "lan"
kind = "bridge"
bridge = "br0"
address = "192.168.1.2/24"
ports = ["eth0"]
serve_lan = true
[network.dhcp]
[network.dns]
"#;
    let cfg = config::parse(ok, "t.toml").unwrap_or_else(|p| panic!("{p}"));
    assert!(cfg.networks[0].dhcp.is_some() && cfg.networks[0].serves_dns().is_some());
    // Serving nothing needs no permission; asking for it where it means nothing is a mistake.
    let p = problems(
        "[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\nserve_lan = true\n",
    );
    has(&p, 5, "only means something on a kind = \"bridge\" network");
}

#[test]
fn adopting_an_existing_bridge_is_said_in_the_config() {
    let src = "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\nadopt = true\n";
    let cfg = config::parse(src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
    assert!(cfg.networks[0].adopt);
    let back = config::parse(&config::write::write(&cfg), "w.toml").unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(back, cfg);
    let cfg = config::parse(&src.replace("adopt = true\n", ""), "t.toml").unwrap_or_else(|p| panic!("{p}"));
    assert!(!cfg.networks[0].adopt);
}

#[test]
fn an_srv_port_out_of_range_is_named() {
    let p = problems(
        "[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\n[network.dns]\n[[network.dns.srv]]\nservice = \"http\"\nprotocol = \"tcp\"\nport = 70000\n",
    );
    has(&p, 9, "70000 is out of range: use 0 to 65535");
}

#[test]
fn the_uplink_may_be_named_by_mac_or_bus_path_but_one_way_only() {
    let net = "[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\n";
    for (line, want) in [
        ("mac = \"52:54:00:12:34:56\"", "mac 52:54:00:12:34:56"),
        ("path = \"0000:00:02.0\"", "path 0000:00:02.0"),
    ] {
        let src = format!("[uplink]\n{line}\n{net}");
        let cfg = config::parse(&src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
        let u = cfg.uplink.as_ref().unwrap();
        assert_eq!(u.interface.to_string(), want);
        let back = config::parse(&config::write::write(&cfg), "w.toml").unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(back, cfg);
    }
    let p = problems(&format!(
        "[uplink]\ninterface = \"eth0\"\nmac = \"52:54:00:12:34:56\"\n{net}"
    ));
    has(&p, 1, "name the uplink one way");
    let p = problems(&format!("[uplink]\nmac = \"not-a-mac\"\n{net}"));
    has(&p, 2, "a MAC address");
}

#[test]
fn dhcp_options_set_by_hand_are_checked_and_written_back() {
    let net = "[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\n[network.dhcp]\n";
    let p = problems(&format!(
        "{net}[[network.dhcp.option]]\nname = \"ntp-servers\"\nvalue = \"ntp.example\"\n\
         [[network.dhcp.option]]\ncode = 3\nvalue = \"10.0.0.9\"\n\
         [[network.dhcp.option]]\nname = \"no-such-option\"\nvalue = \"x\"\n\
         [[network.dhcp.option]]\ncode = 300\nvalue = \"x\"\n"
    ));
    has(&p, 8, "option 42: \"ntp.example\" is not an IPv4 address");
    has(
        &p,
        10,
        "option 3 is netagent's own: the router is the bridge's address",
    );
    has(&p, 13, "\"no-such-option\" is not an option name netagent knows");
    has(&p, 16, "300 is out of range");
    let src = format!(
        "{UPLINK}{net}[[network.dhcp.option]]\nname = \"domain-search\"\nvalue = \"lab, example.org\"\n\
         [[network.dhcp.option]]\ncode = 224\nvalue = \"01:02:03\"\nforce = true\n"
    );
    let cfg = config::parse(&src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
    let opts = &cfg.networks[0].dhcp.as_ref().expect("dhcp").options;
    assert_eq!((opts[0].code, opts[1].code, opts[1].force), (119, 224, true));
    let back = config::parse(&config::write::write(&cfg), "w.toml").unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(back, cfg);
}

#[test]
fn ipv6_prefixes_are_checked() {
    let p = problems(&format!(
        r#"{UPLINK}[[network]]
name = "a"
bridge = "b0"
address = "10.1.0.1/24"
address6 = "fd00:1::1/64"
[[network]]
name = "b"
bridge = "b1"
address = "10.2.0.1/24"
address6 = "fd00:1::2/64"
[[network]]
name = "c"
bridge = "b2"
address = "10.3.0.1/24"
address6 = "fd00:3::1/80"
[[network]]
name = "d"
bridge = "b3"
address = "10.4.0.1/24"
address6 = "fe80::1/64"
[[network]]
name = "e"
bridge = "b4"
address = "10.5.0.1/24"
address6 = "fd00:5::/64"
[[network]]
name = "f"
bridge = "b5"
address = "10.6.0.1/24"
address6 = "fd00:6::1"
[[network]]
name = "g"
bridge = "b6"
kind = "route"
address = "10.7.0.1/24"
[network.nat]
ipv6 = true
"#
    ));
    has(&p, 12, "prefix fd00:1::/64 overlaps fd00:1::/64 of network \"a\"");
    has(&p, 17, "/80 cannot serve SLAAC");
    has(&p, 22, "is link-local");
    has(&p, 27, "subnet-router anycast address");
    has(
        &p,
        32,
        "`fd00:6::1` has no prefix length: write it like fd00:6::1/64",
    );
    has(&p, 38, "does no NAT");
    let p = problems(&format!(
        "{UPLINK}[[network]]\nname = \"h\"\nbridge = \"b7\"\naddress = \"10.8.0.1/24\"\n[network.nat]\nipv6 = true\n"
    ));
    has(&p, 8, "IPv6 NAT needs the network to have an IPv6 prefix");
}

#[test]
fn the_uplinks_ipv6_is_checked() {
    let p = problems(
        "[uplink]\ninterface = \"eth0\"\naddress = \"dhcp\"\naddress6 = \"2001:db8::2/64\"\ngateway6 = \"2001:db9::1\"\n",
    );
    has(
        &p,
        5,
        "neither link-local nor in the uplink's prefix 2001:db8::/64",
    );
    let p = problems("[uplink]\ninterface = \"eth0\"\ngateway6 = \"fe80::1\"\n");
    has(&p, 3, "a gateway6 needs address6");
    let p = problems("[uplink]\ninterface = \"eth0\"\naddress = \"host\"\naddress6 = \"2001:db8::2/64\"\n");
    has(&p, 4, "remove address6");
    let p = problems("[uplink]\ninterface = \"eth0\"\naddress6 = \"fe80::2/64\"\n");
    has(&p, 3, "is not a global IPv6 address");
    // A link-local gateway is how routers advertise themselves: fine.
    let ok = config::parse(
        "[uplink]\ninterface = \"eth0\"\naddress6 = \"2001:db8::2/64\"\ngateway6 = \"fe80::1\"\n\n[[network]]\nname = \"n\"\nbridge = \"b0\"\naddress = \"10.1.0.1/24\"\n",
        "t.toml",
    );
    assert!(ok.is_ok(), "{:?}", ok.err().map(|p| p.to_string()));
}

#[test]
fn delegated_prefixes_are_checked() {
    let p = problems(&format!(
        r#"{UPLINK}[[network]]
name = "a"
bridge = "b0"
address = "10.1.0.1/24"
address6 = "pd:1"
[[network]]
name = "b"
bridge = "b1"
address = "10.2.0.1/24"
address6 = "pd:1"
[[network]]
name = "c"
bridge = "b2"
address = "10.3.0.1/24"
address6 = "pd:x"
[[network]]
name = "d"
bridge = "b3"
address = "10.4.0.1/24"
address6 = "pd"
[network.dhcp6]
"#
    ));
    has(&p, 12, "subnet 1 of the delegated prefix is network \"a\"'s");
    has(&p, 17, "is not a delegated prefix");
    has(&p, 23, "a delegated prefix is served by SLAAC");
    let p = problems(
        "[uplink]\ninterface = \"eth0\"\naddress = \"host\"\n[[network]]\nname = \"a\"\nbridge = \"b0\"\naddress = \"10.1.0.1/24\"\naddress6 = \"pd\"\n",
    );
    has(&p, 8, "the host's own tools run the uplink's DHCPv6");
}

/// `check --hosts`: the files are several hosts' configs, and their copies
/// of a spanned network must agree (span.toml floods to static peers,
/// span-evpn.toml asks BGP EVPN: one network cannot do both).
#[test]
fn check_hosts_finds_copies_of_a_spanned_network_that_disagree() {
    let root = common::repo_root();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_netagent"))
            .arg("check")
            .args(args)
            .current_dir(&root)
            .output()
            .expect("run netagent check")
    };
    let apart = run(&["config/span.toml", "config/span-evpn.toml"]);
    assert!(
        apart.status.success(),
        "{}",
        String::from_utf8_lossy(&apart.stderr)
    );
    let together = run(&["--hosts", "config/span.toml", "config/span-evpn.toml"]);
    assert_eq!(together.status.code(), Some(2));
    let err = String::from_utf8_lossy(&together.stderr);
    assert!(
        err.contains("(VNI 122) has evpn true") && err.contains("every host's copy needs the same"),
        "{err}"
    );
}
