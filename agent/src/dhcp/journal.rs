//! Leases on disk: one append-only file of JSON lines per network and
//! family (`<lease dir>/<network>.jsonl`, `<network>.v6.jsonl` for
//! DHCPv6). Each line records a lease bound or gone.
//!
//! - The server writes a batch of changes with one write and one fdatasync
//!   before it sends the replies of that batch, so an ACKed lease is on disk
//!   (group commit: no per-packet write, and nothing acknowledged is lost).
//! - A kill -9 can only cut the last line short, a full disk a line in the
//!   middle; replay skips each line that does not parse (bad UTF-8 or half
//!   a JSON object) and keeps every other. After a failed write the next one
//!   starts on a fresh line, so a torn line never swallows a good record.
//! - The file is 0600: it names every guest's MAC and hostname.
//! - When the file has grown well past the live leases it is rewritten
//!   whole into a temporary file and renamed over the old one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::Hash;
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::lease::{ClientId, Lease};
use super::reply::Change;
use crate::util::fs::write_atomic_with;

/// What a lease file holds: at most one lease per address, and one
/// address per holder (a client, or a client's identity association).
pub(crate) trait Entry: Serialize + DeserializeOwned + Clone {
    type Addr: Copy + Eq + Hash + Ord;
    type Holder: Clone + Eq + Hash;
    fn addr(&self) -> Self::Addr;
    fn holder(&self) -> Self::Holder;
}

impl Entry for Lease {
    type Addr = Ipv4Addr;
    type Holder = ClientId;
    fn addr(&self) -> Ipv4Addr {
        self.ip
    }
    fn holder(&self) -> ClientId {
        self.client.clone()
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Record<T> {
    Bound(T),
    Gone(T),
}

#[derive(Debug, thiserror::Error)]
#[error("lease file {path}: {action}: {err}")]
pub(crate) struct JournalError {
    pub path: String,
    pub action: &'static str,
    pub err: std::io::Error,
}

pub(crate) struct Journal<T: Entry = Lease> {
    path: PathBuf,
    /// Shared with the blocking task that writes a batch (`record_off_thread`).
    file: Arc<File>,
    lines: usize,
    /// The last write failed and may have left half a line.
    torn: bool,
    /// Whether a sync may wait on a disk: not on tmpfs (the appliance's
    /// /run), where it returns at once and a thread hop would be all cost.
    on_disk: bool,
    entries: PhantomData<T>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

pub(crate) fn path_for(dir: &Path, network: &str) -> PathBuf {
    dir.join(format!("{network}.jsonl"))
}

/// The DHCPv6 leases of a network.
pub(crate) fn path_for6(dir: &Path, network: &str) -> PathBuf {
    dir.join(format!("{network}.v6.jsonl"))
}

/// Replay a lease file: the leases it ends with (expired ones included;
/// the pool drops those) and how many lines it had.
pub(crate) fn replay<T: Entry>(path: &Path) -> (Vec<T>, usize) {
    let mut maps = Maps::default();
    let lines = replay_into(path, &mut maps);
    (maps.into_sorted(), lines)
}

/// Make `path` a lease file holding exactly `leases` (a network's leases
/// carried over from another server), atomically.
pub(crate) fn replace<T: Entry>(path: &Path, leases: &[T]) -> Result<(), crate::util::fs::FileError> {
    write_atomic_with(path, |w| {
        for l in leases {
            serde_json::to_writer(&mut *w, &Record::Bound(l)).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Where a replay puts what a lease file says, line by line: a lease
/// bound (it replaces its client's other address and its address's other
/// client), or gone (if it is still its holder's).
pub(crate) trait Sink<T> {
    fn bound(&mut self, lease: T);
    fn gone(&mut self, lease: &T);
}

/// Replay a lease file into `sink`; how many lines it had. A damaged line
/// is skipped with a warning.
pub(crate) fn replay_into<T: Entry>(path: &Path, sink: &mut impl Sink<T>) -> usize {
    let Ok(f) = File::open(path) else {
        return 0;
    };
    let mut lines = 0;
    for line in BufReader::new(f).split(b'\n') {
        // Bytes, not text: one line of bad UTF-8 must not end the replay.
        let Ok(line) = line else { break };
        lines += 1;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record<T>>(&line) {
            Ok(Record::Bound(l)) => sink.bound(l),
            Ok(Record::Gone(l)) => sink.gone(&l),
            Err(_) => tracing::warn!("lease file {}: line {lines} is damaged; skipped", path.display()),
        }
    }
    lines
}

/// The leases a file ends with, by address and by holder.
struct Maps<T: Entry> {
    by_ip: HashMap<T::Addr, T>,
    by_client: HashMap<T::Holder, T::Addr>,
}

impl<T: Entry> Default for Maps<T> {
    fn default() -> Self {
        Maps {
            by_ip: HashMap::new(),
            by_client: HashMap::new(),
        }
    }
}

impl<T: Entry> Sink<T> for Maps<T> {
    fn bound(&mut self, l: T) {
        let (by_ip, by_client) = (&mut self.by_ip, &mut self.by_client);
        // A client holds one address: a new one replaces its old one.
        if let Some(old) = by_client.insert(l.holder(), l.addr()) {
            if old != l.addr() {
                by_ip.remove(&old);
            }
        }
        let addr = l.addr();
        if let Some(prev) = by_ip.insert(addr, l) {
            if by_client.get(&prev.holder()) == Some(&prev.addr())
                && by_ip.get(&addr).is_some_and(|now| now.holder() != prev.holder())
            {
                by_client.remove(&prev.holder());
            }
        }
    }

    fn gone(&mut self, l: &T) {
        if self
            .by_ip
            .get(&l.addr())
            .is_some_and(|o| o.holder() == l.holder())
        {
            self.by_ip.remove(&l.addr());
            self.by_client.remove(&l.holder());
        }
    }
}

impl<T: Entry> Maps<T> {
    fn into_sorted(self) -> Vec<T> {
        // The client index first: the leases' table and their list are
        // both alive while one is turned into the other.
        drop(self.by_client);
        let mut v: Vec<T> = self.by_ip.into_values().collect();
        v.sort_by_key(|l| l.addr());
        v
    }
}

impl Journal<Lease> {
    /// `append_off_thread` for tests, which have no runtime of their own.
    #[cfg(test)]
    pub(crate) fn append(&mut self, changes: &[Change]) -> Result<(), JournalError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(self.append_off_thread(changes))
    }

    /// `append` off the servers' thread (see `record_off_thread`).
    pub(crate) async fn append_off_thread(&mut self, changes: &[Change]) -> Result<(), JournalError> {
        self.record_off_thread(changes.iter().map(as_record)).await
    }
}

fn as_record(c: &Change) -> (bool, &Lease) {
    match c {
        Change::Bound(l) => (true, l),
        Change::Gone(l) => (false, l),
    }
}

/// Whether `file` lies on a file system whose syncs may wait on a device.
fn on_disk(file: &File) -> bool {
    let Ok(st) = nix::sys::statfs::fstatfs(file) else {
        return true;
    };
    // ramfs: 0x858458f6 (linux/magic.h; the libc crate does not name it).
    !matches!(st.filesystem_type().0, libc::TMPFS_MAGIC | 0x8584_58f6)
}

/// Append `buf` and sync it: which step failed, and why.
fn write_synced(file: &File, buf: &[u8]) -> Result<(), (&'static str, std::io::Error)> {
    let mut f = file;
    f.write_all(buf).map_err(|e| ("append", e))?;
    file.sync_data().map_err(|e| ("sync", e))
}

impl<T: Entry> Journal<T> {
    /// Open a lease file, returning the leases it holds.
    pub(crate) fn open(path: PathBuf) -> Result<(Journal<T>, Vec<T>), JournalError> {
        let mut maps = Maps::default();
        let mut j = Journal::open_into(path, &mut maps)?;
        let leases = maps.into_sorted();
        // Start from a clean file: it also drops a torn last line.
        j.compact(leases.iter())?;
        Ok((j, leases))
    }

    /// Open a lease file, replaying it into `sink` (a pool takes the
    /// leases straight in, with no list of them on the side). The caller
    /// compacts the file from what it kept.
    pub(crate) fn open_into(path: PathBuf, sink: &mut impl Sink<T>) -> Result<Journal<T>, JournalError> {
        let err = |action, err| JournalError {
            path: path.display().to_string(),
            action,
            err,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err("create directory", e))?;
        }
        let lines = replay_into(&path, sink);
        let file = Arc::new(open_append(&path).map_err(|e| err("open", e))?);
        let on_disk = on_disk(&file);
        Ok(Journal {
            path,
            file,
            lines,
            torn: false,
            on_disk,
            entries: PhantomData,
        })
    }

    /// Record a batch of leases bound (true) or gone durably (one write,
    /// one fdatasync), on tokio's blocking pool when the file is on a disk. The server still waits for them (a
    /// lease is on disk before it is acknowledged), but the thread that
    /// serves every network's DNS and DHCP does not: a VM host's disk, busy
    /// with its guests' images, can take tens of milliseconds to sync (8 ms
    /// at the 99th percentile and 26 ms at worst here, beside one large
    /// copy). On tmpfs the hop would cost a sixth of the DHCP server's CPU
    /// at full load (measured) and save nothing.
    pub(crate) async fn record_off_thread<'a>(
        &mut self,
        changes: impl ExactSizeIterator<Item = (bool, &'a T)>,
    ) -> Result<(), JournalError>
    where
        T: 'a,
    {
        let Some((buf, count)) = self.encode(changes) else {
            return Ok(());
        };
        let written = if self.on_disk {
            let file = self.file.clone();
            tokio::task::spawn_blocking(move || write_synced(&file, &buf))
                .await
                .unwrap_or_else(|e| Err(("append", std::io::Error::other(e))))
        } else {
            write_synced(&self.file, &buf)
        };
        self.written(written, count)
    }

    /// A batch's lines (after a newline if the last write may have left
    /// half a line) and how many; None for no change.
    fn encode<'a>(&self, changes: impl ExactSizeIterator<Item = (bool, &'a T)>) -> Option<(Vec<u8>, usize)>
    where
        T: 'a,
    {
        let count = changes.len();
        if count == 0 {
            return None;
        }
        let mut buf = Vec::with_capacity(count * 160 + 1);
        if self.torn {
            buf.push(b'\n');
        }
        for (bound, l) in changes {
            let r = if bound { Record::Bound(l) } else { Record::Gone(l) };
            if serde_json::to_writer(&mut buf, &r).is_ok() {
                buf.push(b'\n');
            }
        }
        Some((buf, count))
    }

    /// Note how a batch's write went.
    fn written(
        &mut self,
        r: Result<(), (&'static str, std::io::Error)>,
        count: usize,
    ) -> Result<(), JournalError> {
        self.torn = r.is_err();
        r.map_err(|(action, err)| JournalError {
            path: self.path.display().to_string(),
            action,
            err,
        })?;
        self.lines += count;
        Ok(())
    }

    /// Whether the file has grown enough past `live` leases to rewrite it.
    pub(crate) fn wants_compaction(&self, live: usize) -> bool {
        self.lines > 2 * live + 1000
    }

    /// Rewrite the file as just the live leases, atomically.
    pub(crate) fn compact<'a>(&mut self, live: impl Iterator<Item = &'a T>) -> Result<(), JournalError>
    where
        T: 'a,
    {
        // Written as it is encoded: 50,000 leases are 7 MB of JSON that
        // need never be in memory at once.
        let mut n = 0;
        write_atomic_with(&self.path, |w| {
            for l in live {
                serde_json::to_writer(&mut *w, &Record::Bound(l)).map_err(std::io::Error::other)?;
                w.write_all(b"\n")?;
                n += 1;
            }
            Ok(())
        })
        .map_err(|e| JournalError {
            path: e.path,
            action: e.action,
            err: e.err,
        })?;
        self.file = Arc::new(open_append(&self.path).map_err(|err| JournalError {
            path: self.path.display().to_string(),
            action: "reopen",
            err,
        })?);
        self.lines = n;
        self.torn = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_on_tmpfs_is_not_on_disk_and_one_in_the_source_tree_is() {
        let shm = std::path::Path::new("/dev/shm").join(format!("netagent-journal-{}", std::process::id()));
        let f = File::create(&shm).expect("a file in /dev/shm");
        assert!(!on_disk(&f), "/dev/shm is tmpfs");
        let _ = std::fs::remove_file(&shm);
        let here = File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect("Cargo.toml");
        assert!(on_disk(&here));
    }
    use crate::dhcp::lease::ClientId;

    fn lease(n: u8, host: &str) -> Lease {
        let mac = crate::config::MacAddr([0x52, 0x54, 0, 0, 0, n]);
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, n),
            client: ClientId::from_mac(mac),
            mac,
            hostname: Some(host.into()),
            expires: crate::dhcp::lease::at(1000),
        }
    }

    #[test]
    fn replay_survives_a_torn_last_line_and_compacts() {
        let dir = std::env::temp_dir().join(format!("netagent-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, leases) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        assert!(leases.is_empty());
        j.append(&[Change::Bound(lease(1, "a")), Change::Bound(lease(2, "b"))])
            .unwrap();
        j.append(&[Change::Gone(lease(1, "a")), Change::Bound(lease(3, "c"))])
            .unwrap();
        // A crash in the middle of a write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(path_for(&dir, "n")).unwrap();
        f.write_all(b"{\"bound\":{\"ip\":\"10.0.0.9\",\"cli").unwrap();
        drop(f);
        drop(j);
        let (_j, leases) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        let ips: Vec<u8> = leases.iter().map(|l| l.ip.octets()[3]).collect();
        assert_eq!(ips, vec![2, 3]);
        let text = std::fs::read_to_string(path_for(&dir, "n")).unwrap();
        assert_eq!(text.lines().count(), 2, "compacted on open: {text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_line_anywhere_loses_only_itself_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("netagent-journal-mid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, _) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        j.append(&[Change::Bound(lease(1, "a"))]).unwrap();
        let mut f = OpenOptions::new().append(true).open(path_for(&dir, "n")).unwrap();
        // Bad UTF-8, half an object, and an empty line, in the middle.
        f.write_all(b"{\"bound\":\"caf\xe9\"}\n{\"bound\":{\"ip\":\"10.0.0.7\"\n\n")
            .unwrap();
        drop(f);
        j.append(&[Change::Bound(lease(2, "b")), Change::Bound(lease(3, "c"))])
            .unwrap();
        drop(j);
        let (_j, leases) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        let ips: Vec<u8> = leases.iter().map(|l| l.ip.octets()[3]).collect();
        assert_eq!(ips, vec![1, 2, 3], "every good line after the damage is kept");
        let mode = std::fs::metadata(path_for(&dir, "n"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn after_a_torn_write_the_next_record_starts_a_fresh_line() {
        let dir = std::env::temp_dir().join(format!("netagent-journal-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, _) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        // As a full disk leaves it: half a record, no newline, write failed.
        j.file.write_all(b"{\"bound\":{\"ip\"").unwrap();
        j.torn = true;
        j.append(&[Change::Bound(lease(4, "d"))]).unwrap();
        drop(j);
        let (_j, leases) = Journal::<Lease>::open(path_for(&dir, "n")).unwrap();
        assert_eq!(leases.len(), 1, "the record after the torn line survives");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
