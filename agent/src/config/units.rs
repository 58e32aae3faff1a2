//! Small value types users write as strings: MAC addresses, lease times,
//! address ranges and port ranges. Each parses with a message that says what
//! a good value looks like.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a MAC address: write six hex pairs like 52:54:00:12:34:56");
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(out))
    }
}

/// As text, `52:54:00:12:34:56`, wherever a MAC travels as JSON.
impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl MacAddr {
    /// A bridge MAC must be unicast: the multicast bit set would make the
    /// kernel refuse it, and the user would only learn it at run time.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// How long a DHCP lease lasts. `0` means infinite, as in libvirt's XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseTime {
    Infinite,
    Seconds(u32),
}

/// dnsmasq refuses leases shorter than two minutes; so do we.
pub const MIN_LEASE_SECS: u64 = 120;

impl LeaseTime {
    pub fn from_seconds(secs: i64) -> Result<LeaseTime, String> {
        match secs {
            0 => Ok(LeaseTime::Infinite),
            s if s < 0 => Err(format!("lease time {s} is negative")),
            s if (s as u64) < MIN_LEASE_SECS => Err(format!(
                "lease time {s}s is shorter than the 2 minute minimum: use at least \"2m\", or 0 for infinite"
            )),
            s => u32::try_from(s)
                .map(LeaseTime::Seconds)
                .map_err(|_| format!("lease time {s}s is too long: use \"infinite\"")),
        }
    }

    pub fn seconds(self) -> Option<u32> {
        match self {
            LeaseTime::Infinite => None,
            LeaseTime::Seconds(s) => Some(s),
        }
    }
}

impl FromStr for LeaseTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("infinite") {
            return Ok(LeaseTime::Infinite);
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || {
            format!("`{s}` is not a lease time: write a number with a unit s, m, h, d or w (\"1h\", \"90m\"), or \"infinite\"")
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        let mult = match unit.trim() {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            "w" => 7 * 86400,
            _ => return Err(bad()),
        };
        LeaseTime::from_seconds(n.checked_mul(mult).ok_or_else(bad)?)
    }
}

impl fmt::Display for LeaseTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseTime::Infinite => f.write_str("infinite"),
            LeaseTime::Seconds(s) => write!(f, "{s}s"),
        }
    }
}

/// An inclusive range of addresses, written `a-b` (or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange<A> {
    pub start: A,
    pub end: A,
}

pub type Ipv4Range = AddrRange<Ipv4Addr>;
pub type Ipv6Range = AddrRange<std::net::Ipv6Addr>;

/// An example range for messages about a range of this family.
pub trait RangeExample {
    const EXAMPLE: &'static str;
}

impl RangeExample for Ipv4Addr {
    const EXAMPLE: &'static str = "192.168.122.2-192.168.122.254";
}

impl RangeExample for std::net::Ipv6Addr {
    const EXAMPLE: &'static str = "fd00:122::100-fd00:122::1ff";
}

impl<A: PartialOrd> AddrRange<A> {
    pub fn contains(&self, ip: A) -> bool {
        self.start <= ip && ip <= self.end
    }
}

impl AddrRange<std::net::Ipv6Addr> {
    /// How many addresses, saturating (a /64's worth does not fit a u64).
    pub fn len(&self) -> u64 {
        let n = u128::from(self.end) - u128::from(self.start) + 1;
        u64::try_from(n).unwrap_or(u64::MAX)
    }
    /// Never: a parsed range holds at least its start address.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Ipv4Range {
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }
    /// Never: a parsed range holds at least its start address.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl<A: FromStr + PartialOrd + RangeExample> FromStr for AddrRange<A> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not an address range: write FIRST-LAST like {}",
                A::EXAMPLE
            )
        };
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let start: A = a.trim().parse().map_err(|_| bad())?;
        let end: A = b.trim().parse().map_err(|_| bad())?;
        if start > end {
            return Err(format!(
                "range `{s}` ends before it starts: put the lower address first"
            ));
        }
        Ok(AddrRange { start, end })
    }
}

impl<A: fmt::Display + PartialEq> fmt::Display for AddrRange<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// An inclusive range of TCP/UDP ports, written `1024-65535`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a port range: write FIRST-LAST like 1024-65535");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let start: u16 = a.trim().parse().map_err(|_| bad())?;
        let end: u16 = b.trim().parse().map_err(|_| bad())?;
        if start == 0 || start > end {
            return Err(bad());
        }
        Ok(PortRange { start, end })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            return write!(f, "{}", self.start);
        }
        write!(f, "{}-{}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_time_units() {
        assert_eq!("1h".parse(), Ok(LeaseTime::Seconds(3600)));
        assert_eq!("90m".parse(), Ok(LeaseTime::Seconds(5400)));
        assert_eq!("3600".parse(), Ok(LeaseTime::Seconds(3600)));
        assert_eq!("2d".parse(), Ok(LeaseTime::Seconds(172800)));
        assert_eq!("infinite".parse(), Ok(LeaseTime::Infinite));
        assert_eq!("0".parse(), Ok(LeaseTime::Infinite));
        assert!("1 fortnight".parse::<LeaseTime>().is_err());
        assert!("1y".parse::<LeaseTime>().is_err());
        assert!("30s".parse::<LeaseTime>().unwrap_err().contains("2 minute"));
        assert!("99999999999w".parse::<LeaseTime>().is_err());
    }

    #[test]
    fn mac_parse_and_print() {
        let m: MacAddr = "52:54:00:AB:cd:01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:cd:01");
        assert!(m.is_unicast());
        assert!(!"01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_unicast());
        assert!("52:54:00:ab:cd".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:zz".parse::<MacAddr>().is_err());
    }

    #[test]
    fn ranges() {
        let r: Ipv4Range = "10.0.0.2-10.0.0.9".parse().unwrap();
        assert_eq!(r.len(), 8);
        assert!(r.contains("10.0.0.9".parse().unwrap()));
        assert!("10.0.0.9-10.0.0.2".parse::<Ipv4Range>().is_err());
        assert_eq!("10.0.0.5".parse::<Ipv4Range>().unwrap().len(), 1);
        assert_eq!(
            "1024-65535".parse::<PortRange>(),
            Ok(PortRange {
                start: 1024,
                end: 65535
            })
        );
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("70000".parse::<PortRange>().is_err());
    }
}
