//! IPv6 router advertisements (RFC 4861, RFC 8106) on the bridges that
//! have a prefix: the prefix for SLAAC, the DNS server and domain, the
//! default route (none on an isolated network).

mod pace;
mod server;
pub(crate) use server::bridge_mac;
pub(crate) mod service;
mod socket;
pub mod wire;
