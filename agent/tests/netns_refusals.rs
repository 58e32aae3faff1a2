//! Root, network namespaces: what netagent refuses to touch on a real
//! kernel. A bridge name that is a NIC, a bridge someone else made (unless
//! the config adopts it), and an uplink whose address lands inside a guest
//! network: each is refused or reported loudly, and the other networks work.

mod common;

use std::time::Duration;

use common::topo::*;

const T: Duration = Duration::from_secs(5);

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn status(t: &Topo) -> String {
    text(&t.netagent(&["status"]))
}

fn addrs(t: &Topo, dev: &str) -> String {
    t.app.ip(&["-o", "-4", "addr", "show", "dev", dev])
}

fn mac(t: &Topo, dev: &str) -> String {
    t.app
        .cmd("cat")
        .arg(format!("/sys/class/net/{dev}/address"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Two isolated networks: `first` on `bridge`, a healthy one on virbr9.
fn two_networks(bridge: &str, extra: &str) -> String {
    with_uplink(&format!(
        "[[network]]\nname = \"first\"\nkind = \"isolated\"\nbridge = \"{bridge}\"\naddress = \"10.77.0.1/24\"\nports = [\"vg1\"]\n{extra}\n\
         [[network]]\nname = \"healthy\"\nkind = \"isolated\"\nbridge = \"virbr9\"\naddress = \"10.78.0.1/24\"\nports = [\"vg2\"]\n"
    ))
}

#[test]
fn netns_a_bridge_name_that_is_a_nic_is_refused_and_left_alone() {
    need_root!("netns_a_bridge_name_that_is_a_nic_is_refused_and_left_alone");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "");
    let healthy = t.guest("vg2", "10.78.0.10/24", "");
    // `eth5`: a NIC of the host (a veth here) the user typed as a bridge name.
    let peer = common::unique("nx");
    t.app
        .ip(&["link", "add", "eth5", "type", "veth", "peer", "name", &peer]);
    t.app.ip(&["addr", "add", "192.0.2.5/24", "dev", "eth5"]);
    let cfg = t.write_config("n.toml", &two_networks("eth5", ""));

    // `check` on this host names the line and what to do.
    let c = cfg.to_str().unwrap_or_default().to_string();
    let o = t.netagent(&["check", &c]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(":9:10") && text(&o).contains("eth5 is an existing veth, not a bridge"),
        "{}",
        text(&o)
    );

    let _agent = t.start(&cfg);
    let said = wait_for(T, || {
        status(&t).contains("bridge eth5: refused: it is a veth, not a bridge")
    });
    assert!(said.is_some(), "{}", status(&t));
    let a = addrs(&t, "eth5");
    assert!(
        a.contains("192.0.2.5/24") && !a.contains("10.77.0.1"),
        "eth5 was touched: {a}"
    );
    assert_eq!(t.master_of("vg1"), None, "a port was enslaved to a NIC");
    // The other network is up and serves its guest.
    assert!(wait_for(T, || ping(&t.g(healthy).ns, "10.78.0.1")).is_some());
}

#[test]
fn netns_someone_elses_bridge_is_adopted_only_when_the_config_says_so() {
    need_root!("netns_someone_elses_bridge_is_adopted_only_when_the_config_says_so");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "");
    let healthy = t.guest("vg2", "10.78.0.10/24", "");
    // As docker0 is on a container host: a bridge with its own address and MAC.
    t.app.ip(&[
        "link",
        "add",
        "docker0",
        "address",
        "02:42:ac:11:00:01",
        "type",
        "bridge",
    ]);
    t.app.ip(&["addr", "add", "172.17.0.1/16", "dev", "docker0"]);
    t.app.ip(&["link", "set", "docker0", "up"]);
    let cfg = t.write_config("n.toml", &two_networks("docker0", ""));
    let _agent = t.start(&cfg);
    let said = wait_for(T, || {
        status(&t).contains("bridge docker0: refused: it exists and netagent did not create it")
    });
    assert!(said.is_some(), "{}", status(&t));
    assert!(wait_for(T, || ping(&t.g(healthy).ns, "10.78.0.1")).is_some());
    let a = addrs(&t, "docker0");
    assert!(
        a.contains("172.17.0.1/16") && !a.contains("10.77.0.1"),
        "docker0 was touched: {a}"
    );
    assert_eq!(mac(&t, "docker0"), "02:42:ac:11:00:01");
    assert_eq!(t.master_of("vg1"), None);

    // Told to adopt it, netagent manages it like its own.
    std::fs::write(&cfg, two_networks("docker0", "adopt = true")).expect("write config");
    let o = t.netagent(&["reload"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("adopt"),
        "the reload does not name the change: {}",
        text(&o)
    );
    let took = wait_for(T, || {
        t.master_of("vg1").as_deref() == Some("docker0") && ping(&t.g(g).ns, "10.77.0.1")
    });
    assert!(took.is_some(), "{}\n{}", status(&t), addrs(&t, "docker0"));
    assert!(!addrs(&t, "docker0").contains("172.17.0.1"));
    assert!(
        wait_for(T, || status(&t).contains("Errors:         none")).is_some(),
        "{}",
        status(&t)
    );
}

#[test]
fn netns_an_uplink_address_inside_a_guest_network_is_a_loud_error() {
    need_root!("netns_an_uplink_address_inside_a_guest_network_is_a_loud_error");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.78.0.10/24", "");
    // The host's own tools gave the uplink an address inside the guest
    // subnet, as when the appliance boots inside libvirt's 192.168.122.0/24.
    t.app.ip(&["addr", "add", "10.77.0.50/24", "dev", UPLINK]);
    t.app.ip(&["link", "set", UPLINK, "up"]);
    let cfg = t.write_config(
        "n.toml",
        &format!(
            "[uplink]\ninterface = \"{UPLINK}\"\naddress = \"host\"\n\n\
             [[network]]\nname = \"guests\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nports = [\"vg9\"]\n\n\
             [[network]]\nname = \"other\"\nkind = \"isolated\"\nbridge = \"virbr9\"\naddress = \"10.78.0.1/24\"\nports = [\"vg1\"]\n"
        ),
    );
    let _agent = t.start(&cfg);
    let said = wait_for(T, || {
        status(&t).contains("uplink up0: address 10.77.0.50/24 overlaps network \"guests\" (10.77.0.0/24)")
    });
    assert!(said.is_some(), "{}", status(&t));
    assert!(wait_for(T, || ping(&t.g(g).ns, "10.78.0.1")).is_some());
    // Fixed by the host's tools: the error goes away.
    t.app.ip(&["addr", "del", "10.77.0.50/24", "dev", UPLINK]);
    let gone = wait_for(T, || status(&t).contains("Errors:         none"));
    assert!(gone.is_some(), "{}", status(&t));
}
