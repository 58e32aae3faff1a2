//! Asking the servers and stepping the clock: the shell around `sntp`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{info, warn};

use super::sntp::{self, Nanos, Sample};

/// An answer later than this is not waited for.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// Until the clock has been set once: often (RFC 4330 §10 asks for no
/// more than one request a minute per server; one a minute it is).
const UNSET_EVERY: Duration = Duration::from_secs(60);
/// Once set: the RTC-free box drifts seconds a day at most.
const SET_EVERY: Duration = Duration::from_secs(3600);
/// Offsets below this are left alone: SNTP steps, and stepping for a few
/// milliseconds would only make timestamps jitter.
const STEP_OVER: Nanos = 500_000_000;

fn wall_now() -> Nanos {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as Nanos,
        Err(e) => -(e.duration().as_nanos() as Nanos),
    }
}

/// One exchange with `server`: the sample, or why there is none.
async fn ask(server: IpAddr) -> Result<Sample, String> {
    let bind: SocketAddr = match server {
        IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect((server, 123)).await.map_err(|e| e.to_string())?;
    let mut noise = [0u8; 4];
    let _ = getrandom::fill(&mut noise);
    let t1 = wall_now();
    let (req, sent) = sntp::request(t1, u32::from_ne_bytes(noise));
    sock.send(&req).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    loop {
        let n = match tokio::time::timeout(ANSWER_WAIT, sock.recv(&mut buf)).await {
            Err(_) => return Err("no answer".into()),
            Ok(r) => r.map_err(|e| e.to_string())?,
        };
        let t4 = wall_now();
        match sntp::read(&buf[..n], sent, t1, t4) {
            // Something else on the connected port (a late duplicate):
            // keep waiting for ours.
            Err(sntp::Refused::NotOurs) => continue,
            r => return r.map_err(|e| e.to_string()),
        }
    }
}

/// The best answer of `servers` (the shortest round trip), with its server.
async fn best(servers: &[IpAddr]) -> Option<(IpAddr, Sample)> {
    let mut got: Option<(IpAddr, Sample)> = None;
    for &s in servers {
        match ask(s).await {
            Ok(sample) => {
                if got.is_none_or(|(_, g)| sample.delay < g.delay) {
                    got = Some((s, sample));
                }
            }
            Err(e) => warn!("clock: time server {s}: {e}"),
        }
    }
    got
}

/// The board's RTC, from the clock just set, so the next boot starts near
/// the right time even before SNTP answers. The kernel reads the RTC as
/// UTC at boot. Through busybox's hwclock, shipped in the appliance's
/// initramfs: its ioctl is the one thing here that would need unsafe code.
async fn set_rtc() {
    if !std::path::Path::new("/dev/rtc0").exists() {
        return;
    }
    let out = tokio::process::Command::new("busybox")
        .args(["hwclock", "-w", "-u", "-f", "/dev/rtc0"])
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => info!("clock: RTC set"),
        Ok(o) => warn!(
            "clock: RTC: hwclock: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => warn!("clock: RTC: busybox hwclock: {e}"),
    }
}

fn step(by: Nanos) -> nix::Result<()> {
    let at = wall_now() + by;
    let spec = nix::sys::time::TimeSpec::new(
        at.div_euclid(1_000_000_000) as libc::time_t,
        at.rem_euclid(1_000_000_000) as libc::c_long,
    );
    nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, spec)
}

/// Keep the wall clock set from `servers` (the daemon updates the list as
/// the uplink's lease and the config change). Runs until the daemon ends.
pub async fn run(mut servers: watch::Receiver<Vec<IpAddr>>) {
    let mut set_once = false;
    loop {
        let list = servers.borrow_and_update().clone();
        if !list.is_empty() {
            match best(&list).await {
                Some((server, s)) if s.offset.abs() >= STEP_OVER => match step(s.offset) {
                    Ok(()) => {
                        set_once = true;
                        info!(
                            "clock: set from {server} (stratum {}, round trip {} ms): {:+.3} s",
                            s.stratum,
                            s.delay.as_millis(),
                            s.offset as f64 / 1e9
                        );
                        set_rtc().await;
                    }
                    Err(e) => warn!(
                        "clock: cannot set it ({e}); {server} says {:+.3} s",
                        s.offset as f64 / 1e9
                    ),
                },
                Some(_) => set_once = true,
                None => {}
            }
        }
        let wait = if set_once { SET_EVERY } else { UNSET_EVERY };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = servers.changed() => if changed.is_err() { return },
        }
    }
}
