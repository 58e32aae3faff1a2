//! Kernel settings under /proc/sys, written only when they differ.

use std::path::PathBuf;

use crate::plan::Sysctl;

#[derive(Debug, thiserror::Error)]
#[error("sysctl {path}: set to {value}: {err}")]
pub(crate) struct SysctlError {
    pub path: String,
    pub value: String,
    pub err: std::io::Error,
}

/// Apply each setting; returns how many changed. A setting for a link that
/// does not exist yet is skipped, and the next reconcile sets it.
pub(crate) fn apply(settings: &[Sysctl]) -> Result<usize, SysctlError> {
    let mut changed = 0;
    for s in settings {
        let path = PathBuf::from("/proc/sys").join(&s.path);
        let current = match std::fs::read_to_string(&path) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && s.path.contains("/conf/") => continue,
            Err(err) => {
                return Err(SysctlError {
                    path: s.path.clone(),
                    value: s.value.clone(),
                    err,
                })
            }
        };
        if current.trim() != s.value {
            std::fs::write(&path, &s.value).map_err(|err| SysctlError {
                path: s.path.clone(),
                value: s.value.clone(),
                err,
            })?;
            tracing::info!("sysctl {} = {}", s.path, s.value);
            changed += 1;
        }
    }
    Ok(changed)
}

/// With IPv6 forwarding on, the kernel ignores router advertisements on
/// every interface whose accept_ra is 1: a host that had its IPv6 default
/// route from its router would lose it when the route expires (libvirt
/// refuses to start then). accept_ra = 2 accepts them while forwarding:
/// set it wherever it was 1, and on `default` for interfaces to come (an
/// uplink NIC whose driver loads later), but never on `bridges` (netagent
/// is the router there). Returns how many changed.
pub(crate) fn keep_router_advertisements(bridges: &[&str]) -> Result<usize, SysctlError> {
    let dir = std::path::Path::new("/proc/sys/net/ipv6/conf");
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(0); // no IPv6 in this kernel
    };
    let now: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // A bridge's port does no IPv6 of its own: its bridge does.
            if std::path::Path::new("/sys/class/net")
                .join(&name)
                .join("brport")
                .exists()
            {
                return None;
            }
            let v = std::fs::read_to_string(e.path().join("accept_ra")).ok()?;
            Some((name, v.trim().to_string()))
        })
        .collect();
    let settings: Vec<Sysctl> = accept_ra_fixes(&now, bridges)
        .into_iter()
        .map(|name| Sysctl {
            path: format!("net/ipv6/conf/{name}/accept_ra"),
            value: "2".into(),
        })
        .collect();
    apply(&settings)
}

/// The interfaces (and `default`) whose accept_ra of 1 must become 2.
fn accept_ra_fixes(now: &[(String, String)], bridges: &[&str]) -> Vec<String> {
    now.iter()
        .filter(|(name, v)| {
            v == "1" && !matches!(name.as_str(), "all" | "lo") && !bridges.contains(&name.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_ra_becomes_2_where_it_was_1_but_not_on_our_bridges() {
        let now: Vec<(String, String)> = [
            ("all", "1"),
            ("default", "1"),
            ("lo", "1"),
            ("eth0", "1"),
            ("eth1", "0"),
            ("wlan0", "2"),
            ("virbr0", "1"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(accept_ra_fixes(&now, &["virbr0"]), vec!["default", "eth0"]);
    }
}
