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
