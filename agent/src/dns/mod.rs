//! The DNS server that replaces libvirt's dnsmasq for DNS: authoritative for
//! each network's own names (config records and DHCP leases), a forwarder
//! with a cache for the rest, never an open resolver. The answer to every
//! query is decided by `zone::decide` (pure); `answer` decodes and encodes
//! with hickory-proto for both `udp` (with an answer cache) and `tcp` (with
//! bounds on connections), `forward` relays queries to upstreams as written.

pub(crate) mod answer;
pub mod apex;
mod cache;
pub(crate) mod forward;
pub mod hosts_file;
mod inflight;
mod outgoing;
pub(crate) mod resolv_conf;
pub(crate) mod server;
pub(crate) mod tcp;
pub(crate) mod udp;
pub(crate) mod wire;
pub mod zone;
