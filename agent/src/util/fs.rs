//! Files that must never be seen half-written.

use std::io::Write;
use std::path::Path;

/// A file operation that failed, naming the file and the step.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {action}: {err}")]
pub struct FileError {
    pub path: String,
    pub action: &'static str,
    pub err: std::io::Error,
}

/// Write `body` to `path` so that readers see the old or the new content,
/// even across a crash or power loss: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, body: &[u8]) -> Result<(), FileError> {
    write_atomic_with(path, |w| w.write_all(body))
}

/// `write_atomic` for a body written in pieces by `fill` (through a
/// buffer): a large file never has to be whole in memory.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), FileError> {
    let err = |action, err| FileError {
        path: path.display().to_string(),
        action,
        err,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err("create directory", e))?;
    let tmp = path.with_extension("tmp");
    // 0600: lease files name every guest; state files are root's alone.
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("create", e))?
    };
    let mut w = std::io::BufWriter::with_capacity(64 << 10, &mut f);
    fill(&mut w).map_err(|e| err("write", e))?;
    w.flush().map_err(|e| err("write", e))?;
    drop(w);
    f.sync_all().map_err(|e| err("sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| err("rename", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
