//! The DHCP pool of one network: what the server hands out and which options
//! go with it, decided here from the config.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::{DhcpHost, Ipv4Range, LeaseTime, Network, Pxe};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpPool {
    pub network: String,
    pub interface: String,
    /// The server's own address on the bridge (option 54).
    pub server: Ipv4Addr,
    pub subnet: Ipv4Net,
    pub ranges: Vec<Ipv4Range>,
    pub lease_time: LeaseTime,
    pub hosts: Vec<DhcpHost>,
    pub options: DhcpOptions,
    /// Guests here are named by others too (libvirt's domains, for a
    /// `libvirt = true` network): DNS hears of every lease kept when the
    /// server starts, not only of those whose guest sent a name.
    pub announce_nameless: bool,
    /// Port security: at most this many leases per guest port, and a
    /// lease is acted on only from the port that holds it. None: no guard.
    pub leases_per_port: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOptions {
    /// Option 3; none on isolated networks.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 26.
    pub mtu: Option<u32>,
    /// Option 121: (destination, gateway).
    pub classless_routes: Vec<(Ipv4Net, Ipv4Addr)>,
    pub pxe: Option<Pxe>,
    /// Options set by hand, encoded: sent to a client that asks for them
    /// (option 55), or to every client when forced.
    pub extra: Vec<ExtraOption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraOption {
    pub code: u8,
    pub data: Vec<u8>,
    pub force: bool,
}

pub(super) fn pool(n: &Network) -> Option<DhcpPool> {
    let d = n.dhcp.as_ref()?;
    let addr = n.address?;
    let dns_on = n.serves_dns().is_some();
    let dns_servers = if !d.dns_servers.is_empty() {
        d.dns_servers.clone()
    } else if dns_on {
        vec![addr.addr()]
    } else {
        Vec::new()
    };
    let mut classless: Vec<(Ipv4Net, Ipv4Addr)> = Vec::new();
    if d.classless_routes {
        classless = n.routes.iter().map(|r| (r.to, r.via)).collect();
        // RFC 3442: a client that takes option 121 ignores option 3, so the
        // default route must be in the list too.
        if d.router {
            classless.push((Ipv4Net::default(), addr.addr()));
        }
    }
    Some(DhcpPool {
        network: n.name.clone(),
        interface: n.bridge.clone(),
        server: addr.addr(),
        subnet: addr.trunc(),
        ranges: d.ranges.clone(),
        lease_time: d.lease_time,
        hosts: d.hosts.clone(),
        announce_nameless: n.libvirt,
        leases_per_port: n.port_security.enabled.then_some(n.port_security.leases_per_port),
        options: DhcpOptions {
            router: d.router.then_some(addr.addr()),
            dns_servers,
            domain: d.domain.clone(),
            mtu: d.mtu.or(n.mtu),
            classless_routes: classless,
            pxe: d.pxe.clone(),
            // The check encoded each value once already: none fails here.
            extra: d
                .options
                .iter()
                .filter_map(|o| {
                    crate::config::dhcp_option::encode(o.code, &o.value)
                        .ok()
                        .map(|data| ExtraOption {
                            code: o.code,
                            data,
                            force: o.force,
                        })
                })
                .collect(),
        },
    })
}
