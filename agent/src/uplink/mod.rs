//! The appliance's own side: the uplink's address, either static or leased
//! from the upstream network's DHCP server by our client.

pub(crate) mod client;
pub(crate) mod lease;
pub(crate) mod pd;

pub(crate) use lease::UplinkLease;
