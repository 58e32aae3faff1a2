//! The TOML schema exactly as users write it, with the byte span of every
//! value so that `netagent check` can point at file:line:col.
//!
//! Values that need parsing (addresses, MACs, durations, ranges) are kept as
//! spanned strings here and parsed in `check.rs`, so that one bad value does
//! not hide the next: the user sees every problem in one run.

use serde::Deserialize;
use toml::Spanned;

pub(super) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
pub(super) struct RawConfig {
    pub uplink: Option<S<RawUplink>>,
    #[serde(default)]
    pub network: Vec<S<RawNetwork>>,
    pub evpn: Option<S<RawEvpn>>,
    pub status: Option<S<RawStatus>>,
}

/// `[status]`: the status page and metrics endpoint.
#[derive(Debug, Deserialize)]
pub(super) struct RawStatus {
    #[serde(default)]
    pub listen: Vec<S<String>>,
    pub password: Option<S<String>>,
}

/// `[evpn]`: this host's BGP EVPN sessions, run by FRR's bgpd.
#[derive(Debug, Deserialize)]
pub(super) struct RawEvpn {
    pub asn: Option<S<i64>>,
    #[serde(default)]
    pub neighbors: Vec<S<String>>,
    pub router_id: Option<S<String>>,
    pub vtysh: Option<S<String>>,
    pub pathspace: Option<S<String>>,
}

/// `[network.span]`: the network continues on other hosts over VXLAN.
#[derive(Debug, Deserialize)]
pub(super) struct RawSpan {
    pub vni: Option<S<i64>>,
    pub local: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub peers: Option<Vec<S<String>>>,
    pub evpn: Option<S<bool>>,
    pub home: Option<S<String>>,
    pub underlay_mtu: Option<S<i64>>,
}

/// `[network.port_security]`: what guests' ports may send.
#[derive(Debug, Deserialize)]
pub(super) struct RawPortSecurity {
    pub enabled: Option<S<bool>>,
    #[serde(default)]
    pub trusted: Vec<S<String>>,
    pub leases_per_port: Option<S<i64>>,
    #[serde(default)]
    pub allow: Vec<S<RawAllow>>,
}

/// A guest that sets its own address: its MAC and the address it may use.
#[derive(Debug, Deserialize)]
pub(super) struct RawAllow {
    pub mac: Option<S<String>>,
    pub ip: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawUplink {
    pub interface: Option<S<String>>,
    pub mac: Option<S<String>>,
    pub path: Option<S<String>>,
    pub address: Option<S<String>>,
    pub gateway: Option<S<String>>,
    pub address6: Option<S<String>>,
    pub gateway6: Option<S<String>>,
    #[serde(default)]
    pub dns: Vec<S<String>>,
    #[serde(default)]
    pub ntp: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawNetwork {
    pub name: Option<S<String>>,
    pub kind: Option<S<String>>,
    pub bridge: Option<S<String>>,
    pub address: Option<S<String>>,
    pub address6: Option<S<String>>,
    pub mac: Option<S<String>>,
    pub mtu: Option<S<i64>>,
    pub stp: Option<S<bool>>,
    #[serde(default)]
    pub ports: Vec<S<String>>,
    pub port_isolation: Option<S<bool>>,
    pub egress: Option<S<String>>,
    pub adopt: Option<S<bool>>,
    pub serve_lan: Option<S<bool>>,
    pub libvirt: Option<S<bool>>,
    #[serde(default)]
    pub route: Vec<S<RawRoute>>,
    pub nat: Option<S<RawNat>>,
    pub dhcp: Option<S<RawDhcp>>,
    pub dhcp6: Option<S<RawDhcp6>>,
    pub dns: Option<S<RawDns>>,
    #[serde(default)]
    pub forward: Vec<S<RawForward>>,
    pub span: Option<S<RawSpan>>,
    pub port_security: Option<S<RawPortSecurity>>,
}

/// `[[network.forward]]`: a port of the appliance forwarded to a guest.
#[derive(Debug, Deserialize)]
pub(super) struct RawForward {
    pub protocol: Option<S<String>>,
    pub port: Option<S<PortValue>>,
    pub to: Option<S<String>>,
    pub to_port: Option<S<i64>>,
    #[serde(default)]
    pub from: Vec<S<String>>,
}

/// A port may be written `8080` or `"8000-8010"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum PortValue {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
pub(super) struct RawRoute {
    pub to: Option<S<String>>,
    pub via: Option<S<String>>,
    pub metric: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawNat {
    pub ports: Option<S<String>>,
    pub address: Option<S<String>>,
    pub ipv6: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDhcp {
    pub ranges: Option<Vec<S<String>>>,
    pub lease_time: Option<S<LeaseValue>>,
    pub router: Option<S<bool>>,
    pub domain: Option<S<String>>,
    pub dns_servers: Option<Vec<S<String>>>,
    pub mtu: Option<S<i64>>,
    pub classless_routes: Option<S<bool>>,
    pub pxe: Option<S<RawPxe>>,
    #[serde(default)]
    pub host: Vec<S<RawDhcpHost>>,
    #[serde(default)]
    pub option: Vec<S<RawDhcpOption>>,
}

/// `[network.dhcp6]`: stateful DHCPv6 on the network's IPv6 prefix.
#[derive(Debug, Deserialize)]
pub(super) struct RawDhcp6 {
    pub ranges: Option<Vec<S<String>>>,
    pub lease_time: Option<S<LeaseValue>>,
    #[serde(default)]
    pub host: Vec<S<RawDhcp6Host>>,
}

/// A fixed address for a client known by its DUID or its MAC.
#[derive(Debug, Deserialize)]
pub(super) struct RawDhcp6Host {
    pub duid: Option<S<String>>,
    pub mac: Option<S<String>>,
    pub ip: Option<S<String>>,
    pub name: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDhcpOption {
    pub code: Option<S<i64>>,
    pub name: Option<S<String>>,
    pub value: Option<S<String>>,
    pub force: Option<S<bool>>,
}

/// A lease time may be written `3600`, `"1h"`, `"infinite"` or `0`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum LeaseValue {
    Seconds(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
pub(super) struct RawPxe {
    pub file: Option<S<String>>,
    pub server: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDhcpHost {
    pub mac: Option<S<String>>,
    pub ip: Option<S<String>>,
    pub name: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDns {
    pub enabled: Option<S<bool>>,
    pub domain: Option<S<String>>,
    pub local_only: Option<S<bool>>,
    pub forward_plain_names: Option<S<bool>>,
    pub local_ptr: Option<S<bool>>,
    pub etc_hosts: Option<S<bool>>,
    #[serde(default)]
    pub forwarder: Vec<S<RawForwarder>>,
    #[serde(default)]
    pub host: Vec<S<RawDnsHost>>,
    #[serde(default)]
    pub srv: Vec<S<RawSrv>>,
    #[serde(default)]
    pub txt: Vec<S<RawTxt>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawForwarder {
    pub domain: Option<S<String>>,
    pub addr: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDnsHost {
    pub ip: Option<S<String>>,
    #[serde(default)]
    pub names: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSrv {
    pub service: Option<S<String>>,
    pub protocol: Option<S<String>>,
    pub domain: Option<S<String>>,
    pub target: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub priority: Option<S<i64>>,
    pub weight: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawTxt {
    pub name: Option<S<String>>,
    pub value: Option<S<String>>,
}
