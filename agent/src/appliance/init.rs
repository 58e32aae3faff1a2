//! PID 1's main line. Single-threaded until the modules are loaded and the
//! signal mask is set, so every thread it starts later inherits the mask and
//! signals arrive only where `sigtimedwait` collects them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || c.clone())
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

fn loopback_up() {
    // SAFETY: an ioctl on our own socket with a zeroed, then named, ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if s < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, c) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *c as libc::c_char;
        }
        if libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &req);
        }
        libc::close(s);
    }
}

/// The config to run: the boot disk's file if it passes the check, else
/// none (the embedded default), said loudly with every problem.
fn choose_config(console: &Console) -> Option<PathBuf> {
    let Some(path) = mounts::find_boot_config(Duration::from_secs(10)) else {
        console.line("netagent: no netagent.toml on a FAT partition: running the embedded default network");
        return None;
    };
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
            console.line(
                "netagent: RUNNING THE EMBEDDED DEFAULT NETWORK INSTEAD (virbr0, 192.168.122.1/24, NAT)",
            );
            console.line(&bar);
            None
        }
    }
}

fn spawn(console: &Console, cfg: &Option<PathBuf>) -> std::io::Result<Child> {
    let mut c = Command::new("/proc/self/exe");
    // The kernel starts init without PATH; nft lives in /usr/sbin.
    c.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    c.arg("run").args([
        "--state-dir",
        "/run/netagent",
        "--lease-dir",
        "/run/netagent/leases",
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

fn block_signals() -> libc::sigset_t {
    // SAFETY: building and installing a signal mask for this thread (and its future children threads).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGINT,
        ] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
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
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
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
        "netagent {} starting as PID 1",
        env!("CARGO_PKG_VERSION")
    ));
    match Loader::open() {
        Ok(mut l) => {
            for m in modules::ALWAYS {
                l.load(m);
            }
            let n = l.coldplug();
            info!("coldplug: {n} modules loaded for the hardware");
        }
        Err(e) => warn!("modules: {e}; using what the kernel has built in"),
    }
    loopback_up();
    let set = block_signals();
    power::disable_ctrl_alt_del();
    if let Ok(l) = Loader::open() {
        std::thread::spawn(move || modules::hotplug(l));
    }
    let (tx, rx) = mpsc::channel();
    power::watch_buttons(tx);

    let cfg = choose_config(&console);
    let mut child = match spawn(&console, &cfg) {
        Ok(c) => Some(c),
        Err(e) => {
            error!("cannot start netagent run: {e}; rebooting in 10 s");
            std::thread::sleep(Duration::from_secs(10));
            power::halt(Halt::Reboot)
        }
    };
    let mut exits = Exits::default();
    loop {
        if child.is_none() {
            // A restart that could not spawn: try again, counted as an exit.
            match exits.record(std::time::Instant::now()) {
                Next::Restart(pause) => {
                    std::thread::sleep(pause);
                    child = spawn(&console, &cfg).ok();
                }
                Next::Reboot => {
                    error!("cannot start netagent run; rebooting in 10 s");
                    std::thread::sleep(Duration::from_secs(10));
                    power::halt(Halt::Reboot);
                }
            }
        }
        if rx.try_recv().is_ok() {
            shutdown(&console, &mut child, Halt::PowerOff, "power button pressed");
        }
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        // SAFETY: waiting for one of the blocked signals, with a timeout.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if let Some((how, why)) = power::on_signal(sig) {
            shutdown(&console, &mut child, how, why);
        }
        // Reap every child that ended: ours and orphans handed to PID 1.
        loop {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG on any child.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if child.as_ref().is_some_and(|c| c.id() as i32 == pid) {
                child = None;
                match exits.record(std::time::Instant::now()) {
                    Next::Restart(pause) => {
                        error!(
                            "netagent run ended (status {status}); starting it again in {} s",
                            pause.as_secs()
                        );
                        std::thread::sleep(pause);
                        match spawn(&console, &cfg) {
                            Ok(c) => child = Some(c),
                            Err(e) => error!("cannot start netagent run: {e}"),
                        }
                    }
                    Next::Reboot => {
                        error!("netagent run keeps ending (status {status}); rebooting in 10 s");
                        std::thread::sleep(Duration::from_secs(10));
                        power::halt(Halt::Reboot);
                    }
                }
            }
        }
    }
}
