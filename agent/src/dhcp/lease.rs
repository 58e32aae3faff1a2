//! One lease: who holds which address until when.

use std::net::Ipv4Addr;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::config::MacAddr;
use crate::lease_name::LeaseName;

/// The client's identity: option 61 when it sends one, else its hardware
/// type and address (RFC 2132 §9.14), as dnsmasq and ISC do. Kept inline
/// up to 16 bytes (a MAC's seven), in the room a Vec would take: the pool
/// holds it twice per lease, and a heap block each was a fifth of a /16
/// pool's memory at 50,000 leases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientId(#[serde(with = "hex")] pub IdBytes);

/// The bytes of a client or DHCP unique identifier.
pub type IdBytes = smallvec::SmallVec<[u8; 16]>;

impl ClientId {
    pub fn new(bytes: &[u8]) -> ClientId {
        ClientId(IdBytes::from_slice(bytes))
    }

    pub fn from_mac(mac: MacAddr) -> ClientId {
        let mut v = IdBytes::new();
        v.push(1);
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

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::IdBytes, D::Error> {
        let s = String::deserialize(d)?;
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
            .collect::<Result<super::IdBytes, _>>()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub client: ClientId,
    #[serde(with = "mac_str")]
    pub mac: MacAddr,
    /// Boxed, not a String: a /16 pool holds 57,344 of these, and each
    /// field's word is 0.5 MB of its table.
    pub hostname: Option<Box<str>>,
    /// Unix seconds; None for an infinite lease. NonZero: 8 bytes, not 16.
    #[serde(with = "expiry")]
    pub expires: Option<NonZeroU64>,
}

/// Unix seconds as a lease's expiry (0 is long past: 1 second after 1970).
pub fn at(secs: u64) -> Option<NonZeroU64> {
    Some(NonZeroU64::new(secs).unwrap_or(NonZeroU64::MIN))
}

impl Lease {
    /// What DNS learns from this lease, bound or gone.
    pub fn name(&self, bound: bool) -> LeaseName<'_> {
        LeaseName {
            ip: self.ip.into(),
            hostname: self.hostname.as_deref(),
            mac: Some(self.mac),
            client: self.mac.to_string(),
            bound,
        }
    }

    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e.get() <= now)
    }

    /// The expiry in Unix seconds.
    pub fn expiry(&self) -> Option<u64> {
        self.expires.map(NonZeroU64::get)
    }
}

/// The lease file's `expires`: a number or null, as before; a 0 written by
/// anyone is read as long past, not refused (the lease is expired either way).
mod expiry {
    use std::num::NonZeroU64;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(e: &Option<NonZeroU64>, s: S) -> Result<S::Ok, S::Error> {
        e.map(NonZeroU64::get).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NonZeroU64>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.and_then(super::at))
    }
}

mod mac_str {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::MacAddr;

    pub(super) fn serialize<S: Serializer>(m: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&m.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_json_round_trip() {
        let l = Lease {
            ip: "10.0.0.5".parse().unwrap(),
            client: ClientId::new(&[1, 0x52, 0x54, 0, 1, 2, 3]),
            mac: "52:54:00:01:02:03".parse().unwrap(),
            hostname: Some("web".into()),
            expires: at(99),
        };
        let j = serde_json::to_string(&l).unwrap();
        assert!(j.contains("\"client\":\"01525400010203\""), "{j}");
        assert_eq!(serde_json::from_str::<Lease>(&j).unwrap(), l);
        assert_eq!(l.client.to_hex(), "01:52:54:00:01:02:03");
        assert!(j.contains("\"expires\":99"), "{j}");
        // An infinite lease, and a 0 (long past) from an older file.
        let never = serde_json::from_str::<Lease>(&j.replace("99", "null")).unwrap();
        assert_eq!(never.expires, None);
        let past = serde_json::from_str::<Lease>(&j.replace("\"expires\":99", "\"expires\":0")).unwrap();
        assert!(past.expired(1));
        assert_eq!(std::mem::size_of::<Lease>(), 64);
    }
}
