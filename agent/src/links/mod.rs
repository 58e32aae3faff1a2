//! Links, addresses, routes and sysctls: what the kernel has (`observe`),
//! what must change to match the plan (`diff`, pure), and doing it
//! (`netlink`, `apply`), plus watching for ports that appear later (`watch`).

pub(crate) mod apply;
pub(crate) mod clash;
pub(crate) mod diff;
mod dump;
pub(crate) mod netlink;
pub mod observe;
pub(crate) mod refuse;
pub(crate) mod sysctl;
pub(crate) mod vxlan;
pub(crate) mod watch;

pub use netlink::{LinkError, Netlink};
pub use observe::{Kernel, Link};
