//! The configuration users edit: one TOML file describing the uplink and any
//! number of networks. `parse` turns text into a checked `Config` or into
//! every problem found, each with file:line:col.

pub(crate) mod check;
mod cross;
mod default;
pub mod dhcp_option;
pub mod diff;
pub mod hosts;
pub mod ifname;
mod model;
pub mod port_security;
mod problem;
mod raw;
mod span;
mod status;
pub mod units;
mod unknown;
pub mod write;

use std::path::{Path, PathBuf};

pub use check::{NonBridge, DEFAULT_LEASE};
pub use default::default_config;
pub use model::*;
pub use problem::{line_col, Problem, Problems};
pub use units::{Ipv4Range, Ipv6Range, LeaseTime, MacAddr, PortRange};

use problem::Collector;
use serde::Deserialize;

/// Where the host daemon looks when no file is named.
pub const SYSTEM_CONFIG: &str = "/etc/netagent/netagent.toml";

/// Parse and check config text. `file` names it in problems.
pub fn parse(src: &str, file: &str) -> Result<Config, Problems> {
    parse_on_host(src, file, &|_| None)
}

/// `parse`, and refuse bridge names that are links of another kind on
/// this host (what `host` says).
pub fn parse_on_host(src: &str, file: &str, host: NonBridge<'_>) -> Result<Config, Problems> {
    let mut c = Collector::new(src);
    let de = match toml::Deserializer::parse(src) {
        Ok(de) => de,
        Err(e) => return Err(syntax_problem(&mut c, &e, file)),
    };
    let raw = match raw::RawConfig::deserialize(de) {
        Ok(r) => r,
        Err(e) => return Err(syntax_problem(&mut c, &e, file)),
    };
    let names: Vec<Option<String>> = raw
        .network
        .iter()
        .map(|n| n.get_ref().name.as_ref().map(|v| v.get_ref().clone()))
        .collect();
    if let Ok(doc) = toml::de::DeTable::parse(src) {
        unknown::report(&mut c, doc.get_ref(), &names);
    }

    let mut ck = check::Checker { c: &mut c, host };
    let uplink = raw.uplink.as_ref().and_then(|u| ck.uplink(u).map(|m| (u, m)));
    let mut nets: Vec<_> = raw
        .network
        .iter()
        .enumerate()
        .filter_map(|(i, n)| ck.network(n, i).map(|m| (n, m)))
        .collect();
    let evpn = raw.evpn.as_ref().and_then(|e| ck.evpn(e).map(|m| (e, m)));
    let status = raw.status.as_ref().and_then(|s| {
        let nets: Vec<&Network> = nets.iter().map(|(_, n)| n).collect();
        ck.status(s, uplink.as_ref().map(|(_, u)| u), &nets)
    });
    span::settle(
        &mut c,
        uplink.as_ref().map(|(_, u)| u),
        evpn.as_ref().map(|(r, e)| (*r, e)),
        &mut nets,
    );
    if raw.network.is_empty() {
        c.add(
            0..0,
            "network",
            "no [[network]] is defined: add at least one (see config/nat.toml)",
        );
    }
    let pairs: Vec<_> = nets.iter().map(|(r, m)| (*r, m)).collect();
    cross::check_cross(&mut c, uplink.as_ref().map(|(r, m)| (*r, m)), &pairs);

    if !c.list.is_empty() {
        return Err(c.finish(file));
    }
    Ok(Config {
        uplink: uplink.map(|(_, u)| u),
        networks: nets.into_iter().map(|(_, n)| n).collect(),
        evpn: evpn.map(|(_, e)| e),
        status,
    })
}

fn syntax_problem(c: &mut Collector<'_>, e: &toml::de::Error, file: &str) -> Problems {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim().replace('\n', " ");
    c.add(span, "syntax", msg);
    std::mem::replace(c, Collector::new("")).finish(file)
}

/// Where a config comes from, for messages and for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Embedded,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Embedded => f.write_str("the embedded default"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("config {path}: {err}")]
    Read { path: String, err: std::io::Error },
    #[error("{0}")]
    Invalid(Problems),
}

impl LoadError {
    /// 2: the file cannot be read or fails the check; nothing was touched.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// Read and check the named file; with no name, the system file if it
/// exists, else the embedded default.
pub fn load(path: Option<&Path>) -> Result<(Config, Source), LoadError> {
    load_on_host(path, &|_| None)
}

/// `load`, with the host's links checked as `parse_on_host` does.
pub fn load_on_host(path: Option<&Path>, host: NonBridge<'_>) -> Result<(Config, Source), LoadError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new(SYSTEM_CONFIG).exists() => PathBuf::from(SYSTEM_CONFIG),
        None => return Ok((default_config(), Source::Embedded)),
    };
    let src = std::fs::read_to_string(&path).map_err(|err| LoadError::Read {
        path: path.display().to_string(),
        err,
    })?;
    let cfg = parse_on_host(&src, &path.display().to_string(), host).map_err(LoadError::Invalid)?;
    Ok((cfg, Source::File(path)))
}
