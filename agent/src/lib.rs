//! netagent: libvirt's virtual network switch as one program. A TOML file
//! becomes a `Config`, the config a `Plan` (pure data: links, nftables rules,
//! DHCP pools, DNS zones), and the plan is made true on the kernel.

#![warn(unreachable_pub, missing_debug_implementations, rust_2018_idioms)]
// Unsafe code lives in `util::sys` alone, which says why each piece is there.
#![deny(unsafe_code)]

pub mod appliance;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dhcp;
pub mod dhcp6;
pub mod dns;
pub mod doctor;
pub mod evpn;
pub mod firewall;
pub mod lease_name;
pub mod libvirt;
pub mod links;
pub mod metrics;
pub mod plan;
mod plan_text;
pub mod ra;
pub(crate) mod service;
pub(crate) mod status;
pub(crate) mod uplink;
pub mod util;
