//! BGP EVPN for spanned networks, through FRR. netagent writes no overlay
//! protocol of its own: FRR's bgpd exchanges the guests' MACs (type-2
//! routes) and each host's flood membership (type-3) with the other hosts,
//! and zebra programs them into the VXLAN devices netagent made. netagent
//! keeps FRR's BGP sessions equal to the config (`sync`, pure) by running
//! FRR's own `vtysh` (`frr`), and reads the sessions' state back for
//! `netagent info`.

pub mod frr;
pub mod sync;

pub use frr::{EvpnError, Frr};
pub use sync::{FrrState, Neighbor};
