//! Root, network namespaces: netagent beside other firewalls. A foreign
//! nftables table or iptables-nft (as Docker and ufw use) whose forward
//! chain drops: `status` names the table and chain and says what lets the
//! networks through, and it works; a `flush ruleset` (nftables.service's
//! reload) takes our table away: it is back at once and `status` says so.

mod common;

use std::time::Duration;

use common::topo::*;

const NAT: &str = r#"
[[network]]
name = "nat"
bridge = "virbr0"
address = "10.77.0.1/24"
stp = false
ports = ["vg*"]
[network.dhcp]
"#;

fn status(t: &Topo) -> String {
    let o = t.netagent(&["status"]);
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn reaches_outside(t: &Topo, g: usize) -> bool {
    tcp_connect(&t.g(g).ns.name, None, sa("10.99.0.1:8080"))
        .and_then(|mut c| echo(&mut c, b"hi"))
        .is_ok()
}

/// A NAT network whose guest (returned) reaches a server outside, with
/// the agent and the server to keep alive.
fn nat_guest_reaching_outside() -> (Topo, usize, TcpServer, Agent) {
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let srv = TcpServer::start(&t.out.name, sa("10.99.0.1:8080"));
    let cfg = t.write_config("nat.toml", &with_uplink(NAT));
    let agent = t.start(&cfg);
    assert!(reaches_outside(&t, g));
    (t, g, srv, agent)
}

/// Run each line of `fix` (a command `status` printed) in the appliance.
fn run_fix(t: &Topo, fix: &str) {
    for cmd in fix.split("; ") {
        let words: Vec<String> = shell_words(cmd);
        let (prog, args) = words.split_first().expect("a command");
        common::ok(t.app.cmd(prog).args(args));
    }
}

/// Split a command line the way a shell would, for the simple quoting
/// `status` uses ("virbr0", { tcp, udp }).
fn shell_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in cmd.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The fix `status` gives for the conflict naming `needle`.
fn fix_in(status: &str, needle: &str) -> String {
    let line = status
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("status does not name {needle}:\n{status}"));
    line.split("let it through: ")
        .nth(1)
        .expect("a fix")
        .trim()
        .to_string()
}

#[test]
fn netns_a_foreign_nft_table_that_drops_forwarding_is_named_with_its_fix() {
    need_root!("netns_a_foreign_nft_table_that_drops_forwarding_is_named_with_its_fix");
    let (t, g, _srv, _agent) = nat_guest_reaching_outside();
    assert!(!status(&t).contains("firewall: table"));

    common::ok(t.app.cmd("nft").args([
        "add table inet guard; add chain inet guard gate { type filter hook forward priority 10; policy drop; }",
    ]));
    assert!(!reaches_outside(&t, g), "the foreign chain drops");
    let s = status(&t);
    assert!(
        s.contains("firewall: table inet guard, chain gate (forward hook): policy drop")
            && s.contains("network nat (virbr0)"),
        "{s}"
    );
    run_fix(&t, &fix_in(&s, "table inet guard"));
    assert!(reaches_outside(&t, g), "the fix status gave lets the guest out");
    assert!(!status(&t).contains("firewall: table inet guard"));
}

#[test]
fn netns_iptables_forward_policy_drop_is_named_with_its_fix() {
    need_root!("netns_iptables_forward_policy_drop_is_named_with_its_fix");
    let (t, g, _srv, _agent) = nat_guest_reaching_outside();
    // What Docker does on start.
    common::ok(t.app.cmd("iptables").args(["-P", "FORWARD", "DROP"]));
    assert!(!reaches_outside(&t, g));
    let s = status(&t);
    assert!(
        s.contains("firewall: table ip filter, chain FORWARD (forward hook): policy drop"),
        "{s}"
    );
    let fix = fix_in(&s, "table ip filter");
    assert!(fix.contains("iptables -I FORWARD -i virbr0 -j ACCEPT"), "{fix}");
    run_fix(&t, &fix);
    assert!(reaches_outside(&t, g), "the fix status gave lets the guest out");
    assert!(!status(&t).contains("firewall: table ip filter"));
}

#[test]
fn netns_a_flushed_ruleset_brings_our_table_back_and_status_says_so() {
    need_root!("netns_a_flushed_ruleset_brings_our_table_back_and_status_says_so");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &with_uplink(NAT));
    let agent = t.start(&cfg);
    assert!(t.nft_table().is_some());
    common::ok(t.app.cmd("nft").args(["flush", "ruleset"]));
    let back = wait_for(Duration::from_secs(2), || t.nft_table().is_some());
    assert!(
        back.is_some(),
        "our table did not come back within 2 s:\n{}",
        agent.log()
    );
    let s = status(&t);
    assert!(
        s.contains("table inet netagent was removed by someone else"),
        "{s}"
    );
}

/// `netagent doctor` sends a probe of the network and shows which table's
/// rule met it: with iptables' FORWARD policy at DROP, our table accepts
/// and `ip filter FORWARD` drops; without it, the probe passes.
#[test]
fn netns_doctor_shows_which_table_drops_a_probe() {
    need_root!("netns_doctor_shows_which_table_drops_a_probe");
    let mut t = Topo::new();
    t.guest("vg1", "10.77.0.10/24", "10.77.0.1");
    let cfg = t.write_config("nat.toml", &with_uplink(NAT));
    let _agent = t.start(&cfg);
    let c = cfg.to_str().unwrap_or_default().to_string();
    let doctor = |t: &Topo| {
        let o = t.netagent(&["doctor", "nat", "-c", &c, "--to", "10.99.0.1", "--port", "8080"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let clean = doctor(&t);
    assert!(clean.contains("TCP SYN 10.77.0.254 -> 10.99.0.1:8080"), "{clean}");
    assert!(
        clean.contains("inet netagent (chain guest_output): accept by iifname \"virbr0\""),
        "{clean}"
    );
    assert!(clean.contains("passed every table"), "{clean}");
    common::ok(t.app.cmd("iptables").args(["-P", "FORWARD", "DROP"]));
    let blocked = doctor(&t);
    eprintln!("{blocked}");
    assert!(
        blocked.contains("ip filter (chain FORWARD): drop by policy")
            && blocked.contains("DROPPED by table ip filter, chain FORWARD (policy)"),
        "{blocked}"
    );
    // Nothing of the probe is left behind.
    assert!(!t.app.ip(&["-o", "link"]).contains("nadoc"));
    let tables = common::ok(t.app.cmd("nft").args(["list", "tables"]));
    assert!(!tables.contains("netagent_probe"), "{tables}");
}
