//! `netagent plan` output for every example config, compared with the golden
//! files in agent/tests/golden. After an intended change, refresh them with
//! `make golden` (UPDATE_GOLDEN=1 cargo test --test golden) and review the diff.

mod common;

use netagent::config;
use netagent::plan::plan;

#[test]
fn plans_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = common::repo_root().join("agent/tests/golden");
    let mut stale = Vec::new();
    for (name, path) in common::example_configs() {
        let (cfg, _) = config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let got = plan(&cfg).to_string();
        let file = dir.join(format!("{name}.plan"));
        if update {
            std::fs::write(&file, &got).expect("write golden file");
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        if want != got {
            stale.push(format!("--- {}\n{got}", file.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "plans differ from their golden files; if the change is intended run `make golden`:\n{}",
        stale.join("\n")
    );
}
