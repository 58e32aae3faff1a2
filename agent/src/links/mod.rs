//! Links, addresses, routes and sysctls: what the kernel has (`observe`),
//! what must change to match the plan (`diff`, pure), and doing it
//! (`netlink`, `apply`), plus watching for ports that appear later (`watch`).

pub mod apply;
pub mod diff;
mod dump;
pub mod netlink;
pub mod observe;
pub mod sysctl;
pub mod watch;

pub use netlink::{LinkError, Netlink};
pub use observe::{Kernel, Link};
