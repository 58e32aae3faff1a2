//! The DHCPv4 server that replaces libvirt's dnsmasq: one pool per network,
//! leases kept in memory and journaled to disk, replies decided by pure
//! functions (`pool`, `reply`) and sent by a thin socket layer (`server`).

mod direct;
pub(crate) mod journal;
pub mod lease;
mod lease_table;
pub(crate) mod pool;
pub mod port_guard;
pub mod reply;
pub mod script;
pub(crate) mod server;
pub(crate) mod service;
pub mod show;
pub mod wire;

pub use lease::{ClientId, Lease};
pub use pool::Pool;
