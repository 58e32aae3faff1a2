//! The appliance's clock. A box booted from a stick has only its RTC, which
//! may be years off (a flat battery, a board never set); lease times shown
//! and written, log lines and the status page all read the wall clock. So
//! on the appliance netagent sets it by SNTP from the servers the uplink's
//! DHCP names (option 42), else from `[uplink] ntp`. On an ordinary host
//! the host's own time service owns the clock and this does nothing.

pub mod sntp;
mod sync;

pub use sync::run;
