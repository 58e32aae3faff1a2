//! When advertisements go out (RFC 4861 6.2.4, 6.2.6): a few quick ones
//! when a bridge starts serving, then one every 200–600 s, and answers to
//! solicitations, at a rate a flooding guest cannot turn into a flood of
//! ours. Pure: the clock and the randomness are the caller's.

use std::time::{Duration, Instant};

/// The first advertisements come quickly (RFC 4861: up to three, at most
/// 16 s apart); a guest that booted beside the appliance has its prefix
/// within seconds even if it never asks.
pub(crate) const INITIAL: u32 = 3;
const INITIAL_MIN: Duration = Duration::from_secs(2);
const INITIAL_MAX: Duration = Duration::from_secs(4);
/// MinRtrAdvInterval and MaxRtrAdvInterval (radvd's defaults).
const MIN_INTERVAL: Duration = Duration::from_secs(200);
const MAX_INTERVAL: Duration = Duration::from_secs(600);
/// RFC 4861 MIN_DELAY_BETWEEN_RAS: multicast advertisements at most this often.
pub(crate) const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);

/// The pause before the next unsolicited advertisement: `initial_left` of
/// the quick ones remain; `r` is uniform in [0, 1).
pub(crate) fn next_interval(initial_left: u32, r: f64) -> Duration {
    let (lo, hi) = if initial_left > 0 {
        (INITIAL_MIN, INITIAL_MAX)
    } else {
        (MIN_INTERVAL, MAX_INTERVAL)
    };
    lo + (hi - lo).mul_f64(r.clamp(0.0, 1.0))
}

/// A token bucket for the answers sent straight to a soliciting guest.
#[derive(Debug)]
pub(crate) struct Limiter {
    tokens: f64,
    last: Instant,
    /// Solicitations dropped since the last time that was logged.
    pub dropped: u64,
}

/// At most this many answers at once, refilled at this many per second.
const BURST: f64 = 20.0;
const RATE: f64 = 10.0;

impl Limiter {
    pub(crate) fn new(now: Instant) -> Limiter {
        Limiter {
            tokens: BURST,
            last: now,
            dropped: 0,
        }
    }

    /// Whether one more answer may go now.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * RATE).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

/// When a multicast answer may go: at once, or MIN_DELAY_BETWEEN_RAS after
/// the last multicast advertisement.
pub(crate) fn multicast_at(last: Option<Instant>, now: Instant) -> Instant {
    match last {
        Some(l) if now < l + MIN_DELAY_BETWEEN_RAS => l + MIN_DELAY_BETWEEN_RAS,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_first_then_minutes_apart() {
        assert_eq!(next_interval(3, 0.0), Duration::from_secs(2));
        assert_eq!(next_interval(1, 0.999_999).as_secs(), 3);
        assert_eq!(next_interval(0, 0.0), Duration::from_secs(200));
        assert_eq!(next_interval(0, 1.0), Duration::from_secs(600));
        assert_eq!(next_interval(0, 7.0), Duration::from_secs(600), "r is clamped");
    }

    #[test]
    fn a_flood_of_solicitations_gets_a_trickle_of_answers() {
        let t0 = Instant::now();
        let mut l = Limiter::new(t0);
        let burst = (0..1000).filter(|_| l.allow(t0)).count();
        assert_eq!(burst, 20);
        assert_eq!(l.dropped, 980);
        // One second later: ten more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..1000).filter(|_| l.allow(t1)).count(), 10);
    }

    #[test]
    fn multicast_answers_keep_three_seconds_apart() {
        let t0 = Instant::now();
        assert_eq!(multicast_at(None, t0), t0);
        assert_eq!(
            multicast_at(Some(t0), t0 + Duration::from_secs(1)),
            t0 + Duration::from_secs(3)
        );
        let later = t0 + Duration::from_secs(5);
        assert_eq!(multicast_at(Some(t0), later), later);
    }
}
