//! DHCPv6 (RFC 8415), stateful: addresses from a network's ranges or fixed
//! per client, leases in the same kind of crash-safe journal as DHCP's.

pub mod lease;
pub mod pool;
pub mod reply;
pub(crate) mod server;
pub(crate) mod service;
pub mod wire;
