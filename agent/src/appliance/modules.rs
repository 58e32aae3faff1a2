//! Loading kernel modules the way udev coldplug does: every device's
//! `modalias` in /sys is matched against `modules.alias`, each match is
//! loaded after its dependencies from `modules.dep`, and the walk repeats
//! until nothing new loads (a new bus driver brings new devices). Devices
//! that appear later arrive as uevents with a MODALIAS and load the same way.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use tracing::{debug, info, warn};

use super::modalias::{is_nic, is_rng, matches, module_name, parse_aliases, parse_deps, serving_needs};

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

/// To read which partition systemd-boot loaded from (bootdisk.rs); only
/// on a machine booted by UEFI.
pub(crate) const EFI: &[&str] = &["efivarfs"];

/// What serving needs, hardware or not: loaded before the agent starts.
/// crc32c first: libcrc32c (under nf_tables) asks the crypto API for it by
/// name, a soft dependency modules.dep does not list.
pub(crate) const SERVING: &[&str] = &[
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
    // Port security's bridge table: without it Debian's kernel refuses
    // every rule that reads `meta iif` in the bridge family (ENOENT), and
    // there is no modprobe here to load it on demand.
    "nft_meta_bridge",
    "nf_reject_ipv4",
    "af_packet",
];

/// To read a config from a FAT partition: before the agent starts when the
/// machine booted from a disk, with the rest of the hardware otherwise.
pub(crate) const FAT: &[&str] = &["vfat", "nls_cp437", "nls_ascii", "nls_iso8859_1"];

/// The power button: with the rest of the hardware.
pub(crate) const BUTTONS: &[&str] = &["button", "evdev"];

/// Spanned networks' VXLAN devices: the kernel cannot load the module on
/// demand here (no modprobe in the initramfs). With the rest of the
/// hardware, not before serving: it cost every boot ~0.1 s under TCG
/// (`bench/run.sh boot`), and a span's device is made on the pass after the
/// hardware settles, as an `auto` uplink is chosen.
pub(crate) const OVERLAY: &[&str] = &["vxlan"];

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

    /// Load drivers for the devices in /sys/devices now that `pick`
    /// accepts (by modalias). The devices those drivers register in turn
    /// (virtio_pci's virtio devices) come as uevents to `plug`, which
    /// listens before this walk.
    pub(crate) fn coldplug(&mut self, pick: impl Fn(&str) -> bool) -> usize {
        let mut aliases = Vec::new();
        walk(Path::new("/sys/devices"), 0, &mut aliases);
        self.load_picked(aliases, pick)
    }

    /// The same for the devices on one bus: a short read of
    /// /sys/bus/BUS/devices/*/modalias instead of the whole tree.
    pub(crate) fn coldplug_bus(&mut self, bus: &str, pick: impl Fn(&str) -> bool) -> usize {
        let Ok(rd) = std::fs::read_dir(Path::new("/sys/bus").join(bus).join("devices")) else {
            return 0;
        };
        let aliases = rd
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("modalias")).ok())
            .map(|s| s.trim().to_string())
            .collect();
        self.load_picked(aliases, pick)
    }

    /// The drivers of the hardware RNGs there are (virtio_pci, then
    /// virtio_rng on the devices it makes; a board's RNG on PCI).
    pub(crate) fn coldplug_rng(&mut self) -> usize {
        ["pci", "virtio"]
            .iter()
            .map(|bus| self.coldplug_bus(bus, is_rng))
            .sum()
    }

    fn load_picked(&mut self, aliases: Vec<String>, pick: impl Fn(&str) -> bool) -> usize {
        let seen: HashSet<String> = aliases.into_iter().filter(|a| !a.is_empty() && pick(a)).collect();
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
const QUIET: Duration = Duration::from_millis(300);

/// The longest the rest of the hardware waits for the agent to say it
/// serves (it may never: a config it refuses).
const REST_WAIT: Duration = Duration::from_secs(5);

/// Which of `fds` can be read within `wait` (none on error).
fn readable(fds: &[BorrowedFd<'_>], wait: Duration) -> Vec<bool> {
    let mut polled: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)).collect();
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    let ok = poll(&mut polled, PollTimeout::from(ms)).is_ok_and(|n| n > 0);
    polled
        .iter()
        .map(|p| ok && p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
        .collect()
}

/// Whether the agent's notification says it is ready.
fn says_ready(sock: &UnixDatagram) -> bool {
    let mut buf = [0u8; 1024];
    match sock.recv(&mut buf) {
        Ok(n) => buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1"),
        Err(_) => false,
    }
}

/// Drivers for the hardware: listen for kernel uevents, load the drivers
/// of the NICs and hardware RNGs there are, then, once the agent serves (its
/// sd_notify READY=1 on `ready`; at once without one), the rest (disks,
/// USB, input, RNGs), so that on a single CPU they do not hold the first
/// networks back. Every device that appears (a driver's own devices, USB
/// NICs, hot-plugged virtio) loads as its uevent's MODALIAS says. Runs
/// beside the agent, which takes NICs as they come.
pub(crate) fn plug(mut loader: Loader, settled: &Path, mut ready: Option<UnixDatagram>) {
    let rest = |loader: &mut Loader, why: &str| {
        let n = loader.coldplug(|a| !serving_needs(a));
        for m in FAT.iter().chain(BUTTONS).chain(OVERLAY) {
            loader.load(m);
        }
        info!("coldplug: {n} modules loaded for the rest of the hardware{why}");
    };
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
    // NICs and RNGs are PCI or virtio devices (USB NICs come with their
    // host controller, later). PID 1 loaded the RNGs' drivers before the
    // serving modules (this finds them done); a NIC's driver may take most
    // of a second (an e1000 under TCG). Each bus driver makes its devices
    // before its load returns (virtio_pci's virtio devices): the virtio
    // bus is read after PCI's, not left to the uevents read later.
    let mut n = loader.coldplug_rng();
    for bus in ["pci", "virtio"] {
        n += loader.coldplug_bus(bus, is_nic);
    }
    info!("coldplug: {n} modules loaded for the NICs and RNGs");
    let mut rest_at = ready.as_ref().map(|_| Instant::now() + REST_WAIT);
    if rest_at.is_none() {
        rest(&mut loader, "");
    }
    let mut buf = vec![0u8; 8192];
    let mut marked = false;
    loop {
        let wait = rest_at.map_or(QUIET, |at| at.saturating_duration_since(Instant::now()));
        let uevents = sock.as_fd();
        let fds: Vec<BorrowedFd<'_>> = match (&ready, rest_at) {
            (Some(r), Some(_)) => vec![uevents, r.as_fd()],
            _ => vec![uevents],
        };
        let can = readable(&fds, wait);
        let is_ready = can.get(1).copied().unwrap_or(false) && ready.as_ref().is_some_and(says_ready);
        if rest_at.is_some_and(|at| is_ready || Instant::now() >= at) {
            rest_at = None;
            // Heard once is enough: the agent's later notices (reloads)
            // would only fill the socket.
            ready = None;
            rest(&mut loader, if is_ready { " (netagent serves)" } else { "" });
            continue;
        }
        if !can.first().copied().unwrap_or(false) {
            // Settled: no uevent for QUIET after every driver of the
            // devices there were (and the devices those drivers made)
            // loaded.
            if !marked && rest_at.is_none() {
                marked = true;
                if let Some(dir) = settled.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match std::fs::write(settled, b"") {
                    Ok(()) => info!("hardware settled: every NIC there is has its driver"),
                    Err(e) => warn!("{}: {e}", settled.display()),
                }
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
                // Until the agent serves, only what serving needs: the
                // rest (a disk the NICs' bus driver just made) is found
                // by the coldplug that follows READY.
                if let Ok(m) = std::str::from_utf8(m) {
                    if rest_at.is_none() || serving_needs(m) {
                        loader.load_modalias(m);
                    }
                }
            }
        }
    }
}
