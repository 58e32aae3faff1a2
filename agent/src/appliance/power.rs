//! Power: the ACPI power button (QEMU's `system_powerdown`) arrives as a
//! KEY_POWER press on an input device; the kernel does nothing with it on
//! its own, so PID 1 watches for it.

use nix::sys::reboot::RebootMode;
use std::fs::File;
use std::io::Read;
use std::sync::mpsc::Sender;

const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;
/// struct input_event on 64-bit: timeval (16), type (2), code (2), value (4).
const EVENT_SIZE: usize = 24;

/// Watch every /dev/input/event* for a power key press; send () on `tx`.
/// Input devices appear when their drivers load, possibly after PID 1 got
/// here (devtmpfs makes the node a moment later), so look again every half
/// second for devices not yet watched.
pub(crate) fn watch_buttons(tx: Sender<()>) {
    std::thread::spawn(move || {
        let mut watched = std::collections::HashSet::new();
        loop {
            if let Ok(rd) = std::fs::read_dir("/dev/input") {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.starts_with("event") || watched.contains(&name) {
                        continue;
                    }
                    let Ok(f) = File::open(e.path()) else { continue };
                    watched.insert(name);
                    let tx = tx.clone();
                    std::thread::spawn(move || read_keys(f, tx));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    });
}

fn read_keys(mut f: File, tx: Sender<()>) {
    let mut buf = [0u8; EVENT_SIZE];
    while f.read_exact(&mut buf).is_ok() {
        let ty = u16::from_ne_bytes([buf[16], buf[17]]);
        let code = u16::from_ne_bytes([buf[18], buf[19]]);
        let value = i32::from_ne_bytes([buf[20], buf[21], buf[22], buf[23]]);
        if ty == EV_KEY && code == KEY_POWER && value == 1 && tx.send(()).is_err() {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    PowerOff,
    Reboot,
}

/// What a signal to PID 1 asks for, by busybox init's convention: SIGUSR1
/// (halt) and SIGUSR2 power off, SIGTERM reboots; SIGINT is Ctrl-Alt-Del
/// (the kernel sends it once `disable_ctrl_alt_del` ran), which reboots as
/// a PC does.
pub(crate) fn on_signal(sig: i32) -> Option<(Halt, &'static str)> {
    match sig {
        libc::SIGUSR1 => Some((Halt::PowerOff, "SIGUSR1")),
        libc::SIGUSR2 => Some((Halt::PowerOff, "SIGUSR2")),
        libc::SIGTERM => Some((Halt::Reboot, "SIGTERM")),
        libc::SIGINT => Some((Halt::Reboot, "Ctrl-Alt-Del")),
        _ => None,
    }
}

/// Have the kernel turn Ctrl-Alt-Del into SIGINT for PID 1 instead of an
/// immediate reboot, so netagent stops cleanly first.
pub(crate) fn disable_ctrl_alt_del() {
    let _ = nix::sys::reboot::set_cad_enabled(false);
}

/// Flush filesystems and power off or reboot. Does not return.
pub(crate) fn halt(how: Halt) -> ! {
    nix::unistd::sync();
    // Returns only on failure; then PID 1 waits rather than exit (a kernel panic).
    let _ = nix::sys::reboot::reboot(match how {
        Halt::PowerOff => RebootMode::RB_POWER_OFF,
        Halt::Reboot => RebootMode::RB_AUTOBOOT,
    });
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_follow_busybox_init() {
        assert_eq!(on_signal(libc::SIGUSR2).map(|x| x.0), Some(Halt::PowerOff));
        assert_eq!(on_signal(libc::SIGUSR1).map(|x| x.0), Some(Halt::PowerOff));
        assert_eq!(on_signal(libc::SIGTERM).map(|x| x.0), Some(Halt::Reboot));
        assert_eq!(on_signal(libc::SIGINT), Some((Halt::Reboot, "Ctrl-Alt-Del")));
        assert_eq!(on_signal(libc::SIGCHLD), None);
        assert_eq!(on_signal(libc::SIGHUP), None);
    }
}
