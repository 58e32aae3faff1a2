//! The DHCPv6 pool of one network (RFC 8415, stateful): the addresses it
//! hands out and what goes with them, decided here from the config.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::config::{Dhcp6Host, Ipv6Range, LeaseTime, Network};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp6Pool {
    pub network: String,
    pub interface: String,
    /// The bridge's own IPv6 address.
    pub server: Ipv6Addr,
    pub prefix: Ipv6Net,
    pub ranges: Vec<Ipv6Range>,
    pub lease_time: LeaseTime,
    pub hosts: Vec<Dhcp6Host>,
    /// Option 23: the bridge's address when netagent serves DNS there.
    pub dns_servers: Vec<Ipv6Addr>,
    /// Option 24.
    pub domain: Option<String>,
}

pub(super) fn pool(n: &Network) -> Option<Dhcp6Pool> {
    let d = n.dhcp6.as_ref()?;
    let a6 = n.address6?;
    let dns = n.serves_dns();
    Some(Dhcp6Pool {
        network: n.name.clone(),
        interface: n.bridge.clone(),
        server: a6.addr(),
        prefix: a6.trunc(),
        ranges: d.ranges.clone(),
        lease_time: d.lease_time,
        hosts: d.hosts.clone(),
        dns_servers: if dns.is_some() {
            vec![a6.addr()]
        } else {
            Vec::new()
        },
        domain: dns.and_then(|d| d.domain.clone()),
    })
}
