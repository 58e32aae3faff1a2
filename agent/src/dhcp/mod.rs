//! The DHCPv4 server that replaces libvirt's dnsmasq: one pool per network,
//! leases kept in memory and journaled to disk, replies decided by pure
//! functions (`pool`, `reply`) and sent by a thin socket layer (`server`).

pub mod arp;
pub mod journal;
pub mod lease;
pub mod pool;
pub mod reply;
pub mod server;
pub mod service;
pub mod show;
pub mod wire;

pub use lease::{ClientId, Lease};
pub use pool::Pool;
