//! Root, network namespaces: the kernel's own nft parser accepts the ruleset
//! of every example config, both as the JSON netagent sends and as the text
//! `netagent plan` prints. `nft -c` changes nothing, and it runs in a
//! throwaway namespace anyway.

mod common;

use common::Netns;
use netagent::config;
use netagent::firewall::render::render;
use netagent::plan::plan;

#[test]
fn netns_nft_accepts_every_example_ruleset() {
    need_root!("netns_nft_accepts_every_example_ruleset");
    let ns = Netns::new("nfc");
    let mut checked = 0;
    for (name, path) in common::example_configs() {
        let (cfg, _) = config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let ruleset = netagent::firewall::ruleset(&plan(&cfg).bridges);
        if ruleset.objects.is_empty() {
            continue;
        }
        let json = serde_json::to_vec(&ruleset).expect("serialize");
        let out = ns.exec_stdin("nft", &["-c", "-j", "-f", "-"], &json);
        assert!(
            out.status.success(),
            "{name}: nft rejects the JSON ruleset: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = render(&ruleset);
        let out = ns.exec_stdin("nft", &["-c", "-f", "-"], text.as_bytes());
        assert!(
            out.status.success(),
            "{name}: nft rejects the printed ruleset: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} example configs have rules");
}

#[test]
fn netns_nft_rejects_a_broken_ruleset() {
    need_root!("netns_nft_rejects_a_broken_ruleset");
    // The check above means something only if nft -c can fail here.
    let ns = Netns::new("nfb");
    let out = ns.exec_stdin(
        "nft",
        &["-c", "-f", "-"],
        b"table inet netagent { chain c { iifname \"x\" frobnicate } }",
    );
    assert!(!out.status.success());
}

/// The table is replaced in one transaction on every reload; a packet the
/// old and the new rules both let through must pass while it happens. A
/// guest floods the bridge's address with pings while the default
/// network's ruleset is replaced 150 times: nothing may be lost. (Rules
/// that compared with a set of prefixes dropped ~1 packet in 1,000 here:
/// the set is built at the end of the commit, after its rules are live.)
#[test]
fn netns_a_replaced_table_drops_nothing_it_lets_through() {
    need_root!("netns_a_replaced_table_drops_nothing_it_lets_through");
    let app = Netns::new("nfr");
    let guest = Netns::new("nfg");
    let path = common::repo_root().join("config/default.toml");
    let (cfg, _) = config::load(Some(&path)).expect("default.toml");
    let p = plan(&cfg);
    let br = &p.bridges[0].name;
    app.ip(&["link", "add", br, "type", "bridge"]);
    app.ip(&["addr", "add", "192.168.122.1/24", "dev", br]);
    app.ip(&["link", "set", br, "up"]);
    let port = common::unique("nfp");
    common::veth(&port, &app, "eth0", &guest);
    app.ip(&["link", "set", &port, "master", br, "up"]);
    guest.ip(&["addr", "add", "192.168.122.10/24", "dev", "eth0"]);
    guest.ip(&["link", "set", "eth0", "up"]);
    let text = format!(
        "table inet netagent\ndelete table inet netagent\n{}",
        render(&netagent::firewall::ruleset(&p.bridges))
    );
    let load = || {
        let out = app.exec_stdin("nft", &["-f", "-"], text.as_bytes());
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    load();
    let ping = guest
        .cmd("ping")
        .args(["-f", "-q", "-w", "3", "192.168.122.1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ping");
    for _ in 0..150 {
        load();
    }
    let out = ping.wait_with_output().expect("ping");
    let s = String::from_utf8_lossy(&out.stdout);
    let summary = s.lines().find(|l| l.contains("transmitted")).unwrap_or_default();
    let num = |word: &str| -> u64 {
        summary
            .split(',')
            .find(|x| x.contains(word))
            .and_then(|x| x.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` in ping's summary: {s}"))
    };
    let (sent, got) = (num("transmitted"), num("received"));
    assert!(sent > 1000, "the flood sent only {sent}: {s}");
    // The last echo may still be on its way when -w ends the run.
    assert!(
        sent - got <= 1,
        "{} of {sent} pings lost while the table was replaced: {s}",
        sent - got
    );
}
