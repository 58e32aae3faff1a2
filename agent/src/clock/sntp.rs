//! SNTP (RFC 4330) without sockets: the client's request and what a
//! server's reply says about our clock. A reply that could be forged or
//! stale, or a server that says it has no time itself, is refused; the
//! caller moves bytes and sets the clock.

use std::time::Duration;

/// An NTP packet without extensions or authenticator.
pub const PACKET: usize = 48;

/// Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01 (Unix).
const NTP_TO_UNIX: i128 = 2_208_988_800;

/// A wall-clock instant: nanoseconds since the Unix epoch (negative
/// before it, which a box with a flat RTC battery may well say).
pub type Nanos = i128;

/// What one server's answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Add this to our clock to get the server's.
    pub offset: Nanos,
    /// The round trip, less the server's own time.
    pub delay: Duration,
    pub stratum: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} bytes, not an NTP packet")]
    Short(usize),
    #[error("mode {0}, not a server's answer")]
    NotServer(u8),
    #[error("version {0}")]
    Version(u8),
    /// RFC 4330 §8: stratum 0 is a kiss-o'-death; its code says why.
    #[error("kiss-o'-death {0:?}: the server asks us to stop or slow down")]
    Kiss(String),
    /// Leap indicator 3: the server's own clock is not synchronized.
    #[error("the server's clock is not synchronized")]
    Unsynchronized,
    #[error("stratum {0}")]
    Stratum(u8),
    /// The originate timestamp is not our transmit timestamp: an answer to
    /// some other request, or forged.
    #[error("not an answer to our request")]
    NotOurs,
    #[error("no transmit time")]
    NoTime,
    #[error("a round trip below zero")]
    Negative,
}

/// NTP's 64-bit timestamp for a wall-clock instant. Era 1 (from 2036) wraps
/// the seconds to 0, as RFC 4330 §3 has it.
pub fn to_ntp(t: Nanos) -> u64 {
    let ns = t + NTP_TO_UNIX * 1_000_000_000;
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let secs = (secs as u64) & 0xffff_ffff;
    let frac = ((frac as u128) << 32) / 1_000_000_000;
    (secs << 32) | frac as u64
}

/// The instant of an NTP timestamp. Seconds with the top bit clear are
/// taken as era 1 (2036-2104), as RFC 4330 §3 suggests, so that times
/// from 1968 to 2104 read right.
pub fn from_ntp(ts: u64) -> Nanos {
    let mut secs = i128::from(ts >> 32);
    if secs & 0x8000_0000 == 0 {
        secs += 1 << 32;
    }
    let frac = (i128::from(ts & 0xffff_ffff) * 1_000_000_000) >> 32;
    (secs - NTP_TO_UNIX) * 1_000_000_000 + frac
}

/// A client request (version 4, mode 3), our clock's reading as its
/// transmit time: the server echoes it as the originate time, which ties
/// its answer to this request. Its low 24 bits (under 4 µs) are `noise`
/// (random, as RFC 4330 §3 allows), so that an answer from someone who did
/// not see the request is refused; the offset is computed from `now`, not
/// from the echo.
pub fn request(now: Nanos, noise: u32) -> ([u8; PACKET], u64) {
    let mut p = [0u8; PACKET];
    p[0] = 4 << 3 | 3;
    let ts = (to_ntp(now) & !0xff_ffff) | u64::from(noise & 0xff_ffff);
    p[40..48].copy_from_slice(&ts.to_be_bytes());
    (p, ts)
}

fn ts_at(p: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p[at..at + 8]);
    u64::from_be_bytes(b)
}

/// What `reply` says, for the request whose transmit timestamp was `sent`,
/// sent at `t1` and answered at `t4` by our clock (RFC 4330 §5).
pub fn read(reply: &[u8], sent: u64, t1: Nanos, t4: Nanos) -> Result<Sample, Refused> {
    if reply.len() < PACKET {
        return Err(Refused::Short(reply.len()));
    }
    let (li, vn, mode) = (reply[0] >> 6, reply[0] >> 3 & 7, reply[0] & 7);
    if mode != 4 {
        return Err(Refused::NotServer(mode));
    }
    if !(3..=4).contains(&vn) {
        return Err(Refused::Version(vn));
    }
    let stratum = reply[1];
    if stratum == 0 {
        let code = String::from_utf8_lossy(&reply[12..16])
            .trim_end_matches('\0')
            .to_string();
        return Err(Refused::Kiss(code));
    }
    if li == 3 {
        return Err(Refused::Unsynchronized);
    }
    if stratum > 15 {
        return Err(Refused::Stratum(stratum));
    }
    if ts_at(reply, 24) != sent {
        return Err(Refused::NotOurs);
    }
    let (received, transmit) = (ts_at(reply, 32), ts_at(reply, 40));
    if transmit == 0 {
        return Err(Refused::NoTime);
    }
    let (t2, t3) = (from_ntp(received), from_ntp(transmit));
    let delay = (t4 - t1) - (t3 - t2);
    if delay < 0 {
        return Err(Refused::Negative);
    }
    Ok(Sample {
        offset: ((t2 - t1) + (t3 - t4)) / 2,
        delay: Duration::from_nanos(u64::try_from(delay).unwrap_or(u64::MAX)),
        stratum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    /// A server's answer to `req`, its clock reading `t2` and `t3`.
    fn answer(req: &[u8; PACKET], t2: Nanos, t3: Nanos) -> [u8; PACKET] {
        let mut p = [0u8; PACKET];
        p[0] = 4 << 3 | 4;
        p[1] = 2;
        p[24..32].copy_from_slice(&req[40..48]);
        p[32..40].copy_from_slice(&to_ntp(t2).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(t3).to_be_bytes());
        p
    }

    #[test]
    fn timestamps_round_trip_across_eras() {
        for t in [
            0,
            1_796_688_000 * S + 123_456_789,
            -S * 86_400 * 365,
            2_100_000_000 * S + 5,
        ] {
            let back = from_ntp(to_ntp(t));
            assert!((back - t).abs() <= 1, "{t} -> {back}");
        }
        // 2036-02-07 06:28:16 UTC is era 1's zero.
        assert_eq!(to_ntp(2_085_978_496 * S) >> 32, 0);
    }

    #[test]
    fn a_box_whose_clock_says_2001_learns_the_offset() {
        let ours = 978_307_200 * S; // 2001-01-01, a flat RTC battery
        let truth = 1_796_688_000 * S; // 2026-12-08
        let (req, sent) = request(ours, 0xabcdef);
        // 10 ms each way, 1 ms in the server.
        let reply = answer(&req, truth + 10_000_000, truth + 11_000_000);
        let s = read(&reply, sent, ours, ours + 21_000_000).expect("sample");
        assert_eq!(s.delay, Duration::from_millis(20));
        assert!((s.offset - (truth - ours)).abs() < 1_000, "{}", s.offset);
        assert_eq!(s.stratum, 2);
    }

    #[test]
    fn answers_that_could_mislead_are_refused() {
        let now = 1_796_688_000 * S;
        let (req, sent) = request(now, 0x123456);
        // The low bits are the noise, so only who saw the request can answer.
        assert_eq!(sent & 0xff_ffff, 0x123456);
        assert_eq!(req[40..48], sent.to_be_bytes());
        let good = answer(&req, now, now);
        assert!(read(&good, sent, now, now).is_ok());
        assert_eq!(read(&good[..40], sent, now, now), Err(Refused::Short(40)));
        let mut p = good;
        p[24] ^= 1;
        assert_eq!(read(&p, sent, now, now), Err(Refused::NotOurs));
        let mut p = good;
        p[0] = 3 << 6 | 4 << 3 | 4;
        assert_eq!(read(&p, sent, now, now), Err(Refused::Unsynchronized));
        let mut p = good;
        p[1] = 0;
        p[12..16].copy_from_slice(b"RATE");
        assert_eq!(read(&p, sent, now, now), Err(Refused::Kiss("RATE".into())));
        let mut p = good;
        p[0] = 4 << 3 | 3;
        assert_eq!(read(&p, sent, now, now), Err(Refused::NotServer(3)));
        let mut p = good;
        p[1] = 16;
        assert_eq!(read(&p, sent, now, now), Err(Refused::Stratum(16)));
        let mut p = good;
        p[40..48].fill(0);
        assert_eq!(read(&p, sent, now, now), Err(Refused::NoTime));
        // The server says it held the request longer than the round trip.
        let p = answer(&req, now, now + S);
        assert_eq!(read(&p, sent, now, now), Err(Refused::Negative));
        // Garbage of every length: refused, never a panic.
        for n in 0..64 {
            let junk = vec![0xa5u8; n];
            assert!(read(&junk, sent, now, now).is_err());
        }
    }
}
