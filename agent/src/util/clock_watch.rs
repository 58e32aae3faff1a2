//! Word of the wall clock being set (by the appliance's SNTP, an admin,
//! a host's time service): the lease servers keep lease times in wall-clock
//! seconds and move them with the clock. The kernel says so itself: a
//! timerfd armed with TFD_TIMER_CANCEL_ON_SET is cancelled (ECANCELED)
//! whenever CLOCK_REALTIME is set, so nothing polls.

use std::sync::OnceLock;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::sync::watch;
use tracing::warn;

/// Counts the times the clock was set since the watch started.
static SETS: OnceLock<watch::Sender<u64>> = OnceLock::new();

fn sets() -> &'static watch::Sender<u64> {
    SETS.get_or_init(|| watch::channel(0).0)
}

/// Changes each time the wall clock is set (once `start` runs; never
/// without it).
pub fn subscribe() -> watch::Receiver<u64> {
    sets().subscribe()
}

/// Armed for 2100-01-01: the timer never fires; the kernel cancels it when
/// the clock is set.
fn arm(t: &TimerFd) -> nix::Result<()> {
    t.set(
        Expiration::OneShot(TimeSpec::new(4_102_444_800, 0)),
        TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
    )
}

/// Start watching, in the runtime it is called from.
pub fn start() -> std::io::Result<()> {
    let t = TimerFd::new(
        ClockId::CLOCK_REALTIME,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )?;
    arm(&t)?;
    let fd = super::sys::watch(super::sys::Timer(t), Interest::READABLE)?;
    tokio::spawn(async move {
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return;
            };
            // Ok: cancelled (the clock was set) or, past 2100, fired.
            match ready.get_inner().0.wait() {
                Ok(()) => {
                    if let Err(e) = arm(&ready.get_inner().0) {
                        warn!("clock watch: {e}; lease times no longer follow the clock");
                        return;
                    }
                    sets().send_modify(|n| *n += 1);
                }
                Err(nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => {
                    warn!("clock watch: {e}; lease times no longer follow the clock");
                    return;
                }
            }
        }
    });
    Ok(())
}

/// A lease server's view of the clock: by how much it was set since the
/// server last looked.
#[derive(Debug)]
pub struct Follow {
    /// `time::wall_minus_boot` when last looked at.
    at: i64,
    /// Changes when the clock is set (select on `set.changed()`).
    pub set: watch::Receiver<u64>,
}

impl Follow {
    pub fn new() -> Follow {
        Follow {
            at: super::time::wall_minus_boot(),
            set: subscribe(),
        }
    }

    /// The step since the last look, in seconds, if the clock was set.
    /// The two readings behind it are a second apart at times; a step is
    /// more.
    pub fn moved(&mut self) -> Option<i64> {
        let now = super::time::wall_minus_boot();
        let by = now - self.at;
        if by.abs() < 2 {
            return None;
        }
        self.at = now;
        Some(by)
    }
}

impl Default for Follow {
    fn default() -> Follow {
        Follow::new()
    }
}
