//! The DNS server that replaces libvirt's dnsmasq for DNS: authoritative for
//! each network's own names (config records and DHCP leases), a forwarder
//! with a cache for the rest, never an open resolver. The answer to every
//! query is decided by `zone::decide` (pure); `handler` speaks DNS through
//! hickory-server, `forward` asks upstreams through hickory-resolver.

pub mod answer;
pub mod forward;
pub mod handler;
pub mod resolv_conf;
pub mod server;
pub mod udp;
pub mod wire;
pub mod zone;
