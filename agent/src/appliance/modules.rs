//! Loading kernel modules the way udev coldplug does: every device's
//! `modalias` in /sys is matched against `modules.alias`, each match is
//! loaded after its dependencies from `modules.dep`, and the walk repeats
//! until nothing new loads (a new bus driver brings new devices). Devices
//! that appear later arrive as uevents with a MODALIAS and load the same way.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use tracing::{debug, info, warn};

use super::modalias::{matches, module_name, parse_aliases, parse_deps};

pub(crate) struct Loader {
    dir: PathBuf,
    aliases: Vec<(String, String)>,
    deps: HashMap<String, (String, Vec<String>)>,
    done: HashSet<String>,
}

/// Why a module did not load.
#[derive(Debug)]
enum InsertError {
    /// The image leaves it out (its dependencies may list more than the
    /// appliance ships): not worth a warning.
    NotInImage,
    Failed(String),
}

/// What the appliance always needs, hardware or not. crc32c first: libcrc32c
/// (under nf_tables) asks the crypto API for it by name, a soft dependency
/// modules.dep does not list.
/// To read which partition systemd-boot loaded from (bootdisk.rs); only
/// on a machine booted by UEFI.
pub(crate) const EFI: &[&str] = &["efivarfs"];

pub(crate) const ALWAYS: &[&str] = &[
    "crc32c_generic",
    "bridge",
    "nf_tables",
    "nf_conntrack",
    "nf_nat",
    "nft_chain_nat",
    "nft_ct",
    "nft_masq",
    "nft_nat",
    "nft_reject",
    "nft_reject_inet",
    "nft_reject_ipv4",
    "nft_fib_inet",
    "nft_redir",
    "nf_reject_ipv4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "button",
    "evdev",
    "af_packet",
];

impl Loader {
    pub(crate) fn open() -> std::io::Result<Loader> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")?
            .trim()
            .to_string();
        let dir = PathBuf::from("/lib/modules").join(release);
        let aliases = parse_aliases(&std::fs::read_to_string(dir.join("modules.alias")).unwrap_or_default());
        let deps = parse_deps(&std::fs::read_to_string(dir.join("modules.dep")).unwrap_or_default());
        Ok(Loader {
            dir,
            aliases,
            deps,
            done: HashSet::new(),
        })
    }

    fn insert(&self, file: &str) -> Result<(), InsertError> {
        let path = self.dir.join(file);
        if !path.exists() {
            return Err(InsertError::NotInImage);
        }
        let f = File::open(&path).map_err(|e| InsertError::Failed(format!("{}: {e}", path.display())))?;
        match nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(InsertError::Failed(format!(
                "{}: {}",
                path.display(),
                std::io::Error::from(e)
            ))),
        }
    }

    /// Load `name` and what it depends on; true if it was loaded now.
    pub(crate) fn load(&mut self, name: &str) -> bool {
        let name = name.replace('-', "_");
        if self.done.contains(&name) {
            return false;
        }
        self.done.insert(name.clone());
        if Path::new("/sys/module").join(&name).exists() {
            return false; // built in, or already there
        }
        let Some((file, deps)) = self.deps.get(&name).cloned() else {
            debug!("module {name}: not in modules.dep");
            return false;
        };
        for d in deps {
            let dn = module_name(&d);
            if !self.done.contains(&dn) && !Path::new("/sys/module").join(&dn).exists() {
                self.done.insert(dn.clone());
                match self.insert(&d) {
                    Err(InsertError::NotInImage) => debug!("module {dn}: not in this image"),
                    Err(InsertError::Failed(e)) => warn!("module {dn}: {e}"),
                    Ok(()) => debug!("module {dn} loaded"),
                }
            }
        }
        match self.insert(&file) {
            Ok(()) => {
                info!("module {name} loaded");
                true
            }
            Err(InsertError::NotInImage) => {
                debug!("module {name}: not in this image");
                false
            }
            Err(InsertError::Failed(e)) => {
                warn!("module {name}: {e}");
                false
            }
        }
    }

    /// Load every module whose alias matches `modalias`.
    pub(crate) fn load_modalias(&mut self, modalias: &str) -> usize {
        let hits: Vec<String> = self
            .aliases
            .iter()
            .filter(|(p, _)| matches(p.as_bytes(), modalias.as_bytes()))
            .map(|(_, m)| m.clone())
            .collect();
        hits.iter().filter(|m| self.load(m)).count()
    }

    /// Load drivers for every device in /sys/devices now. The devices
    /// those drivers register in turn (virtio_pci's virtio devices) come
    /// as uevents to `plug`, which listens before this walk.
    pub(crate) fn coldplug(&mut self) -> usize {
        let mut aliases = Vec::new();
        walk(Path::new("/sys/devices"), 0, &mut aliases);
        let seen: HashSet<String> = aliases.into_iter().collect();
        seen.iter().map(|a| self.load_modalias(a)).sum()
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<String>) {
    if depth > 12 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() && !ft.is_symlink() {
            walk(&p, depth + 1, out);
        } else if e.file_name() == "modalias" {
            if let Ok(s) = std::fs::read_to_string(&p) {
                let s = s.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
        }
    }
}

/// How long without a uevent before the hardware counts as settled.
const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

/// Whether `sock` has something to read within `wait`.
fn readable(sock: &netlink_sys::Socket, wait: std::time::Duration) -> bool {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the socket outlives this call; the fd is only polled.
    let fd = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).is_ok_and(|n| n > 0)
}

/// Drivers for the hardware: listen for kernel uevents, then load modules
/// for the devices there are (`coldplug`), then for each device that
/// appears (a driver's own devices, USB NICs, hot-plugged virtio) as its
/// uevent's MODALIAS says. Runs beside the agent, which takes NICs as
/// they come.
pub(crate) fn plug(mut loader: Loader, settled: &Path) {
    let mut sock = match netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_KOBJECT_UEVENT) {
        Ok(s) => s,
        Err(e) => {
            warn!("uevents: {e}");
            return;
        }
    };
    // Group 1: the kernel's own uevents.
    if let Err(e) = sock.bind(&netlink_sys::SocketAddr::new(0, 1)) {
        warn!("uevents: bind: {e}");
        return;
    }
    let n = loader.coldplug();
    info!("coldplug: {n} modules loaded for the hardware");
    let mut buf = vec![0u8; 8192];
    let mut marked = false;
    loop {
        // Settled: no uevent for QUIET after the drivers of the devices
        // there were (and the devices those drivers made) loaded.
        if !marked && !readable(&sock, QUIET) {
            marked = true;
            if let Some(dir) = settled.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::write(settled, b"") {
                Ok(()) => info!("hardware settled: every NIC there is has its driver"),
                Err(e) => warn!("{}: {e}", settled.display()),
            }
            continue;
        }
        let n = match sock.recv(&mut &mut buf[..], 0) {
            Ok(n) if n > 0 => n,
            _ => continue,
        };
        let msg = &buf[..n];
        let add = msg.starts_with(b"add@");
        for field in msg.split(|&b| b == 0) {
            if let (true, Some(m)) = (add, field.strip_prefix(b"MODALIAS=")) {
                if let Ok(m) = std::str::from_utf8(m) {
                    loader.load_modalias(m);
                }
            }
        }
    }
}
