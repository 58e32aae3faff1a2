//! One DHCPv6 lease: which client's identity association holds which
//! address until when.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::config::MacAddr;
use crate::dhcp::journal::Entry;
use crate::dhcp::lease::ClientId;
use crate::lease_name::LeaseName;

/// A client's DUID and the IAID of one of its identity associations: each
/// IA_NA holds its own address.
pub(crate) type Holder6 = (ClientId, u32);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease6 {
    pub ip: Ipv6Addr,
    /// The DUID, as hex.
    pub duid: ClientId,
    pub iaid: u32,
    /// From the DUID or the EUI-64 link-local address, when it says one.
    pub mac: Option<String>,
    pub hostname: Option<String>,
    /// Unix seconds; None for an infinite lease.
    pub expires: Option<u64>,
}

impl Lease6 {
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    pub(crate) fn holder(&self) -> Holder6 {
        (self.duid.clone(), self.iaid)
    }

    pub(crate) fn mac(&self) -> Option<MacAddr> {
        self.mac.as_deref()?.parse().ok()
    }

    /// What DNS learns from this lease, bound or gone.
    pub fn name(&self, bound: bool) -> LeaseName<'_> {
        LeaseName {
            ip: self.ip.into(),
            hostname: self.hostname.as_deref(),
            mac: self.mac(),
            client: self.duid.to_hex(),
            bound,
        }
    }
}

impl Entry for Lease6 {
    type Addr = Ipv6Addr;
    type Holder = Holder6;
    fn addr(&self) -> Ipv6Addr {
        self.ip
    }
    fn holder(&self) -> Holder6 {
        Lease6::holder(self)
    }
}

/// The MAC a DUID carries: DUID-LLT (type 1) and DUID-LL (type 3) of
/// hardware type 1 (Ethernet).
pub(crate) fn mac_of_duid(duid: &[u8]) -> Option<MacAddr> {
    let tail = match duid {
        [0, 1, 0, 1, _, _, _, _, rest @ ..] => rest,
        [0, 3, 0, 1, rest @ ..] => rest,
        _ => return None,
    };
    <[u8; 6]>::try_from(tail).ok().map(MacAddr)
}

/// The MAC in an EUI-64 link-local address (fe80::5054:ff:fe12:3456 for
/// 52:54:00:12:34:56); None for a privacy or stable-secret one.
pub(crate) fn mac_of_link_local(a: Ipv6Addr) -> Option<MacAddr> {
    let o = a.octets();
    if !a.is_unicast_link_local() || o[11] != 0xff || o[12] != 0xfe {
        return None;
    }
    Some(MacAddr([o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_from_duids_and_eui64_addresses() {
        let mac = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let llt = [
            0, 1, 0, 1, 0x2a, 0x3b, 0x4c, 0x5d, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
        ];
        let ll = [0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56];
        assert_eq!(mac_of_duid(&llt), Some(mac));
        assert_eq!(mac_of_duid(&ll), Some(mac));
        assert_eq!(
            mac_of_duid(&[0, 2, 0, 0, 0, 9, 1, 2]),
            None,
            "DUID-EN carries none"
        );
        assert_eq!(mac_of_duid(&[0, 3, 0, 6, 1, 2, 3, 4, 5, 6]), None, "not Ethernet");
        assert_eq!(
            mac_of_link_local("fe80::5054:ff:fe12:3456".parse().unwrap()),
            Some(mac)
        );
        assert_eq!(
            mac_of_link_local("fe80::1c2b:9f7a:11d0:42e5".parse().unwrap()),
            None
        );
        assert_eq!(
            mac_of_link_local("fd00::5054:ff:fe12:3456".parse().unwrap()),
            None
        );
    }
}
