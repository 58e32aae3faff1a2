//! PID 1's main line. Single-threaded until the modules serving needs are loaded and the
//! signal mask is set, so every thread it starts later inherits the mask and
//! signals arrive only on the signalfd the main loop reads.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use tracing::{error, info, warn};

use super::console::Console;
use super::modules::{self, Loader};
use super::mounts;
use super::power::{self, Halt};
use super::supervise::{Exits, Next};
use crate::config;

fn logging(console: &Console) {
    let c = console.clone();
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || c.clone())
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// `ip link set lo up`, over rtnetlink (lo is interface 1 in every network
/// namespace).
fn loopback_up() -> std::io::Result<()> {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    use rtnetlink::packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
    use rtnetlink::packet_route::link::{LinkFlags, LinkMessage};
    use rtnetlink::packet_route::RouteNetlinkMessage;

    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    let mut link = LinkMessage::default();
    link.header.index = 1;
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::SetLink(link)),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf, 0)?;
    let mut answer = vec![0u8; 4096];
    let n = sock.recv(&mut &mut answer[..], 0)?;
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..n]) {
        Ok(m) => match m.payload {
            NetlinkPayload::Error(e) => match e.code {
                Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                None => Ok(()),
            },
            _ => Ok(()),
        },
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        )),
    }
}

/// Whether the CPU has RDRAND, which Debian's kernel trusts to seed its
/// RNG at boot (CONFIG_RANDOM_TRUST_CPU).
fn cpu_seeds_rng() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "rdrand"))
    })
}

/// Where `netagent run` reads its config when the appliance starts on the
/// embedded default while a disk may still appear: the disk's file is
/// copied here and the agent told to reload (lossless: bridges, rules and
/// leases stay).
const RUN_CONFIG: &str = "/run/netagent.toml";

/// Made by the module loader once the hardware's drivers have loaded; the
/// agent chooses an `auto` uplink only then.
const HARDWARE_SETTLED: &str = "/run/netagent/hardware-settled";

/// How long a disk may take to appear (USB sticks take seconds) while
/// nothing serves yet.
const DISK_WAIT: Duration = Duration::from_secs(10);

/// How long to look for the disk's config while a network already serves:
/// the disks' drivers load only after the agent says it serves.
const LATE_DISK_WAIT: Duration = Duration::from_secs(30);

/// A copy of the boot partition's netagent.toml that systemd-boot hands
/// over in memory: a second initrd on the partition (netagent-config.img,
/// written by image/build.sh and image/set-config.sh) that the kernel
/// unpacks beside ours. With it, serving needs no disk driver at all.
pub(crate) const BOOT_COPY: &str = "/etc/netagent/boot.toml";

/// Which config serves before any disk is read.
#[derive(Clone, Copy)]
enum Early {
    BootCopy,
    Default,
}

impl Early {
    fn name(self) -> &'static str {
        match self {
            Early::BootCopy => "the boot copy of netagent.toml",
            Early::Default => "the embedded default network",
        }
    }

    /// What keeps running when the disk's config fails the check.
    fn instead(self) -> &'static str {
        match self {
            Early::BootCopy => "THE BOOT COPY (netagent-config.img) STAYS APPLIED",
            Early::Default => DEFAULT_INSTEAD,
        }
    }

    /// Said after applying a disk's config that differs from this one.
    fn after_applying(self) -> &'static str {
        match self {
            Early::BootCopy => "; image/set-config.sh writes both, so the next boot serves it at once",
            Early::Default => "",
        }
    }
}

/// What to serve before any disk is read: the boot copy (booted from a
/// disk that has one) or the embedded default (booted straight from a
/// kernel, where there may be no disk). None: booted from an older image
/// without a copy, whose config is read from the disk first.
fn early_config(console: &Console, booted_from_disk: bool) -> Option<(String, Early)> {
    let default = || config::write::write(&config::default_config());
    if !booted_from_disk {
        return Some((default(), Early::Default));
    }
    let Ok(text) = std::fs::read_to_string(BOOT_COPY) else {
        info!(
            "no boot copy of netagent.toml in memory ({BOOT_COPY}: an image from before netagent-config.img, or a loader entry without it): the boot partition is read before serving"
        );
        return None;
    };
    match checked(console, PathBuf::from(BOOT_COPY), DEFAULT_INSTEAD) {
        Some(_) => Some((text, Early::BootCopy)),
        None => Some((default(), Early::Default)),
    }
}

/// The config to run. With an early config (see `early_config`), it is
/// served at once from RUN_CONFIG while a thread looks for the disk's
/// netagent.toml: when that differs (edited on another machine without
/// set-config.sh, or the direct boot's disk) and passes the check, it is
/// written to RUN_CONFIG and `late` told to reload. Without one, booted by
/// systemd-boot from an image with no boot copy, the partition it loaded
/// from is waited for and read first.
fn choose_config(
    console: &Console,
    early: Option<(String, Early)>,
    late: mpsc::Sender<()>,
) -> Option<PathBuf> {
    let Some((text, early)) = early else {
        return match mounts::find_boot_config(DISK_WAIT) {
            Some(path) => checked(console, path, DEFAULT_INSTEAD),
            None => {
                console.line(
                    "netagent: no netagent.toml on the boot partition: running the embedded default network",
                );
                None
            }
        };
    };
    if let Err(e) = crate::util::fs::write_atomic(std::path::Path::new(RUN_CONFIG), text.as_bytes()) {
        warn!("{e}; a disk's config that appears later is not applied");
        return None;
    }
    let what = early.name();
    info!("serving {what}; the boot partition's netagent.toml is read once its disk appears");
    let console = console.clone();
    std::thread::spawn(move || {
        let Some(path) = mounts::find_boot_config(LATE_DISK_WAIT) else {
            console.line(&format!(
                "netagent: no netagent.toml on a FAT partition: running {what}"
            ));
            return;
        };
        let on_disk = std::fs::read(&path).unwrap_or_default();
        if on_disk == text.as_bytes() {
            info!("{}: the same as the config served", path.display());
            return;
        }
        let Some(ok) = checked(&console, path, early.instead()) else {
            return;
        };
        match crate::util::fs::write_atomic(std::path::Path::new(RUN_CONFIG), &on_disk) {
            Ok(()) => {
                console.line(&format!(
                    "netagent: {} differs from {what}: applying it (reload){}",
                    ok.display(),
                    early.after_applying()
                ));
                let _ = late.send(());
            }
            Err(e) => warn!("{}: {e}", ok.display()),
        }
    });
    Some(PathBuf::from(RUN_CONFIG))
}

/// What runs when a config fails the check, in most cases.
const DEFAULT_INSTEAD: &str = "RUNNING THE EMBEDDED DEFAULT NETWORK INSTEAD (virbr0, 192.168.122.1/24, NAT)";

/// `path` if it passes the check; else None (`instead` runs), said
/// loudly with every problem.
fn checked(console: &Console, path: PathBuf, instead: &str) -> Option<PathBuf> {
    match config::load(Some(&path)) {
        Ok(_) => {
            info!("config {} accepted", path.display());
            Some(path)
        }
        Err(e) => {
            let bar = "!".repeat(72);
            console.line(&bar);
            console.line(&format!(
                "netagent: {} FAILS THE CHECK; it is NOT applied:",
                path.display()
            ));
            console.line(&e.to_string());
            console.line(&format!("netagent: {instead}"));
            console.line(&bar);
            None
        }
    }
}

/// The abstract socket where the agent says it serves (sd_notify), so
/// the rest of the hardware's drivers load after the first networks.
const NOTIFY: &str = "netagent-init";

/// A socket for the agent's READY=1; None (and a warning) if it cannot be
/// made, and the hardware then loads at once.
fn notify_socket() -> Option<std::os::unix::net::UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    let bound = std::os::unix::net::SocketAddr::from_abstract_name(NOTIFY.as_bytes())
        .and_then(|a| std::os::unix::net::UnixDatagram::bind_addr(&a));
    match bound {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("@{NOTIFY}: {e}; the hardware's drivers load beside the agent's start");
            None
        }
    }
}

fn spawn(console: &Console, cfg: &Option<PathBuf>) -> std::io::Result<Child> {
    let mut c = Command::new("/proc/self/exe");
    // The kernel starts init without PATH; nft lives in /usr/sbin.
    c.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    c.env("NOTIFY_SOCKET", format!("@{NOTIFY}"));
    // Its console is the box's owner's: the status page's password may
    // be shown there (never in a host's log).
    c.env(crate::status::ON_APPLIANCE, "1");
    c.arg("run").args([
        "--state-dir",
        "/run/netagent",
        "--lease-dir",
        "/run/netagent/leases",
        "--hardware-settled",
        HARDWARE_SETTLED,
    ]);
    if let Some(p) = cfg {
        c.arg("-c").arg(p);
    }
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(o) = child.stdout.take() {
        console.tee(o);
    }
    if let Some(e) = child.stderr.take() {
        console.tee(e);
    }
    Ok(child)
}

/// Block the signals PID 1 answers in this thread (threads started later
/// inherit the mask) and collect them on a signalfd instead.
fn block_signals() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGINT,
    ] {
        set.add(s);
    }
    set.thread_block()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

fn shutdown(console: &Console, child: &mut Option<Child>, how: Halt, why: &str) -> ! {
    console.line(&format!(
        "netagent: {why}: {} ...",
        if how == Halt::PowerOff {
            "powering off"
        } else {
            "rebooting"
        }
    ));
    if let Some(c) = child.as_mut() {
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        for _ in 0..50 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    mounts::umount(mounts::BOOT);
    power::halt(how)
}

/// Run as PID 1. Never returns.
pub fn run() -> ! {
    mounts::basics();
    let console = Console::open();
    logging(&console);
    // PID 1 must not exit (the kernel would panic): a panic in any of its
    // threads is shown on the consoles, then the box reboots after a pause.
    let c = console.clone();
    std::panic::set_hook(Box::new(move |info| {
        c.line(&format!("netagent: PID 1 failed: {info}; rebooting in 10 s"));
        std::thread::sleep(Duration::from_secs(10));
        power::halt(Halt::Reboot)
    }));
    console.line(&format!(
        "netagent {} starting as PID 1 ({:.3} s after the kernel started)",
        env!("CARGO_PKG_VERSION"),
        crate::util::time::since_boot()
    ));
    // What serving needs first (bridge, nf_tables); the hardware's drivers
    // load beside the agent below. Booted from a disk, its config is read
    // before the agent starts: FAT too, and the disks' drivers at once;
    // else those wait until the agent serves.
    let efi = std::path::Path::new("/sys/firmware/efi").exists();
    let mut loader = match Loader::open() {
        Ok(mut l) => {
            // The hardware RNG before anything else: the first nft run
            // reads /dev/urandom, which waits until the kernel's RNG is
            // seeded; the driver's first bytes seed it while the modules
            // below load. Not where the CPU has RDRAND: the kernel seeded
            // its RNG from it at boot, and the RNG's driver (the first
            // PCI driver: the firmware's interrupt links are set up then,
            // ~0.5 s under emulation) loads beside the agent with the NICs'.
            if !cpu_seeds_rng() {
                l.coldplug_rng();
            }
            for m in modules::SERVING
                .iter()
                .chain(if efi { modules::EFI } else { &[] })
            {
                l.load(m);
            }
            Some(l)
        }
        Err(e) => {
            warn!("modules: {e}; using what the kernel has built in");
            None
        }
    };
    let booted_from_disk = efi && super::bootdisk::loader_partuuid().is_some();
    let early = early_config(&console, booted_from_disk);
    // Without an early config the disk is read before serving: FAT now.
    if let (None, Some(l)) = (&early, loader.as_mut()) {
        for m in modules::FAT {
            l.load(m);
        }
    }
    if let Err(e) = loopback_up() {
        warn!("lo: up: {e}");
    }
    let signals = match block_signals() {
        Ok(fd) => Some(fd),
        Err(e) => {
            warn!("signals: {e}; power keys and signals are not answered");
            None
        }
    };
    power::disable_ctrl_alt_del();
    if let Some(l) = loader {
        let ready = if early.is_some() { notify_socket() } else { None };
        std::thread::spawn(move || modules::plug(l, std::path::Path::new(HARDWARE_SETTLED), ready));
    }
    let (tx, rx) = mpsc::channel();
    power::watch_buttons(tx);

    let (late_tx, late_rx) = mpsc::channel();
    let cfg = choose_config(&console, early, late_tx);
    let mut child = match spawn(&console, &cfg) {
        Ok(c) => Some(c),
        Err(e) => {
            error!("cannot start netagent run: {e}; rebooting in 10 s");
            std::thread::sleep(Duration::from_secs(10));
            power::halt(Halt::Reboot)
        }
    };
    let mut exits = Exits::default();
    // When netagent run is to be started again. The pause never blocks this
    // loop: signals are answered and children reaped meanwhile.
    let mut restart_at: Option<Instant> = None;
    loop {
        if child.is_none() && restart_at.is_none_or(|t| Instant::now() >= t) {
            restart_at = None;
            match spawn(&console, &cfg) {
                Ok(c) => child = Some(c),
                Err(e) => {
                    error!("cannot start netagent run: {e}");
                    // A restart that could not spawn counts as an exit.
                    restart_at = schedule_restart(&mut exits, "cannot start");
                }
            }
        }
        if rx.try_recv().is_ok() {
            shutdown(&console, &mut child, Halt::PowerOff, "power button pressed");
        }
        // A disk's config appeared after the default started: reload.
        if late_rx.try_recv().is_ok() {
            if let Some(c) = &child {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGHUP);
            }
        }
        if let Some((how, why)) = next_signal(&signals).and_then(power::on_signal) {
            shutdown(&console, &mut child, how, why);
        }
        // Reap every child that ended: ours and orphans handed to PID 1.
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            if child.as_ref().is_some_and(|c| c.id() as i32 == pid.as_raw()) {
                child = None;
                restart_at = schedule_restart(&mut exits, &format!("ended ({status:?})"));
            }
        }
    }
}

/// When to start netagent run again after it ended; reboots instead when it
/// keeps ending.
fn schedule_restart(exits: &mut Exits, why: &str) -> Option<Instant> {
    match exits.record(Instant::now()) {
        Next::Restart(pause) => {
            error!("netagent run {why}; starting it again in {} s", pause.as_secs());
            Some(Instant::now() + pause)
        }
        Next::Reboot => {
            error!("netagent run keeps ending ({why}); rebooting in 10 s");
            std::thread::sleep(Duration::from_secs(10));
            power::halt(Halt::Reboot)
        }
    }
}

/// The next blocked signal, waiting at most 200 ms.
fn next_signal(signals: &Option<SignalFd>) -> Option<i32> {
    let Some(fd) = signals else {
        std::thread::sleep(Duration::from_millis(200));
        return None;
    };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::from(200u16)).ok()? == 0 {
        return None;
    }
    let info = fd.read_signal().ok()??;
    i32::try_from(info.ssi_signo).ok()
}
