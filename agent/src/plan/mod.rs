//! Config → Plan: the exact state the kernel and the servers must reach,
//! as plain data. Pure: no I/O, so every decision here is unit-tested.

pub mod delegated;
mod dhcp;
mod dhcp6;
pub mod dns;
pub mod guard;
pub mod ra;
pub mod span;

use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::config::{Addressing, Network};
use crate::config::{Config, Forward, Kind, MacAddr, Nat, UplinkInterface};

pub use dhcp::{DhcpOptions, DhcpPool};
pub use dhcp6::Dhcp6Pool;
pub use dns::{DnsZone, Record, RecordData};
pub use guard::PortGuard;
pub use ra::RaPlan;
pub use span::{EvpnPlan, SpanPlan};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub sysctls: Vec<Sysctl>,
    pub uplink: Option<UplinkPlan>,
    pub bridges: Vec<BridgePlan>,
    pub dhcp: Vec<DhcpPool>,
    pub dhcp6: Vec<Dhcp6Pool>,
    pub dns: Vec<DnsZone>,
    /// Router advertisements, one per network with an IPv6 prefix.
    pub ra: Vec<RaPlan>,
    /// Some network's IPv6 prefix is delegated: the uplink asks its router
    /// for one (DHCPv6 prefix delegation).
    pub wants_delegation: bool,
    /// The BGP EVPN sessions FRR runs for the EVPN-spanned networks.
    pub evpn: Option<EvpnPlan>,
    /// The networks whose guests' ports are guarded (port security).
    pub guards: Vec<PortGuard>,
}

/// A kernel setting: `path` is relative to /proc/sys (`net/ipv4/ip_forward`);
/// slashes, not dots, because interface names may contain dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub path: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkPlan {
    pub interface: UplinkInterface,
    pub addressing: Addressing,
    pub address6: Option<Ipv6Net>,
    pub gateway6: Option<std::net::Ipv6Addr>,
    pub dns: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    pub network: String,
    pub kind: Kind,
    pub name: String,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    /// STP when netagent makes the bridge, and on an existing one unless
    /// `keep_stp`.
    pub stp: bool,
    /// A host's own bridge (a `bridge` network) whose STP the config does
    /// not state: it stays as the admin set it.
    pub keep_stp: bool,
    pub address: Option<Ipv4Net>,
    pub address6: Option<Ipv6Net>,
    /// Names and globs of the interfaces to enslave, now and when they appear.
    pub ports: Vec<String>,
    pub port_isolation: bool,
    /// See `config::Network::egress`.
    pub egress: Option<String>,
    /// Manage the bridge of this name even if netagent did not create it.
    pub adopt: bool,
    /// libvirt's network names the bridge (`config::Network::libvirt`):
    /// never deleted, never recorded as netagent's own.
    pub libvirt: bool,
    pub routes: Vec<RoutePlan>,
    /// The firewall's part: NAT settings, port forwards, whether DNS serves.
    pub nat: Option<Nat>,
    pub forwards: Vec<Forward>,
    pub dns: bool,
    /// The network continues on other hosts through this VXLAN device.
    pub span: Option<SpanPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    pub to: Ipv4Net,
    pub via: Ipv4Addr,
    pub metric: Option<u32>,
    /// The bridge the gateway is reached through.
    pub dev: String,
}

/// The plan with the uplink's delegated IPv6 prefix, if any (see
/// `delegated.rs`): the networks with `address6 = "pd"` take their /64s.
pub fn plan_with(cfg: &Config, delegated: Option<Ipv6Net>) -> Plan {
    plan(&delegated::with_prefix(cfg, delegated))
}

pub fn plan(cfg: &Config) -> Plan {
    let view = span::local_view(cfg);
    let cfg = view.as_ref();
    let bridges: Vec<BridgePlan> = cfg
        .networks
        .iter()
        .map(|n| bridge(n, cfg.evpn.as_ref()))
        .collect();
    let guards = cfg
        .networks
        .iter()
        .zip(&bridges)
        .filter_map(|(n, b)| guard::guard(n, b.mac, b.span.as_ref().map(|s| s.device.as_str())))
        .collect();
    Plan {
        sysctls: sysctls(cfg),
        uplink: cfg.uplink.as_ref().map(|u| UplinkPlan {
            interface: u.interface.clone(),
            addressing: u.addressing.clone(),
            address6: u.address6,
            gateway6: u.gateway6,
            dns: u.dns.clone(),
        }),
        bridges,
        dhcp: cfg.networks.iter().filter_map(dhcp::pool).collect(),
        dhcp6: cfg.networks.iter().filter_map(dhcp6::pool).collect(),
        ra: cfg.networks.iter().filter_map(ra::advertisement).collect(),
        wants_delegation: cfg.networks.iter().any(|n| n.delegated.is_some()),
        guards,
        evpn: span::evpn(cfg),
        dns: {
            let host_mode = cfg
                .uplink
                .as_ref()
                .is_some_and(|u| u.addressing == crate::config::Addressing::Host);
            cfg.networks
                .iter()
                .filter_map(|n| dns::zone(n, host_mode))
                .collect()
        },
    }
}

fn bridge(n: &Network, evpn: Option<&crate::config::Evpn>) -> BridgePlan {
    let span = span::device(n, evpn);
    // The VXLAN device is one of the bridge's ports, named outright.
    let ports = n
        .ports
        .iter()
        .cloned()
        .chain(span.as_ref().map(|s| s.device.clone()))
        .collect();
    BridgePlan {
        network: n.name.clone(),
        kind: n.kind,
        name: n.bridge.clone(),
        mac: n
            .mac
            .or_else(|| (n.kind != Kind::Bridge).then(|| stable_mac(&n.bridge))),
        mtu: n.mtu,
        stp: n.stp_on(),
        keep_stp: n.kind == Kind::Bridge && n.stp.is_none(),
        address: n.address,
        address6: n.address6,
        ports,
        port_isolation: n.port_isolation,
        egress: n.egress.clone(),
        adopt: n.adopt || n.libvirt,
        libvirt: n.libvirt,
        routes: n
            .routes
            .iter()
            .map(|r| RoutePlan {
                to: r.to,
                via: r.via,
                metric: r.metric,
                dev: n.bridge.clone(),
            })
            .collect(),
        nat: n.nat.clone(),
        forwards: n.forwards.clone(),
        dns: n.serves_dns().is_some(),
        span,
    }
}

/// A bridge without a configured MAC would take its lowest port's, and change
/// it whenever ports come and go, confusing every guest's ARP cache. libvirt
/// stores a random 52:54:00 MAC; we derive one from the bridge's name, so it is
/// stable across restarts and reboots without any state.
pub fn stable_mac(bridge: &str) -> MacAddr {
    // FNV-1a: small, stable across Rust versions (unlike DefaultHasher).
    let mut h: u32 = 0x811c_9dc5;
    for b in bridge.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [_, a, b, c] = h.to_be_bytes();
    MacAddr([0x52, 0x54, 0x00, a, b, c])
}

fn sysctls(cfg: &Config) -> Vec<Sysctl> {
    let mut out = Vec::new();
    // As libvirt: forwarding on for every virtual network but an isolated
    // one (an open network's guests are routed too, with no rules at all).
    // A spanned network's bridge on a host that is not its home only
    // carries frames: nothing is routed for it here.
    let routed = |n: &&Network| {
        matches!(n.kind, Kind::Nat | Kind::Route | Kind::Open) && n.span.as_ref().is_none_or(|s| s.is_home())
    };
    if cfg.networks.iter().any(|n| routed(&n)) {
        out.push(Sysctl {
            path: "net/ipv4/ip_forward".into(),
            value: "1".into(),
        });
    }
    // IPv6 forwarding as IPv4's, for the networks that have a prefix.
    if cfg
        .networks
        .iter()
        .any(|n| n.address6.is_some() && matches!(n.kind, Kind::Nat | Kind::Route | Kind::Open))
    {
        out.push(Sysctl {
            path: "net/ipv6/conf/all/forwarding".into(),
            value: "1".into(),
        });
    }
    for n in cfg.networks.iter().filter(|n| n.kind != Kind::Bridge) {
        // Like libvirt for IPv4-only networks: no IPv6 on the guest
        // bridge, so guests get no link-local path around the IPv4 rules.
        let v6 = n.address6.is_some();
        out.push(Sysctl {
            path: format!("net/ipv6/conf/{}/disable_ipv6", n.bridge),
            value: if v6 { "0" } else { "1" }.into(),
        });
        if v6 {
            // netagent is the router here: a guest's advertisement must
            // not give the host a route or an address.
            out.push(Sysctl {
                path: format!("net/ipv6/conf/{}/accept_ra", n.bridge),
                value: "0".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
