//! The control socket: `netagent list`, `info`, `leases`, `status`, `reload`
//! and `diff` ask the running agent over a unix socket in its state
//! directory, readable by root only. One JSON request line, one JSON answer.

pub mod client;
pub mod proto;
pub(crate) mod server;
pub mod view;

use std::path::{Path, PathBuf};

pub const SOCKET: &str = "netagent.sock";

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}
