//! The nftables side: the ruleset a config needs (pure), its nft-syntax
//! rendering for people, and applying it to the kernel in one atomic batch.

pub(crate) mod apply;
pub mod foreign;
pub mod guard;
pub mod guard_ports;
pub(crate) mod kernel;
pub mod render;
pub(crate) mod ruleset;
mod span;
pub(crate) mod watch;

pub use ruleset::{ruleset, TABLE};
