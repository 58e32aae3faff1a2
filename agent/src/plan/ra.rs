//! The router advertisements of one network (RFC 4861, RFC 8106): what
//! netagent announces on its bridge, decided here from the config.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::config::{Kind, Network};

/// libvirt's and radvd's router lifetime: three times the longest interval
/// between unsolicited advertisements (600 s).
pub const ROUTER_LIFETIME: u16 = 1800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaPlan {
    pub network: String,
    pub interface: String,
    /// The guests' prefix (fd00:122::/64).
    pub prefix: Ipv6Net,
    /// Guests make their own addresses in it (the A flag): a /64 without
    /// DHCPv6 handing out addresses.
    pub autonomous: bool,
    /// Addresses come from DHCPv6 (the M flag).
    pub managed: bool,
    /// Other settings come from DHCPv6 (the O flag).
    pub other: bool,
    /// 0 on an isolated network: guests take no default route through it.
    pub router_lifetime: u16,
    pub mtu: Option<u32>,
    /// RDNSS: the bridge's own address when netagent serves DNS there.
    pub dns: Vec<Ipv6Addr>,
    /// DNSSL: the network's DNS domain.
    pub search: Vec<String>,
}

pub(super) fn advertisement(n: &Network) -> Option<RaPlan> {
    if !n.advertises() {
        return None;
    }
    let addr = n.address6?;
    let dns_on = n.serves_dns().is_some();
    // With DHCPv6 the addresses come from it (as libvirt's dnsmasq does
    // with a DHCPv6 range): the M and O flags, no SLAAC.
    let dhcp6 = n.dhcp6.is_some();
    Some(RaPlan {
        network: n.name.clone(),
        interface: n.bridge.clone(),
        prefix: addr.trunc(),
        autonomous: addr.prefix_len() == 64 && !dhcp6,
        managed: dhcp6,
        other: dhcp6,
        router_lifetime: match n.kind {
            Kind::Nat | Kind::Route | Kind::Open => ROUTER_LIFETIME,
            Kind::Isolated | Kind::Bridge => 0,
        },
        mtu: n.mtu,
        dns: if dns_on { vec![addr.addr()] } else { Vec::new() },
        search: n
            .serves_dns()
            .and_then(|d| d.domain.clone())
            .into_iter()
            .collect(),
    })
}
