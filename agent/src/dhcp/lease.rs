//! One lease: who holds which address until when.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::config::MacAddr;

/// The client's identity: option 61 when it sends one, else its hardware
/// type and address (RFC 2132 §9.14), as dnsmasq and ISC do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientId(#[serde(with = "hex")] pub Vec<u8>);

impl ClientId {
    pub fn from_mac(mac: MacAddr) -> ClientId {
        let mut v = vec![1u8];
        v.extend_from_slice(&mac.0);
        ClientId(v)
    }

    pub fn to_hex(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub client: ClientId,
    #[serde(with = "mac_str")]
    pub mac: MacAddr,
    pub hostname: Option<String>,
    /// Unix seconds; None for an infinite lease.
    pub expires: Option<u64>,
}

impl Lease {
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

mod mac_str {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::MacAddr;

    pub fn serialize<S: Serializer>(m: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&m.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-28 01:02:03` (UTC) from Unix seconds, for `netagent leases`.
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_651_200), "2026-11-26 00:00:00");
        assert_eq!(format_time(951_782_400 + 3661), "2000-02-29 01:01:01");
    }

    #[test]
    fn lease_json_round_trip() {
        let l = Lease {
            ip: "10.0.0.5".parse().unwrap(),
            client: ClientId(vec![1, 0x52, 0x54, 0, 1, 2, 3]),
            mac: "52:54:00:01:02:03".parse().unwrap(),
            hostname: Some("web".into()),
            expires: Some(99),
        };
        let j = serde_json::to_string(&l).unwrap();
        assert!(j.contains("\"client\":\"01525400010203\""), "{j}");
        assert_eq!(serde_json::from_str::<Lease>(&j).unwrap(), l);
        assert_eq!(l.client.to_hex(), "01:52:54:00:01:02:03");
    }
}
