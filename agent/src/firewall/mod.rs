//! The nftables side: the ruleset a config needs (pure), its nft-syntax
//! rendering for people, and applying it to the kernel in one atomic batch.

pub mod apply;
pub(crate) mod kernel;
mod probe;
pub mod render;
pub mod ruleset;
pub mod watch;

pub use ruleset::{ruleset, TABLE};
