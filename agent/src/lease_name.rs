//! What DNS learns from a lease, of DHCPv4 or DHCPv6 alike: an address,
//! the name its guest gave, and who the guest is. A module of its own so
//! that the DNS server and the DHCP servers know this type, not each
//! other: the daemon turns each lease event into one.

use std::net::IpAddr;

use crate::config::MacAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseName<'a> {
    pub ip: IpAddr,
    /// The hostname its guest sent, if any.
    pub hostname: Option<&'a str>,
    pub mac: Option<MacAddr>,
    /// The guest as the log names it: its MAC, or its DUID over DHCPv6.
    pub client: String,
    /// Bound (or renewed); false when the lease is gone.
    pub bound: bool,
}
