//! What netagent keeps between runs in its state directory (default
//! /run/netagent, a tmpfs: it describes the running kernel and must not
//! outlive a reboot).
//!
//! - `bridges.json`: the bridges netagent created, so that a bridge dropped
//!   from the config is deleted even after a restart, and a bridge someone
//!   else made is never deleted.
//! - `rules.digest`: the digest of the ruleset last loaded into our nft
//!   table, so that a restart with a config whose rules differ (even in
//!   content only) replaces the table, and one with the same rules leaves it.
//!
//! Writes go to a temporary file that is renamed over the old one, so a crash
//! at any moment leaves either the old or the new file, never half of one.

use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    pub dir: PathBuf,
}

/// A state file that could not be read or written.
pub(crate) type StateError = crate::util::fs::FileError;

impl StateDir {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> StateDir {
        StateDir { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn owned_bridges(&self) -> BTreeSet<String> {
        std::fs::read(self.path("bridges.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn set_owned_bridges(&self, set: &BTreeSet<String>) -> Result<(), StateError> {
        let body = serde_json::to_vec_pretty(set).unwrap_or_default();
        crate::util::fs::write_atomic(&self.path("bridges.json"), &body)
    }

    pub(crate) fn rules_digest(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.path("rules.digest")).ok()?;
        u64::from_str_radix(text.trim(), 16).ok()
    }

    pub(crate) fn set_rules_digest(&self, digest: u64) -> Result<(), StateError> {
        crate::util::fs::write_atomic(&self.path("rules.digest"), format!("{digest:016x}\n").as_bytes())
    }

    pub(crate) fn clear(&self) -> Result<(), StateError> {
        for name in ["bridges.json", "rules.digest"] {
            let p = self.path(name);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(StateError {
                        path: p.display().to_string(),
                        action: "remove",
                        err,
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_bridges_round_trip() {
        let dir = std::env::temp_dir().join(format!("netagent-state-{}", std::process::id()));
        let s = StateDir::new(&dir);
        assert!(s.owned_bridges().is_empty());
        let set: BTreeSet<String> = ["virbr0".to_string(), "virbr1".to_string()].into();
        s.set_owned_bridges(&set).unwrap();
        assert_eq!(s.owned_bridges(), set);
        assert_eq!(s.rules_digest(), None);
        s.set_rules_digest(0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(s.rules_digest(), Some(0x0123_4567_89ab_cdef));
        s.clear().unwrap();
        assert!(s.owned_bridges().is_empty());
        assert_eq!(s.rules_digest(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
