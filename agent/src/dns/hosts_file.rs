//! The host's /etc/hosts, served to guests in host mode as libvirt's
//! dnsmasq serves it. Read again when it changes (its modification time or
//! size), checked on the daemon's once-a-second service tick: a stat, no
//! read, when nothing changed.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// (address, names) of each IPv4 line. Loopback lines are left out: the
/// host's `127.0.1.1 myhost` would send a guest to itself.
pub fn parse(text: &str) -> Vec<(Ipv4Addr, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default();
            let mut w = l.split_whitespace();
            let ip: Ipv4Addr = w.next()?.parse().ok()?;
            if ip.is_loopback() || ip.is_unspecified() {
                return None;
            }
            let names: Vec<String> = w.filter(|n| valid_name(n)).map(str::to_ascii_lowercase).collect();
            (!names.is_empty()).then_some((ip, names))
        })
        .collect()
}

fn valid_name(n: &str) -> bool {
    n.len() <= 253
        && n.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Watches one hosts file.
pub(crate) struct HostsFile {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl HostsFile {
    pub(crate) fn new(path: impl Into<PathBuf>) -> HostsFile {
        HostsFile {
            path: path.into(),
            seen: None,
        }
    }

    /// The entries when the file changed since the last look (or on the
    /// first look); None when it did not. A file that is gone has none.
    pub(crate) fn changed(&mut self) -> Option<Vec<(Ipv4Addr, Vec<String>)>> {
        let now = stamp(&self.path);
        if now == self.seen && self.seen.is_some() {
            return None;
        }
        let first = self.seen.is_none();
        self.seen = now;
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(parse(&text)),
            // Gone (or never there): no entries, said once.
            Err(_) if first => None,
            Err(_) => Some(Vec::new()),
        }
    }
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_lines_without_loopback_or_comments() {
        let got = parse(
            "127.0.0.1 localhost\n127.0.1.1 myhost\n::1 localhost ip6-localhost\n\
             # a comment\n10.0.0.5  nas  NAS.lan.example # the box\n192.0.2.9 bad!name ok\nnot an entry\n",
        );
        assert_eq!(
            got,
            vec![
                (
                    "10.0.0.5".parse().unwrap(),
                    vec!["nas".to_string(), "nas.lan.example".to_string()]
                ),
                ("192.0.2.9".parse().unwrap(), vec!["ok".to_string()]),
            ]
        );
    }

    #[test]
    fn a_change_is_seen_once() {
        let dir = std::env::temp_dir().join(format!("netagent-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hosts");
        std::fs::write(&p, "10.0.0.5 nas\n").unwrap();
        let mut h = HostsFile::new(&p);
        assert_eq!(h.changed().map(|e| e.len()), Some(1));
        assert_eq!(h.changed(), None);
        std::fs::write(&p, "10.0.0.5 nas\n10.0.0.6 printer\n").unwrap();
        assert_eq!(h.changed().map(|e| e.len()), Some(2));
        std::fs::remove_file(&p).unwrap();
        assert_eq!(h.changed(), Some(vec![]));
        let _ = std::fs::remove_dir_all(dir);
    }
}
