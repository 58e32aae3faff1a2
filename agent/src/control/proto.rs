//! What travels over the control socket. The answers are the same structures
//! `--json` prints, so scripts see exactly what the agent knows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    List,
    Info {
        network: String,
    },
    /// The NICs and their roles.
    Nics,
    Leases {
        network: Option<String>,
    },
    /// End the leases of an address or a MAC (in one network, or in all),
    /// as if their clients had released them.
    Release {
        network: Option<String>,
        target: String,
    },
    Status,
    /// Check the config (the agent's own, or `file`) and apply the
    /// difference; with `dry_run`, only say what would change.
    Reload {
        dry_run: bool,
        file: Option<PathBuf>,
    },
    /// libvirt's hook: a domain's port was made or is gone.
    LibvirtPort {
        port: crate::libvirt::hook::PortEvent,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Response {
    pub fn data<T: Serialize>(v: &T) -> Response {
        match serde_json::to_value(v) {
            Ok(data) => Response {
                ok: true,
                error: None,
                data,
            },
            Err(e) => Response::error(format!("cannot encode the answer: {e}")),
        }
    }

    pub fn error(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            data: serde_json::Value::Null,
        }
    }
}

/// One row of `netagent list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRow {
    pub name: String,
    pub kind: String,
    pub bridge: String,
    pub address: Option<String>,
    /// active (bridge up), down, or missing.
    pub state: String,
    pub leases: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkInfo {
    pub interface: Option<String>,
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub addressing: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpInfo {
    /// "serving", or why not ("waiting: dhcp lab: socket on virbr1: ...").
    pub state: String,
    pub ranges: Vec<String>,
    pub lease_time: String,
    pub static_hosts: usize,
    pub leases: usize,
    pub router: Option<String>,
    pub dns_servers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsInfo {
    /// "serving", or why not.
    pub state: String,
    pub listen: String,
    pub domain: Option<String>,
    pub local_only: bool,
    pub forwarders: Vec<String>,
}

/// Whether a network's DHCP and DNS servers run, as the agent sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub dhcp: Option<Result<(), String>>,
    pub dns: Option<Result<(), String>>,
    pub ra: Option<Result<(), String>>,
    pub dhcp6: Option<Result<(), String>>,
}

/// IPv6 on a network: its address, how guests get theirs, and the state
/// of the router advertisements and DHCPv6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Info {
    /// The bridge's address, or why there is none yet (a delegated
    /// prefix not given yet).
    pub address: String,
    /// "SLAAC", "DHCPv6 (ranges ...)".
    pub addressing: String,
    pub advertisements: String,
    pub dhcp6: Option<String>,
}

/// `netagent info NETWORK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    #[serde(flatten)]
    pub row: NetworkRow,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub stp: bool,
    /// The config's port names and patterns.
    pub port_patterns: Vec<String>,
    /// The interfaces attached to the bridge now.
    pub ports: Vec<String>,
    pub port_isolation: bool,
    /// The uplink the network's traffic leaves by (nat and route).
    pub uplink: Option<UplinkInfo>,
    pub nat: Option<String>,
    pub routes: Vec<String>,
    pub forwards: Vec<String>,
    pub dhcp: Option<DhcpInfo>,
    pub dns: Option<DnsInfo>,
    #[serde(default)]
    pub ipv6: Option<Ipv6Info>,
    #[serde(default)]
    pub span: Option<SpanInfo>,
    /// Adopted from libvirt (`libvirt = true`).
    #[serde(default)]
    pub libvirt: bool,
    /// Port security: on (with its ports) or off.
    #[serde(default)]
    pub port_security: Option<PortSecurityInfo>,
}

/// What port security allows each port of a network, and what it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSecurityInfo {
    pub trusted: Vec<String>,
    pub leases_per_port: u32,
    pub ports: Vec<PortRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRow {
    pub port: String,
    /// guest, segment (a NIC: servers stopped only) or trusted.
    pub role: String,
    /// The MAC pinned on a guest port (its first), once it has spoken.
    pub mac: Option<String>,
    /// The addresses it may use (its leases and declared ones); none: any
    /// not held by another.
    pub addresses: Vec<String>,
    /// Frames dropped: from another MAC, as a server or router, from an
    /// address not its own.
    pub dropped_mac: u64,
    pub dropped_server: u64,
    pub dropped_address: u64,
    /// DHCP requests refused (for another's lease or MAC, or over its share).
    pub dhcp_refused: u64,
}

/// A spanned network's VXLAN side: its VNI, this host's part, and each
/// other host with what is known of it (in the flood list; the BGP state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanInfo {
    pub vni: u32,
    pub device: String,
    pub local: String,
    /// `10.0.0.1 (this host)` or `10.0.0.1`.
    pub home: String,
    /// `static peers` or `evpn`.
    pub flood: String,
    pub peers: Vec<PeerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub addr: String,
    /// `in flood list` / `not in flood list` (static), or the BGP
    /// session's state as FRR reports it.
    pub state: String,
}

/// One NIC of `netagent info` (no network named) and of the table the
/// agent logs at start: what it is, where it sits, and what netagent
/// made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicRow {
    pub name: String,
    pub driver: Option<String>,
    pub mac: Option<String>,
    /// Its bus address (`0000:00:02.0`), or the device path.
    pub bus: String,
    pub carrier: Option<bool>,
    /// `uplink`, `port of virbr0`, or `unused`.
    pub role: String,
}

/// `netagent status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    /// Unix seconds.
    pub since: u64,
    pub config: String,
    pub networks: usize,
    /// What is wrong now: failed reconciles, servers that cannot start,
    /// other firewalls that drop our networks' traffic.
    pub errors: Vec<String>,
    /// Every error met since the start, once each when it began, and what
    /// happened to netagent's own objects (its table removed by someone),
    /// newest last ("2026-11-28 03:00:00 UTC: ...").
    #[serde(default)]
    pub recent: Vec<String>,
    /// The last reload and how it went.
    pub last_reload: Option<String>,
    /// What is not wrong yet but soon will be: a DHCP pool over 90 % full.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What a reload did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    pub applied: bool,
    pub config: String,
    pub changes: Vec<String>,
    pub errors: Vec<String>,
}
