//! What `adopt-libvirt` keeps so that `--undo` can give libvirt its
//! networks back, in the save directory (default
//! /var/lib/netagent/libvirt: it must outlive reboots):
//!
//! - `NAME.xml`: the network's own definition, as libvirt had it;
//! - `NAME.host-bridge.xml`: the definition libvirt keeps meanwhile;
//! - `adopted.json`: each adopted network's name, UUID, bridge, whether it
//!   ran and started at boot, and the config file that serves it;
//! - `netagent.toml.before-adopt`: the config file as it was, if there was one.
//!
//! Each is written whole (temporary file, rename) before anything changes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util::fs::{write_atomic, FileError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptNetwork {
    pub name: String,
    pub uuid: String,
    pub bridge: String,
    pub active: bool,
    pub autostart: bool,
    /// The netagent config the network was written into.
    pub config: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub networks: Vec<KeptNetwork>,
}

#[derive(Debug)]
pub struct SaveDir {
    pub dir: PathBuf,
}

impl SaveDir {
    fn manifest(&self) -> PathBuf {
        self.dir.join("adopted.json")
    }

    pub fn original(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.xml", file_safe(name)))
    }

    pub fn host_bridge(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.host-bridge.xml", file_safe(name)))
    }

    pub fn config_backup(&self) -> PathBuf {
        self.dir.join("netagent.toml.before-adopt")
    }

    /// The networks adopted so far (none if nothing was).
    pub fn read(&self) -> Result<Kept, String> {
        match std::fs::read(self.manifest()) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{}: unreadable: {e}", self.manifest().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kept::default()),
            Err(e) => Err(format!("{}: {e}", self.manifest().display())),
        }
    }

    pub fn write(&self, kept: &Kept) -> Result<(), FileError> {
        let body = serde_json::to_vec_pretty(kept).unwrap_or_default();
        write_atomic(&self.manifest(), &body)
    }

    pub fn save(&self, path: &Path, text: &str) -> Result<(), FileError> {
        write_atomic(path, text.as_bytes())
    }
}

/// A network's name as a file name: libvirt allows `/` nowhere in one,
/// but a hand-made manifest might.
fn file_safe(name: &str) -> String {
    name.replace(['/', '\0'], "_")
}

impl Kept {
    /// Add or replace a network's record.
    pub fn put(&mut self, n: KeptNetwork) {
        self.networks.retain(|k| k.name != n.name);
        self.networks.push(n);
        self.networks.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_round_trips_and_a_network_is_recorded_once() {
        let dir = std::env::temp_dir().join(format!("netagent-kept-{}", std::process::id()));
        let s = SaveDir { dir: dir.clone() };
        assert_eq!(s.read().unwrap(), Kept::default());
        let n = KeptNetwork {
            name: "default".into(),
            uuid: "u".into(),
            bridge: "virbr0".into(),
            active: true,
            autostart: true,
            config: "/etc/netagent/netagent.toml".into(),
        };
        let mut k = Kept::default();
        k.put(n.clone());
        k.put(KeptNetwork { active: false, ..n });
        assert_eq!(k.networks.len(), 1);
        s.write(&k).unwrap();
        assert_eq!(s.read().unwrap(), k);
        assert_eq!(s.original("a/b"), dir.join("a_b.xml"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
