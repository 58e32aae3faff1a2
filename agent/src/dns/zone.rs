//! A network's names and what to do with a query. Pure and unit-tested.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hickory_server::proto::rr::RecordType;
use ipnet::Ipv4Net;

use super::apex::{Apex, Apexes};
use crate::config::MacAddr;
use crate::plan::{DnsZone, RecordData};

/// The zone as loaded from the plan: static records, indexed by name.
#[derive(Debug)]
pub struct Zone {
    /// Shared with the DNS service's spec: the records are held once.
    pub plan: Arc<DnsZone>,
    pub subnet: Ipv4Net,
    /// Lower-cased name -> positions of its records in `plan.records`.
    records: HashMap<Box<str>, smallvec::SmallVec<[u32; 2]>>,
    apexes: Apexes,
}

/// Names DHCP clients gave (`web` at 10.0.0.5), kept apart from the static
/// records so a lease costs one map update, not a zone rebuild.
#[derive(Debug, Default)]
pub struct LeaseNames {
    inner: RwLock<LeaseMap>,
    /// Bumped on every change (and on zone reloads): cached answers made
    /// under an older generation are not reused.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct LeaseMap {
    /// address → the name its lease gave, and the MAC of its guest
    by_ip: HashMap<IpAddr, (String, Option<MacAddr>)>,
    /// name (short and qualified) → addresses (A and AAAA)
    names: HashMap<String, Vec<IpAddr>>,
    /// Names refused to a lease, so the refusal is logged once, not at
    /// every renewal.
    refused: HashMap<IpAddr, String>,
}

/// Names a guest may never take: what browsers and resolvers ask for on
/// their own (a guest answering `wpad` would proxy everyone's web traffic).
const RESERVED: &[&str] = &["localhost", "wpad", "isatap", "local"];

/// What became of a lease's hostname.
#[derive(Debug, PartialEq, Eq)]
pub enum Named {
    /// It resolves now.
    Added,
    /// Refused, and why; the first time for this lease.
    Refused(String),
    /// Refused before, for the same lease and name.
    StillRefused,
}

impl LeaseNames {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Give `ip` the name `host`, unless it is reserved or another guest's
    /// live lease holds it (first holder wins, as dnsmasq does). A static
    /// record of the same name always wins too (see `decide`).
    pub fn add(&self, ip: impl Into<IpAddr>, host: &str, domain: Option<&str>) -> Named {
        self.add_unless(ip, host, domain, None, None)
    }

    /// `add` for the guest with `mac`, refusing with `taken` when the
    /// caller knows the name is another network's (one that shares the
    /// domain). One guest's DHCP and DHCPv6 leases share its name (A and
    /// AAAA); a name held by an address of another guest, or of a guest
    /// whose MAC is unknown, is not given.
    pub fn add_unless(
        &self,
        ip: impl Into<IpAddr>,
        host: &str,
        domain: Option<&str>,
        mac: Option<MacAddr>,
        taken: Option<String>,
    ) -> Named {
        let ip = ip.into();
        self.remove(ip);
        let Ok(mut m) = self.inner.write() else {
            return Named::StillRefused;
        };
        let lower = host.to_ascii_lowercase();
        let why = if RESERVED.contains(&lower.as_str()) {
            Some(format!("`{host}` is a name no guest may take"))
        } else if taken.is_some() {
            taken
        } else {
            let same_guest = |a: &IpAddr| mac.is_some() && m.by_ip.get(a).is_some_and(|(_, o)| *o == mac);
            names_for(&lower, domain)
                .iter()
                .find_map(|n| {
                    m.names
                        .get(n)
                        .and_then(|ips| ips.iter().find(|a| **a != ip && !same_guest(a)))
                })
                .map(|holder| format!("`{host}` is held by {holder}"))
        };
        if let Some(why) = why {
            return if m.refused.insert(ip, lower.clone()).as_deref() == Some(&lower) {
                Named::StillRefused
            } else {
                Named::Refused(why)
            };
        }
        m.refused.remove(&ip);
        m.by_ip.insert(ip, (lower.clone(), mac));
        for n in names_for(&lower, domain) {
            m.names.entry(n).or_default().push(ip);
        }
        self.bump();
        Named::Added
    }

    pub fn remove(&self, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        let Ok(mut m) = self.inner.write() else { return };
        let Some((host, _)) = m.by_ip.remove(&ip) else {
            return;
        };
        self.bump();
        let keys: Vec<String> = m
            .names
            .keys()
            .filter(|k| *k == &host || k.starts_with(&format!("{host}.")))
            .cloned()
            .collect();
        for k in keys {
            if let Some(v) = m.names.get_mut(&k) {
                v.retain(|a| *a != ip);
                if v.is_empty() {
                    m.names.remove(&k);
                }
            }
        }
    }

    /// The lease is gone: its name, and any refusal remembered for it.
    pub fn gone(&self, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        self.remove(ip);
        if let Ok(mut m) = self.inner.write() {
            m.refused.remove(&ip);
        }
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.inner.read().ok()?.names.get(name).cloned()
    }

    fn host_of(&self, ip: IpAddr) -> Option<String> {
        self.inner.read().ok()?.by_ip.get(&ip).map(|(h, _)| h.clone())
    }

    /// Whether a lease in `net` has a name (and so a PTR record).
    fn any_named_in(&self, net: Ipv4Net) -> bool {
        self.inner.read().is_ok_and(|m| {
            m.by_ip
                .keys()
                .any(|ip| matches!(ip, IpAddr::V4(a) if net.contains(a)))
        })
    }
}

fn names_for(host: &str, domain: Option<&str>) -> Vec<String> {
    let mut v = vec![host.to_string()];
    if let Some(d) = domain {
        v.push(format!("{host}.{d}"));
    }
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Records for the question's name (type-filtered).
    Answer(Vec<RecordData>),
    /// The name exists here, but not with this type; the zone it is in
    /// (its SOA goes with the answer).
    NoData(Option<Apex>),
    /// No such name; the zone that says so, if it is one of ours.
    NxDomain(Option<Apex>),
    /// Isolated networks answer local names only.
    Refused,
    /// Ask these upstreams (in order, failing over).
    Forward(Vec<IpAddr>),
}

fn type_of(r: &RecordData) -> RecordType {
    match r {
        RecordData::A(_) => RecordType::A,
        RecordData::Aaaa(_) => RecordType::AAAA,
        RecordData::Ptr(_) => RecordType::PTR,
        RecordData::Srv { .. } => RecordType::SRV,
        RecordData::Txt(_) => RecordType::TXT,
        RecordData::Soa { .. } => RecordType::SOA,
        RecordData::Ns(_) => RecordType::NS,
    }
}

/// Types a validating resolver asks of a zone's apex on its way down.
fn dnssec_type(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::DS
            | RecordType::DNSKEY
            | RecordType::SOA
            | RecordType::NS
            | RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::NSEC3PARAM
    )
}

fn under(name: &str, domain: &str) -> bool {
    name == domain || name.ends_with(&format!(".{domain}"))
}

impl Zone {
    pub fn new(plan: Arc<DnsZone>, subnet: Ipv4Net) -> Zone {
        let mut records: HashMap<Box<str>, smallvec::SmallVec<[u32; 2]>> =
            HashMap::with_capacity(plan.records.len());
        for (i, r) in plan.records.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            records
                .entry(r.name.to_ascii_lowercase().into_boxed_str())
                .or_default()
                .push(i);
        }
        records.shrink_to_fit();
        Zone {
            apexes: Apexes::new(&plan, subnet),
            plan,
            subnet,
            records,
        }
    }

    /// The configured records of `name` (lower-cased).
    fn records_of(&self, name: &str) -> Vec<RecordData> {
        self.records
            .get(name)
            .map(|ix| {
                ix.iter()
                    .filter_map(|i| self.plan.records.get(*i as usize))
                    .map(|r| r.data.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn reverse_zone_of_subnet(&self, name: &str) -> bool {
        // Reverse names of addresses in our subnet are ours to answer.
        let Some(rest) = name.strip_suffix(".in-addr.arpa") else {
            return false;
        };
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return false;
        }
        let o: Vec<u8> = parts.iter().rev().filter_map(|p| p.parse().ok()).collect();
        o.len() == 4 && self.subnet.contains(&Ipv4Addr::new(o[0], o[1], o[2], o[3]))
    }

    /// The addresses a reverse name of 1 to 3 octets stands for, when it
    /// lies at or below the apex of the subnet's reverse zone and above
    /// addresses of the subnet (`7.123.10.in-addr.arpa` of a /16).
    fn reverse_branch(&self, name: &str) -> Option<Ipv4Net> {
        let rest = name.strip_suffix(".in-addr.arpa")?;
        let octets: Vec<u8> = rest
            .split('.')
            .rev()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        if !(1..4).contains(&octets.len()) {
            return None;
        }
        let mut a = [0u8; 4];
        a[..octets.len()].copy_from_slice(&octets);
        let net = Ipv4Net::new(Ipv4Addr::from(a), 8 * octets.len() as u8).ok()?;
        let apex_len = 8 * (self.subnet.prefix_len() / 8).max(1);
        // Above the apex is the upstream's (the private ranges' RFC 6303
        // zones, which validators must see signed from above).
        let ours = net.prefix_len() >= apex_len
            && (net.contains(&self.subnet.network()) || self.subnet.contains(&net));
        ours.then_some(net)
    }

    /// Whether `name` is a branch of the subnet's reverse zone with a
    /// named address below it: a guest's lease or a configured host. It
    /// exists with no data (RFC 8020); NXDOMAIN, ours or the upstream's,
    /// would deny the PTR records this network serves.
    fn reverse_nonterminal(&self, leases: &LeaseNames, name: &str) -> bool {
        let Some(below) = self.reverse_branch(name) else {
            return false;
        };
        leases.any_named_in(below)
            || self
                .records
                .keys()
                .any(|n| reverse_ip(n).is_some_and(|ip| below.contains(&ip)))
    }

    /// Decide the answer to `qname`/`qtype`; `uplink_dns` are the resolvers
    /// the uplink learned or was given, the last fallback.
    pub fn decide(
        &self,
        leases: &LeaseNames,
        qname: &str,
        qtype: RecordType,
        uplink_dns: &[IpAddr],
    ) -> Decision {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        let mut found: Vec<RecordData> = self.records_of(&name);
        // A configured name (a static host, the bridge's own) is never
        // shared with a guest that claims it.
        if found.is_empty() {
            if let Some(ips) = leases.lookup(&name) {
                found.extend(ips.into_iter().map(|ip| match ip {
                    IpAddr::V4(a) => RecordData::A(a),
                    IpAddr::V6(a) => RecordData::Aaaa(a),
                }));
            }
        }
        // A DHCPv6 guest's address: its name, from its lease.
        if found.is_empty() {
            if let Some(host) = reverse_ip6(&name)
                .and_then(|ip| leases.host_of(IpAddr::V6(ip)))
                .filter(|h| !self.records.contains_key(h.as_str()))
            {
                found.push(RecordData::Ptr(match &self.plan.domain {
                    Some(d) => format!("{host}.{d}"),
                    None => host,
                }));
            }
        }
        if found.is_empty() && self.reverse_zone_of_subnet(&name) {
            let ip = reverse_ip(&name).map(IpAddr::V4);
            // A lease whose name is a configured one's has no name here.
            if let Some(host) = ip
                .and_then(|ip| leases.host_of(ip))
                .filter(|h| !self.records.contains_key(h.as_str()))
            {
                let fq = match &self.plan.domain {
                    Some(d) => format!("{host}.{d}"),
                    None => host,
                };
                found.push(RecordData::Ptr(fq));
            }
        }
        // A zone's apex has its SOA and NS.
        if let Some(a) = self.apexes.apex(&name) {
            found.push(a.soa());
            found.push(a.ns());
        }
        let zone = self.apexes.zone_of(&name).cloned();
        if !found.is_empty()
            || self.apexes.is_empty_nonterminal(&name)
            || self.reverse_nonterminal(leases, &name)
        {
            let typed: Vec<RecordData> = found
                .into_iter()
                .filter(|r| qtype == RecordType::ANY || type_of(r) == qtype)
                .collect();
            return if typed.is_empty() {
                Decision::NoData(zone)
            } else {
                Decision::Answer(typed)
            };
        }
        // The subnet's reverse names we do not know: NXDOMAIN when the
        // config says local_ptr (libvirt's localPtr='yes'), else upstream
        // like any name, as libvirt's dnsmasq sends them.
        if self.plan.local_ptr && (self.reverse_zone_of_subnet(&name) || self.reverse_branch(&name).is_some())
        {
            return Decision::NxDomain(zone);
        }
        if let Some(d) = &self.plan.domain {
            if self.plan.local_only && under(&name, d) {
                return Decision::NxDomain(zone);
            }
        }
        if !self.plan.forward {
            return Decision::Refused;
        }
        // Plain names without a dot go upstream as libvirt's dnsmasq sends
        // them, unless the config says forward_plain_names = false
        // (libvirt's forwardPlainNames='no'): then they can only be local,
        // and they were not. Even then the root and top-level domains are
        // asked for their DNSSEC records (DS, DNSKEY, SOA, NS...) by
        // validating guests: those go upstream.
        let plain = !(name.contains('.') || name.is_empty() || dnssec_type(qtype));
        if plain && !self.plan.forward_plain_names {
            return Decision::NxDomain(None);
        }
        // Per-domain forwarders: the longest matching domain wins.
        let mut best: Option<(&str, Option<IpAddr>)> = None;
        for f in &self.plan.forwarders {
            if let Some(d) = f.domain.as_deref() {
                if under(&name, d) && best.is_none_or(|(b, _)| d.len() > b.len()) {
                    best = Some((d, f.addr));
                }
            }
        }
        if let Some((d, addr)) = best {
            let addrs: Vec<IpAddr> = self
                .plan
                .forwarders
                .iter()
                .filter(|f| f.domain.as_deref() == Some(d))
                .filter_map(|f| f.addr)
                .collect();
            return match (addr, addrs.is_empty()) {
                // `<forwarder domain='x'/>` without an address: local only.
                (None, true) => Decision::NxDomain(None),
                _ => Decision::Forward(addrs),
            };
        }
        let mut up: Vec<IpAddr> = self
            .plan
            .forwarders
            .iter()
            .filter(|f| f.domain.is_none())
            .filter_map(|f| f.addr)
            .collect();
        if up.is_empty() {
            up = uplink_dns.to_vec();
        }
        if up.is_empty() {
            Decision::Refused
        } else {
            Decision::Forward(up)
        }
    }
}

fn reverse_ip(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rest
        .split('.')
        .rev()
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    (o.len() == 4).then(|| Ipv4Addr::new(o[0], o[1], o[2], o[3]))
}

/// The address of an ip6.arpa name of 32 nibbles.
fn reverse_ip6(name: &str) -> Option<std::net::Ipv6Addr> {
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut n: u128 = 0;
    for (i, x) in nibbles.iter().enumerate() {
        let v = u128::from_str_radix(x, 16).ok().filter(|_| x.len() == 1)?;
        n |= v << (4 * i);
    }
    Some(std::net::Ipv6Addr::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::plan::plan;

    /// The zone apex a negative answer from this test network names.
    fn lab() -> Option<Apex> {
        Some(Apex {
            name: "lab".into(),
            mname: "virbr0.lab".into(),
            rname: "hostmaster.lab".into(),
        })
    }

    fn rev() -> Option<Apex> {
        Some(Apex {
            name: "0.0.10.in-addr.arpa".into(),
            mname: "virbr0.lab".into(),
            rname: "hostmaster.0.0.10.in-addr.arpa".into(),
        })
    }

    fn zone(kind: &str, extra: &str) -> Zone {
        let src = format!(
            "[uplink]\n[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"virbr0\"\naddress = \"10.0.0.1/24\"\n\
             [network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.5\"\nname = \"db\"\n\
             [network.dns]\ndomain = \"lab\"\n{extra}"
        );
        let cfg = config::parse(&src, "t").unwrap_or_else(|p| panic!("{p}"));
        Zone::new(Arc::new(plan(&cfg).dns.remove(0)), "10.0.0.0/24".parse().unwrap())
    }

    const UP: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53))];

    #[test]
    fn a_guest_s_dhcpv6_lease_shares_its_name_and_no_other_guest_s() {
        let z = zone("nat", "");
        let l = LeaseNames::default();
        let mac = |n: u8| Some(MacAddr([0x52, 0x54, 0, 0, 0, n]));
        let v4: Ipv4Addr = "10.0.0.50".parse().unwrap();
        let v6: std::net::Ipv6Addr = "fd00::1234".parse().unwrap();
        assert_eq!(l.add_unless(v4, "web", Some("lab"), mac(1), None), Named::Added);
        // The same guest over DHCPv6: A and AAAA under one name.
        assert_eq!(l.add_unless(v6, "web", Some("lab"), mac(1), None), Named::Added);
        assert_eq!(
            z.decide(&l, "web.lab", RecordType::AAAA, &UP),
            Decision::Answer(vec![RecordData::Aaaa(v6)])
        );
        assert_eq!(
            z.decide(&l, "web.lab", RecordType::A, &UP),
            Decision::Answer(vec![RecordData::A(v4)])
        );
        let ptr = crate::plan::dns::reverse_name6(v6);
        assert_eq!(
            z.decide(&l, &ptr, RecordType::PTR, &UP),
            Decision::Answer(vec![RecordData::Ptr("web.lab".into())])
        );
        // Another guest, or one whose MAC is unknown, cannot add an AAAA
        // to a name that is someone else's.
        let other: std::net::Ipv6Addr = "fd00::9999".parse().unwrap();
        assert!(matches!(
            l.add_unless(other, "web", Some("lab"), mac(2), None),
            Named::Refused(_)
        ));
        let unknown: std::net::Ipv6Addr = "fd00::9998".parse().unwrap();
        assert!(matches!(
            l.add_unless(unknown, "web", Some("lab"), None, None),
            Named::Refused(_)
        ));
        l.gone(v6);
        assert_eq!(
            z.decide(&l, &ptr, RecordType::PTR, &UP),
            Decision::Forward(UP.to_vec())
        );
    }

    #[test]
    fn a_guest_cannot_take_a_name_that_is_not_its_own() {
        let z = zone("nat", "local_ptr = true\n");
        let l = LeaseNames::default();
        let ip = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        let a = |s: &str| Decision::Answer(vec![RecordData::A(ip(s))]);
        // A static host's name and the bridge's own stay theirs.
        assert_eq!(l.add(ip("10.0.0.66"), "db", Some("lab")), Named::Added);
        assert_eq!(z.decide(&l, "db.lab", RecordType::A, &UP), a("10.0.0.5"));
        assert_eq!(
            z.decide(&l, "66.0.0.10.in-addr.arpa", RecordType::PTR, &UP),
            Decision::NxDomain(rev()),
            "nor does its address say it is db"
        );
        assert_eq!(l.add(ip("10.0.0.67"), "virbr0", Some("lab")), Named::Added);
        assert_eq!(z.decide(&l, "virbr0.lab", RecordType::A, &UP), a("10.0.0.1"));
        // First holder wins; the refusal is said once, not at each renewal.
        assert_eq!(l.add(ip("10.0.0.50"), "web", Some("lab")), Named::Added);
        assert!(
            matches!(l.add(ip("10.0.0.51"), "Web", Some("lab")), Named::Refused(w) if w.contains("held by 10.0.0.50"))
        );
        assert_eq!(l.add(ip("10.0.0.51"), "Web", Some("lab")), Named::StillRefused);
        assert_eq!(z.decide(&l, "web.lab", RecordType::A, &UP), a("10.0.0.50"));
        // Names every client asks for on its own are nobody's.
        assert!(matches!(
            l.add(ip("10.0.0.52"), "wpad", Some("lab")),
            Named::Refused(_)
        ));
        assert!(matches!(
            l.add(ip("10.0.0.53"), "localhost", None),
            Named::Refused(_)
        ));
        // Gone, the name is free for the next.
        l.gone(ip("10.0.0.50"));
        assert_eq!(l.add(ip("10.0.0.51"), "web", Some("lab")), Named::Added);
        assert_eq!(z.decide(&l, "web.lab", RecordType::A, &UP), a("10.0.0.51"));
    }

    #[test]
    fn local_names_leases_and_reverse() {
        let z = zone(
            "nat",
            "local_ptr = true\n[[network.dns.txt]]\nname = \"info\"\nvalue = \"hi\"\n",
        );
        let l = LeaseNames::default();
        l.add("10.0.0.50".parse::<Ipv4Addr>().unwrap(), "web", Some("lab"));
        let a = |ip: &str| Decision::Answer(vec![RecordData::A(ip.parse().unwrap())]);
        assert_eq!(z.decide(&l, "web.lab.", RecordType::A, &UP), a("10.0.0.50"));
        assert_eq!(z.decide(&l, "WEB", RecordType::A, &UP), a("10.0.0.50"));
        assert_eq!(z.decide(&l, "db.lab", RecordType::A, &UP), a("10.0.0.5"));
        assert_eq!(z.decide(&l, "virbr0.lab", RecordType::A, &UP), a("10.0.0.1"));
        assert_eq!(
            z.decide(&l, "50.0.0.10.in-addr.arpa.", RecordType::PTR, &UP),
            Decision::Answer(vec![RecordData::Ptr("web.lab".into())])
        );
        assert_eq!(
            z.decide(&l, "info.lab", RecordType::TXT, &UP),
            Decision::Answer(vec![RecordData::Txt("hi".into())])
        );
        assert_eq!(
            z.decide(&l, "web.lab", RecordType::AAAA, &UP),
            Decision::NoData(lab())
        );
        // With local_ptr, our reverse zone never goes upstream.
        assert_eq!(
            z.decide(&l, "99.0.0.10.in-addr.arpa", RecordType::PTR, &UP),
            Decision::NxDomain(rev())
        );
        l.remove("10.0.0.50".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            z.decide(&l, "web.lab", RecordType::A, &UP),
            Decision::Forward(UP.to_vec())
        );
    }

    #[test]
    fn local_only_plain_names_and_forwarders() {
        let z = zone(
            "nat",
            "local_only = true\nforward_plain_names = false\n[[network.dns.forwarder]]\naddr = \"198.51.100.1\"\n[[network.dns.forwarder]]\ndomain = \"corp.example\"\naddr = \"198.51.100.2\"\n[[network.dns.forwarder]]\ndomain = \"secret.example\"\n",
        );
        let l = LeaseNames::default();
        assert_eq!(
            z.decide(&l, "nope.lab", RecordType::A, &UP),
            Decision::NxDomain(lab())
        );
        assert_eq!(
            z.decide(&l, "printer", RecordType::A, &UP),
            Decision::NxDomain(None)
        );
        assert_eq!(
            z.decide(&l, "www.example.org", RecordType::A, &UP),
            Decision::Forward(vec!["198.51.100.1".parse().unwrap()])
        );
        assert_eq!(
            z.decide(&l, "git.corp.example", RecordType::A, &UP),
            Decision::Forward(vec!["198.51.100.2".parse().unwrap()])
        );
        assert_eq!(
            z.decide(&l, "x.secret.example", RecordType::A, &UP),
            Decision::NxDomain(None)
        );
    }

    #[test]
    fn without_forwarders_the_uplinks_resolvers_are_used() {
        let z = zone("nat", "");
        assert_eq!(
            z.decide(&LeaseNames::default(), "example.org", RecordType::A, &UP),
            Decision::Forward(UP.to_vec())
        );
        assert_eq!(
            z.decide(&LeaseNames::default(), "example.org", RecordType::A, &[]),
            Decision::Refused
        );
    }

    #[test]
    fn isolated_networks_do_not_forward() {
        let z = zone("isolated", "");
        let l = LeaseNames::default();
        assert_eq!(z.decide(&l, "example.org", RecordType::A, &UP), Decision::Refused);
        assert_eq!(
            z.decide(&l, "db.lab", RecordType::A, &UP),
            Decision::Answer(vec![RecordData::A("10.0.0.5".parse().unwrap())])
        );
    }

    #[test]
    fn apexes_empty_names_and_the_root_for_validators() {
        let z = zone(
            "nat",
            "local_ptr = true\nforward_plain_names = false\n[[network.dns.srv]]\nservice = \"http\"\nprotocol = \"tcp\"\ntarget = \"db\"\nport = 80\n",
        );
        let l = LeaseNames::default();
        let apex = lab().unwrap();
        assert_eq!(
            z.decide(&l, "lab", RecordType::SOA, &UP),
            Decision::Answer(vec![apex.soa()])
        );
        assert_eq!(
            z.decide(&l, "LAB.", RecordType::NS, &UP),
            Decision::Answer(vec![apex.ns()])
        );
        assert_eq!(z.decide(&l, "lab", RecordType::A, &UP), Decision::NoData(lab()));
        let r = rev().unwrap();
        assert_eq!(
            z.decide(&l, "0.0.10.in-addr.arpa", RecordType::SOA, &UP),
            Decision::Answer(vec![r.soa()])
        );
        // `_tcp.lab` lies between the apex and `_http._tcp.lab`: it exists.
        assert_eq!(
            z.decide(&l, "_tcp.lab", RecordType::A, &UP),
            Decision::NoData(lab())
        );
        // Validators walk down from the root: the root and TLDs' DNSSEC
        // records go upstream; a plain name's address stays local.
        assert_eq!(
            z.decide(&l, ".", RecordType::DNSKEY, &UP),
            Decision::Forward(UP.to_vec())
        );
        assert_eq!(
            z.decide(&l, "test", RecordType::DS, &UP),
            Decision::Forward(UP.to_vec())
        );
        assert_eq!(
            z.decide(&l, "printer", RecordType::A, &UP),
            Decision::NxDomain(None)
        );
    }

    /// As libvirt's dnsmasq: a name without a dot that is not local goes
    /// upstream, and so does a reverse name in the subnet netagent does
    /// not know; a guest's own reverse name is still answered here.
    #[test]
    fn plain_names_and_unknown_reverse_names_go_upstream_as_in_libvirt() {
        let z = zone("nat", "");
        let l = LeaseNames::default();
        l.add("10.0.0.50".parse::<Ipv4Addr>().unwrap(), "web", Some("lab"));
        assert_eq!(
            z.decide(&l, "printer", RecordType::A, &UP),
            Decision::Forward(UP.to_vec())
        );
        assert_eq!(
            z.decide(&l, "99.0.0.10.in-addr.arpa", RecordType::PTR, &UP),
            Decision::Forward(UP.to_vec())
        );
        assert_eq!(
            z.decide(&l, "50.0.0.10.in-addr.arpa", RecordType::PTR, &UP),
            Decision::Answer(vec![RecordData::Ptr("web.lab".into())])
        );
        // The names above the ones answered here exist (RFC 8020), with
        // no data; the zone is not netagent's, so no SOA goes with them.
        assert_eq!(
            z.decide(&l, "0.0.10.in-addr.arpa", RecordType::SOA, &UP),
            Decision::NoData(None)
        );
        // Above the subnet's zone is the upstream's.
        assert_eq!(
            z.decide(&l, "0.10.in-addr.arpa", RecordType::NS, &UP),
            Decision::Forward(UP.to_vec())
        );
        // Local names still win over upstream.
        assert_eq!(
            z.decide(&l, "web", RecordType::A, &UP),
            Decision::Answer(vec![RecordData::A("10.0.0.50".parse().unwrap())])
        );
    }

    /// A /16's reverse zone: the names between its apex and the addresses
    /// exist where a named address (a lease, a host) lies below them, with
    /// the zone's SOA; the others do not.
    #[test]
    fn empty_names_of_the_reverse_zone_exist_where_names_lie_below() {
        let src = "[uplink]\n[[network]]\nname = \"n\"\nkind = \"nat\"\nbridge = \"virbr0\"\naddress = \"10.123.0.1/16\"\n\
                   [network.dhcp]\n[network.dns]\ndomain = \"lab\"\nlocal_ptr = true\n";
        let cfg = config::parse(src, "t").unwrap_or_else(|p| panic!("{p}"));
        let z = Zone::new(
            Arc::new(plan(&cfg).dns.remove(0)),
            "10.123.0.0/16".parse().unwrap(),
        );
        let l = LeaseNames::default();
        let apex = Some(Apex {
            name: "123.10.in-addr.arpa".into(),
            mname: "virbr0.lab".into(),
            rname: "hostmaster.123.10.in-addr.arpa".into(),
        });
        let nx = Decision::NxDomain(apex.clone());
        assert_eq!(z.decide(&l, "7.123.10.in-addr.arpa", RecordType::SOA, &UP), nx);
        l.add("10.123.7.20".parse::<Ipv4Addr>().unwrap(), "web", Some("lab"));
        assert_eq!(
            z.decide(&l, "7.123.10.in-addr.arpa", RecordType::SOA, &UP),
            Decision::NoData(apex.clone()),
            "a lease lies below"
        );
        assert_eq!(
            z.decide(&l, "0.123.10.in-addr.arpa", RecordType::PTR, &UP),
            Decision::NoData(apex.clone()),
            "the bridge's own name lies below"
        );
        assert_eq!(z.decide(&l, "8.123.10.in-addr.arpa", RecordType::NS, &UP), nx);
        assert_eq!(
            z.decide(&l, "123.10.in-addr.arpa", RecordType::NS, &UP),
            Decision::Answer(vec![RecordData::Ns("virbr0.lab".into())])
        );
        l.gone("10.123.7.20".parse::<Ipv4Addr>().unwrap());
        assert_eq!(z.decide(&l, "7.123.10.in-addr.arpa", RecordType::SOA, &UP), nx);
    }
}
