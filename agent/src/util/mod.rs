//! Small helpers every layer uses, kept out of any one layer so that none
//! imports another for them.

pub mod clock_watch;
pub mod fs;
pub mod grid;
pub(crate) mod mmsg;
pub(crate) mod shelf;
#[allow(unsafe_code)]
pub mod sys;
pub mod time;
