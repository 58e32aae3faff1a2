//! systemd's readiness protocol (sd_notify): `READY=1` once the networks are
//! up, `RELOADING=1` around a reload, `STATUS=` for `systemctl status`. A
//! datagram to $NOTIFY_SOCKET; nothing when it is unset (not under systemd).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use tracing::debug;

pub(super) fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    // "@name" is an abstract socket.
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &a));
    if let Err(e) = sent {
        debug!("sd_notify {path}: {e}");
    }
}

/// For RELOADING=1: systemd wants the time of the reload in microseconds.
pub(super) fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1000,
        Err(_) => 0,
    }
}
