//! A local zone's own records. Each network with DNS serves up to two
//! zones: its domain (when it has one) and, with `local_ptr`, the reverse
//! zone of its subnet.
//! Each zone has a SOA and an NS at its apex, so `dig lab SOA` answers; its
//! SOA goes in the authority section of every negative answer, so caches
//! downstream keep the NXDOMAIN or NODATA for the zone's minimum TTL
//! instead of asking again (RFC 2308); and the names between the apex and
//! deeper names (`_tcp.lab` under `_http._tcp.lab`) exist with no data,
//! because NXDOMAIN would say nothing lies below them (RFC 8020).

use std::collections::HashSet;

use ipnet::Ipv4Net;

use crate::plan::{DnsZone, RecordData};

/// A zone's apex and what its SOA says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apex {
    pub name: String,
    /// The primary server: the bridge's own name, which resolves.
    pub mname: String,
    pub rname: String,
}

impl Apex {
    fn new(name: String, mname: &str) -> Apex {
        let rname = format!("hostmaster.{name}");
        Apex {
            name,
            mname: mname.to_string(),
            rname,
        }
    }

    pub fn soa(&self) -> RecordData {
        RecordData::Soa {
            mname: self.mname.clone(),
            rname: self.rname.clone(),
        }
    }

    pub fn ns(&self) -> RecordData {
        RecordData::Ns(self.mname.clone())
    }
}

/// The zones of one network and the empty names inside them.
#[derive(Debug)]
pub(crate) struct Apexes {
    forward: Option<Apex>,
    /// Only when the network answers its reverse zone alone (`local_ptr`):
    /// otherwise the zone is upstream's and netagent only adds its guests'
    /// names to it.
    reverse: Option<Apex>,
    empty: HashSet<String>,
}

/// The reverse zone that holds `subnet`: whole octets of its prefix
/// (10.0.0.0/24 → 0.0.10.in-addr.arpa; a /20 lies in its /16's zone).
pub(crate) fn reverse_apex(subnet: Ipv4Net) -> String {
    let o = subnet.network().octets();
    let k = usize::from(subnet.prefix_len() / 8).max(1);
    let mut labels: Vec<String> = o[..k].iter().rev().map(|b| b.to_string()).collect();
    labels.push("in-addr.arpa".into());
    labels.join(".")
}

fn under(name: &str, apex: &str) -> bool {
    name == apex || name.ends_with(&format!(".{apex}"))
}

impl Apexes {
    pub(crate) fn new(plan: &DnsZone, subnet: Ipv4Net) -> Apexes {
        let domain = plan.domain.as_deref().map(str::to_ascii_lowercase);
        let mname = match &domain {
            Some(d) => format!("{}.{d}", plan.interface.to_ascii_lowercase()),
            None => plan.interface.to_ascii_lowercase(),
        };
        let forward = domain.map(|d| Apex::new(d, &mname));
        let reverse = plan.local_ptr.then(|| Apex::new(reverse_apex(subnet), &mname));
        let names: HashSet<String> = plan.records.iter().map(|r| r.name.to_ascii_lowercase()).collect();
        let mut empty = HashSet::new();
        for n in &names {
            let apex = [forward.as_ref(), reverse.as_ref()]
                .into_iter()
                .flatten()
                .find(|a| under(n, &a.name));
            let Some(apex) = apex else { continue };
            let mut rest = n.as_str();
            while let Some((_, up)) = rest.split_once('.') {
                if up.len() <= apex.name.len() {
                    break;
                }
                if !names.contains(up) {
                    empty.insert(up.to_string());
                }
                rest = up;
            }
        }
        Apexes {
            forward,
            reverse,
            empty,
        }
    }

    /// The zone `name` (lower case, no final dot) lies in, if it is ours.
    pub(crate) fn zone_of(&self, name: &str) -> Option<&Apex> {
        [self.forward.as_ref(), self.reverse.as_ref()]
            .into_iter()
            .flatten()
            .find(|a| under(name, &a.name))
    }

    /// The zone whose apex `name` is.
    pub(crate) fn apex(&self, name: &str) -> Option<&Apex> {
        self.zone_of(name).filter(|a| a.name == name)
    }

    /// Whether `name` has no records but names below it do.
    pub(crate) fn is_empty_nonterminal(&self, name: &str) -> bool {
        self.empty.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_zones_follow_whole_octets() {
        let r = |s: &str| reverse_apex(s.parse().unwrap());
        assert_eq!(r("192.168.122.0/24"), "122.168.192.in-addr.arpa");
        assert_eq!(r("10.77.0.0/16"), "77.10.in-addr.arpa");
        assert_eq!(r("10.77.16.0/20"), "77.10.in-addr.arpa");
        assert_eq!(r("10.77.0.128/25"), "0.77.10.in-addr.arpa");
    }
}
