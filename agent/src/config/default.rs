//! The network netagent runs when no file is given: libvirt's `default`
//! network. `config/default.toml` writes the same thing out, and a test keeps
//! the two equal.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::check::{default_ranges, DEFAULT_LEASE};
use super::ifname::ALL_NICS;
use super::model::*;

pub fn default_config() -> Config {
    let address = Ipv4Net::new(Ipv4Addr::new(192, 168, 122, 1), 24).unwrap_or_default();
    Config {
        uplink: Some(Uplink {
            interface: UplinkInterface::Auto,
            addressing: Addressing::Dhcp,
            address6: None,
            gateway6: None,
            dns: Vec::new(),
            ntp: Vec::new(),
        }),
        networks: vec![Network {
            name: "default".into(),
            kind: Kind::Nat,
            bridge: "virbr0".into(),
            address: Some(address),
            address6: None,
            delegated: None,
            dhcp6: None,
            mac: None,
            mtu: None,
            stp: None,
            ports: vec!["vnet*".into(), ALL_NICS.into()],
            port_isolation: false,
            egress: None,
            adopt: false,
            serve_lan: false,
            libvirt: false,
            port_security: crate::config::PortSecurity::default_for(crate::config::Kind::Nat),
            routes: Vec::new(),
            nat: Some(Nat::default()),
            dhcp: Some(Dhcp {
                options: Vec::new(),
                ranges: default_ranges(address),
                lease_time: DEFAULT_LEASE,
                router: true,
                domain: None,
                dns_servers: Vec::new(),
                mtu: None,
                classless_routes: false,
                pxe: None,
                hosts: Vec::new(),
            }),
            dns: Some(Dns::on()),
            forwards: Vec::new(),
            span: None,
        }],
        evpn: None,
        status: None,
    }
}
