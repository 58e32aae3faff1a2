//! What PID 1 does when `netagent run` ends: start it again, so the leases
//! in /run and the guests' connections survive a crash; reboot only when it
//! keeps failing, which a restart cannot fix.

use std::time::{Duration, Instant};

/// More exits than this within `WINDOW` and the box reboots.
const MAX_EXITS: usize = 5;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Start it again after this pause.
    Restart(Duration),
    Reboot,
}

#[derive(Default)]
pub(crate) struct Exits {
    times: Vec<Instant>,
}

impl Exits {
    pub(crate) fn record(&mut self, now: Instant) -> Next {
        self.times.retain(|t| now.duration_since(*t) < WINDOW);
        self.times.push(now);
        if self.times.len() > MAX_EXITS {
            Next::Reboot
        } else {
            // 1 s, 2 s, 4 s...: a config or kernel problem is not hammered.
            Next::Restart(Duration::from_secs(1 << (self.times.len() - 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_then_reboot() {
        let mut e = Exits::default();
        let t0 = Instant::now();
        assert_eq!(e.record(t0), Next::Restart(Duration::from_secs(1)));
        assert_eq!(
            e.record(t0 + Duration::from_secs(2)),
            Next::Restart(Duration::from_secs(2))
        );
        for i in 3..=5 {
            assert!(matches!(e.record(t0 + Duration::from_secs(i)), Next::Restart(_)));
        }
        assert_eq!(e.record(t0 + Duration::from_secs(10)), Next::Reboot);
    }

    #[test]
    fn old_exits_are_forgotten() {
        let mut e = Exits::default();
        let t0 = Instant::now();
        for i in 0..5 {
            e.record(t0 + Duration::from_secs(i));
        }
        // A minute later the slate is clean again.
        assert_eq!(
            e.record(t0 + Duration::from_secs(70)),
            Next::Restart(Duration::from_secs(1))
        );
    }
}
