//! The appliance's own side: the uplink's address, either static or leased
//! from the upstream network's DHCP server by our client.

pub mod client;
pub mod lease;

pub use lease::UplinkLease;
