//! The DNS zone of one network: the records it serves from the config (the
//! DHCP server adds leases' names at run time) and where other names go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{Forwarder, Kind, Network};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsZone {
    pub network: String,
    pub interface: String,
    pub listen: Ipv4Addr,
    /// The bridge's IPv6 address, listened on too.
    pub listen6: Option<Ipv6Addr>,
    pub domain: Option<String>,
    /// Unknown names in `domain` get NXDOMAIN instead of being forwarded.
    pub local_only: bool,
    /// Whether anything is forwarded at all (isolated networks: no).
    pub forward: bool,
    /// See `config::Dns`.
    pub forward_plain_names: bool,
    pub local_ptr: bool,
    pub etc_hosts: bool,
    pub forwarders: Vec<Forwarder>,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Fully qualified, without the trailing dot.
    pub name: String,
    pub data: RecordData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Txt(String),
    /// A local zone's own SOA and NS records, at its apex. Made by the DNS
    /// server for each zone it serves (`dns/apex.rs`), never from config.
    Soa {
        mname: String,
        rname: String,
    },
    Ns(String),
}

/// `name` qualified with the network's domain, unless it already has dots.
fn qualify(name: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) if !name.contains('.') => format!("{name}.{d}"),
        _ => name.to_string(),
    }
}

/// The zone with the host's /etc/hosts entries (address, names) added, as
/// libvirt's dnsmasq serves them: each name, and a plain name also in the
/// network's domain; a PTR for the first name. A name the config gives
/// already keeps the config's address.
pub fn with_hosts(z: &DnsZone, entries: &[(Ipv4Addr, Vec<String>)]) -> DnsZone {
    let mut out = z.clone();
    if !z.etc_hosts {
        return out;
    }
    let taken: std::collections::HashSet<String> =
        z.records.iter().map(|r| r.name.to_ascii_lowercase()).collect();
    let domain = z.domain.as_deref();
    for (ip, names) in entries {
        let mut first = true;
        for name in names {
            let name = name.to_ascii_lowercase();
            if taken.contains(&name) || taken.contains(&qualify(&name, domain)) {
                continue;
            }
            host(&mut out.records, *ip, &name, domain, first);
            first = false;
        }
    }
    out
}

pub fn reverse_name(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
}

/// `...8.b.d.0.1.0.0.2.ip6.arpa`: one label per nibble, lowest first.
pub fn reverse_name6(ip: Ipv6Addr) -> String {
    let mut out = String::with_capacity(72);
    for b in ip.octets().iter().rev() {
        out.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
    }
    out.push_str("ip6.arpa");
    out
}

/// An A (or AAAA) record for the name (and its short form) and a PTR for
/// the address.
fn host(records: &mut Vec<Record>, ip: impl Into<IpAddr>, name: &str, domain: Option<&str>, with_ptr: bool) {
    let ip = ip.into();
    let (data, reverse) = match ip {
        IpAddr::V4(a) => (RecordData::A(a), reverse_name(a)),
        IpAddr::V6(a) => (RecordData::Aaaa(a), reverse_name6(a)),
    };
    let fq = qualify(name, domain);
    if fq != name {
        records.push(Record {
            name: name.to_string(),
            data: data.clone(),
        });
    }
    records.push(Record {
        name: fq.clone(),
        data,
    });
    if with_ptr {
        records.push(Record {
            name: reverse,
            data: RecordData::Ptr(fq),
        });
    }
}

/// `host_mode`: the uplink is the host's (its address is "host"), so the
/// host's /etc/hosts is served unless the config says otherwise.
pub fn zone(n: &Network, host_mode: bool) -> Option<DnsZone> {
    let d = n.serves_dns()?;
    let addr = n.address?;
    let domain = d.domain.as_deref();
    let mut records = Vec::new();
    // The bridge's own name resolves, so guests can name their gateway.
    host(&mut records, addr.addr(), &n.bridge, domain, true);
    if let Some(a6) = n.address6 {
        host(&mut records, a6.addr(), &n.bridge, domain, true);
    }
    if let Some(dhcp) = &n.dhcp {
        for h in &dhcp.hosts {
            if let Some(name) = &h.name {
                host(&mut records, h.ip, name, domain, true);
            }
        }
    }
    if let Some(dhcp6) = &n.dhcp6 {
        for h in &dhcp6.hosts {
            if let Some(name) = &h.name {
                host(&mut records, h.ip, name, domain, true);
            }
        }
    }
    for h in &d.hosts {
        for (i, name) in h.names.iter().enumerate() {
            host(&mut records, h.ip, name, domain, i == 0);
        }
    }
    for s in &d.srv {
        let base = s.domain.as_deref().or(domain);
        let name = match base {
            Some(b) => format!("_{}._{}.{b}", s.service, s.protocol),
            None => format!("_{}._{}", s.service, s.protocol),
        };
        records.push(Record {
            name,
            data: RecordData::Srv {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: s
                    .target
                    .as_deref()
                    .map(|t| qualify(t, domain))
                    .unwrap_or_else(|| ".".into()),
            },
        });
    }
    for t in &d.txt {
        records.push(Record {
            name: qualify(&t.name, domain),
            data: RecordData::Txt(t.value.clone()),
        });
    }
    // The plan is kept for the agent's life: no doubling room left over.
    records.shrink_to_fit();
    Some(DnsZone {
        network: n.name.clone(),
        interface: n.bridge.clone(),
        listen: addr.addr(),
        listen6: n.address6.map(|a| a.addr()),
        domain: d.domain.clone(),
        local_only: d.local_only,
        forward: n.kind != Kind::Isolated,
        forward_plain_names: d.forward_plain_names,
        local_ptr: d.local_ptr,
        etc_hosts: d.etc_hosts.unwrap_or(host_mode),
        forwarders: d.forwarders.clone(),
        records,
    })
}
