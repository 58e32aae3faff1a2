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
