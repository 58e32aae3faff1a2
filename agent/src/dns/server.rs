//! One DNS server per network with DNS on, listening on the bridge's
//! address (and its IPv6 address, when it has one), UDP and TCP port 53. Reloads swap the zone in place; the sockets
//! and the queries in flight stay.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::MacAddr;
use crate::lease_name::LeaseName;
use crate::service::{Service, Supervised, Supervisor, Want};

use super::udp::{serve, Shared};
use super::zone::{LeaseNames, Named, Zone};
use crate::plan::{DnsZone, Plan};

/// A network's DNS server as a supervised service (see `service.rs`).
#[derive(Debug)]
pub(crate) struct DnsService {
    listen: (Ipv4Addr, Option<Ipv6Addr>),
    zone: Arc<RwLock<Arc<Zone>>>,
    leases: Arc<LeaseNames>,
    /// UDP and TCP, on each address.
    tasks: Vec<JoinHandle<()>>,
}

/// What a network's DNS server is asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DnsSpec {
    /// Shared with the running server's zone: compared on each sync, held once.
    zone: Arc<DnsZone>,
    subnet: ipnet::Ipv4Net,
}

/// What every network's DNS server shares.
#[derive(Debug)]
pub(crate) struct DnsEnv {
    /// Lease names per network: kept across restarts of its server, fed by
    /// the DHCP servers' lease changes.
    leases: HashMap<String, Arc<LeaseNames>>,
    uplink_dns: Arc<RwLock<Vec<std::net::IpAddr>>>,
    outgoing: Arc<super::outgoing::Outgoing>,
}

impl DnsEnv {
    fn lease_names(&mut self, network: &str) -> Arc<LeaseNames> {
        self.leases.entry(network.to_string()).or_default().clone()
    }
}

impl Service for DnsService {
    type Spec = DnsSpec;
    type Env = DnsEnv;
    const NAME: &'static str = "dns";

    fn start(env: &mut DnsEnv, network: &str, spec: &DnsSpec) -> Result<Self, String> {
        let z = &spec.zone;
        start(env, z, spec.subnet).map_err(|e| format!("dns {network}: listen on {}:53: {e}", z.listen))
    }

    fn reconfigure(&mut self, _env: &mut DnsEnv, spec: &DnsSpec) -> bool {
        // Another address is another socket: only a restart will do.
        if (spec.zone.listen, spec.zone.listen6) != self.listen {
            return false;
        }
        let Ok(mut w) = self.zone.write() else {
            return false;
        };
        *w = Arc::new(Zone::new(spec.zone.clone(), spec.subnet));
        info!("dns {}: zone reloaded", spec.zone.network);
        self.leases.bump();
        true
    }

    fn ended(&self) -> bool {
        self.tasks.iter().any(|t| t.is_finished())
    }

    fn stop(self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

impl Supervised for DnsServers {
    type S = DnsService;
    fn supervisor(&self) -> &Supervisor<DnsService> {
        &self.sup
    }
}

/// One DNS server per network with DNS on.
#[derive(Debug)]
pub(crate) struct DnsServers {
    sup: Supervisor<DnsService>,
    env: DnsEnv,
    /// Each served network's domain, for the names of its leases.
    domains: HashMap<String, Option<String>>,
    /// Each served network's configured names (static hosts, the bridge's
    /// own), lower case: a guest of another network in the same domain
    /// cannot take them.
    names: HashMap<String, std::collections::HashSet<String>>,
    /// The host's /etc/hosts, for the zones that serve it.
    hosts: Vec<(Ipv4Addr, Vec<String>)>,
    /// Per network, the names of libvirt's domains by their MACs: a guest
    /// that sends no hostname is named after its domain.
    owners: HashMap<String, HashMap<MacAddr, String>>,
}

/// A socket for `addr`. An IPv6 one binds even while the bridge has no
/// carrier (the kernel keeps its IPv6 addresses unusable until a port is
/// up): the address is the bridge's, planned, and arrives with the port.
fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_freebind_v6(true)?;
    }
    Ok(s)
}

fn udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = socket(addr, Type::DGRAM, Protocol::UDP)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = socket(addr, Type::STREAM, Protocol::TCP)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn start(env: &mut DnsEnv, z: &Arc<DnsZone>, subnet: ipnet::Ipv4Net) -> std::io::Result<DnsService> {
    let addr = SocketAddr::V4(SocketAddrV4::new(z.listen, 53));
    let addr6 = z.listen6.map(|a| SocketAddr::V6(SocketAddrV6::new(a, 53, 0, 0)));
    let zone = Arc::new(RwLock::new(Arc::new(Zone::new(z.clone(), subnet))));
    let leases = env.lease_names(&z.network);
    // UDP with an answer cache (udp.rs), TCP with bounds (tcp.rs).
    let shared = Arc::new(Shared {
        zone: zone.clone(),
        leases: leases.clone(),
        uplink_dns: env.uplink_dns.clone(),
        outgoing: env.outgoing.clone(),
        cache: Default::default(),
        metrics: crate::metrics::Dns::of(&z.network),
    });
    // Every socket first, then the tasks: a failure leaves nothing running.
    let mut bound = Vec::new();
    for a in std::iter::once(addr).chain(addr6) {
        bound.push((
            // Watched for reading only (see `udp::flush`).
            Arc::new(crate::util::sys::watch(udp(a)?, Interest::READABLE)?),
            tokio::net::TcpListener::from_std(tcp(a)?)?,
        ));
    }
    let mut tasks = Vec::new();
    for (sock, listener) in bound {
        tasks.push(tokio::spawn(serve(sock, shared.clone())));
        tasks.push(tokio::spawn(super::tcp::serve(
            listener,
            shared.clone(),
            z.network.clone(),
        )));
    }
    info!(
        "dns {}: serving on {addr}{} (udp, tcp){}",
        z.network,
        addr6.map(|a| format!(" and {a}")).unwrap_or_default(),
        z.domain.as_ref().map(|d| format!(" for {d}")).unwrap_or_default()
    );
    Ok(DnsService {
        listen: (z.listen, z.listen6),
        zone,
        leases,
        tasks,
    })
}

impl DnsServers {
    pub(crate) fn new(uplink_dns: Vec<std::net::IpAddr>) -> Self {
        DnsServers {
            sup: Supervisor::default(),
            env: DnsEnv {
                leases: HashMap::new(),
                uplink_dns: Arc::new(RwLock::new(uplink_dns)),
                outgoing: Arc::default(),
            },
            domains: HashMap::new(),
            names: HashMap::new(),
            hosts: Vec::new(),
            owners: HashMap::new(),
        }
    }

    /// The domain that owns `mac` in `network` (libvirt's port hook), or
    /// none any more. Its leases are named on their next change.
    pub(crate) fn set_owner(&mut self, network: &str, mac: MacAddr, name: Option<String>) {
        let m = self.owners.entry(network.to_string()).or_default();
        match name {
            Some(n) => m.insert(mac, n),
            None => m.remove(&mac),
        };
    }

    /// The name a lease is known by: the one its guest sent, else its
    /// domain's (a name the guest sends itself wins).
    fn name_of<'a>(&'a self, network: &str, sent: Option<&'a str>, mac: Option<MacAddr>) -> Option<&'a str> {
        sent.or_else(|| Some(self.owners.get(network)?.get(&mac?)?.as_str()))
    }

    /// The host's /etc/hosts changed: the zones that serve it take the new
    /// entries on the next `sync`.
    pub(crate) fn set_hosts(&mut self, entries: Vec<(Ipv4Addr, Vec<String>)>) {
        self.hosts = entries;
    }

    /// The resolvers of last resort changed (an uplink lease, a reload).
    pub(crate) fn set_uplink_dns(&self, servers: Vec<std::net::IpAddr>) {
        if let Ok(mut w) = self.env.uplink_dns.write() {
            *w = servers;
        }
    }

    /// A lease (DHCPv4 or DHCPv6) bound, with the name its guest gave,
    /// or gone: the name is added or removed, in the network's domain.
    /// Networks without DNS ignore it.
    pub(crate) fn lease_changed(&mut self, network: &str, l: &LeaseName<'_>) {
        let Some(domain) = self.domains.get(network).cloned() else {
            return;
        };
        let names = self.env.lease_names(network);
        match (self.name_of(network, l.hostname, l.mac), l.bound) {
            (Some(h), true) => {
                let taken = self.taken_elsewhere(network, h, domain.as_deref());
                if let Named::Refused(why) = names.add_unless(l.ip, h, domain.as_deref(), l.mac, taken) {
                    warn!("dns {network}: {} ({}) gets no name: {why}", l.ip, l.client);
                }
            }
            (None, true) => names.remove(l.ip),
            (_, false) => names.gone(l.ip),
        }
    }

    /// Networks that share a domain share its names: `host.domain` held by
    /// another of them (configured, or a live lease: first holder wins) is
    /// not for this guest. Without a domain, each network's names are its own.
    fn taken_elsewhere(&self, network: &str, host: &str, domain: Option<&str>) -> Option<String> {
        let d = domain?;
        let fq = format!("{}.{d}", host.to_ascii_lowercase());
        let mut others: Vec<&String> = self
            .domains
            .iter()
            .filter(|(n, od)| n.as_str() != network && od.as_deref() == Some(d))
            .map(|(n, _)| n)
            .collect();
        others.sort();
        others.into_iter().find_map(|n| {
            if self.names.get(n).is_some_and(|s| s.contains(&fq)) {
                return Some(format!(
                    "`{host}` is a name of network \"{n}\", which shares the domain {d}"
                ));
            }
            let held = self.env.leases.get(n).and_then(|l| l.lookup(&fq))?;
            let ip = held.first()?;
            Some(format!(
                "`{host}` is held by {ip} in network \"{n}\", which shares the domain {d}"
            ))
        })
    }

    /// Follow the plan's zones, each on its bridge's current interface index.
    pub(crate) fn sync(&mut self, plan: &Plan, ifindex: impl Fn(&str) -> Option<u32>) {
        let bridges: HashMap<&str, &crate::plan::BridgePlan> =
            plan.bridges.iter().map(|b| (b.network.as_str(), b)).collect();
        let specs: Vec<(DnsSpec, Option<u32>)> = plan
            .dns
            .iter()
            .filter_map(|z| {
                let b = bridges.get(z.network.as_str())?;
                let spec = DnsSpec {
                    zone: Arc::new(crate::plan::dns::with_hosts(z, &self.hosts)),
                    subnet: b.address?.trunc(),
                };
                Some((spec, ifindex(&b.name)))
            })
            .collect();
        self.env.outgoing.set_own(
            plan.dns
                .iter()
                .flat_map(|z| {
                    std::iter::once(std::net::IpAddr::V4(z.listen)).chain(z.listen6.map(std::net::IpAddr::V6))
                })
                .collect(),
        );
        self.domains = plan
            .dns
            .iter()
            .map(|z| (z.network.clone(), z.domain.clone()))
            .collect();
        self.names = plan
            .dns
            .iter()
            .map(|z| {
                let names = z.records.iter().map(|r| r.name.to_ascii_lowercase()).collect();
                (z.network.clone(), names)
            })
            .collect();
        let wanted: Vec<Want<'_, DnsSpec>> = specs
            .iter()
            .map(|(spec, link)| Want {
                network: &spec.zone.network,
                spec,
                link: *link,
            })
            .collect();
        self.sup.sync(&mut self.env, &wanted, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease<'a>(ip: &str, mac: MacAddr, hostname: Option<&'a str>) -> LeaseName<'a> {
        LeaseName {
            ip: ip.parse().unwrap_or(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            hostname,
            mac: Some(mac),
            client: mac.to_string(),
            bound: true,
        }
    }

    fn servers(domain_b: &str) -> DnsServers {
        let src = format!(
            "[[network]]\nname = \"a\"\nkind = \"isolated\"\nbridge = \"virbr1\"\naddress = \"10.1.0.1/24\"\n[network.dns]\ndomain = \"lab\"\n\
             [[network]]\nname = \"b\"\nkind = \"isolated\"\nbridge = \"virbr2\"\naddress = \"10.2.0.1/24\"\n[network.dns]\ndomain = \"{domain_b}\"\n\
             [[network.dns.host]]\nip = \"10.2.0.5\"\nnames = [\"db\"]\n"
        );
        let cfg = crate::config::parse(&src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
        let mut s = DnsServers::new(Vec::new());
        // No bridge yet: nothing listens, the names are known.
        s.sync(&crate::plan::plan(&cfg), |_| None);
        s
    }

    fn bound(s: &mut DnsServers, network: &str, ip: &str, host: &str) -> Option<Vec<std::net::IpAddr>> {
        let mac = crate::config::MacAddr([0x52, 0x54, 0, 0, 0, ip.len() as u8]);
        s.lease_changed(network, &lease(ip, mac, Some(host)));
        let domain = s.domains.get(network).cloned().flatten().unwrap_or_default();
        s.env
            .lease_names(network)
            .lookup(&format!("{}.{domain}", host.to_ascii_lowercase()))
    }

    #[test]
    fn networks_that_share_a_domain_share_its_names() {
        let mut s = servers("lab");
        // Network b's static host `db`, and a guest of b that came first.
        assert_eq!(bound(&mut s, "a", "10.1.0.9", "db"), None);
        assert!(bound(&mut s, "b", "10.2.0.7", "web").is_some());
        assert_eq!(bound(&mut s, "a", "10.1.0.10", "WEB"), None);
        assert!(bound(&mut s, "a", "10.1.0.11", "app").is_some());
    }

    /// A lease whose guest sent no hostname, as iPXE's does not.
    fn nameless(s: &mut DnsServers, network: &str, ip: &str, mac: MacAddr) {
        s.lease_changed(network, &lease(ip, mac, None));
    }

    #[test]
    fn libvirts_domains_name_their_guests_unless_a_guest_names_itself() {
        let mut s = servers("lab");
        let names = s.env.lease_names("a");
        let (m1, m2, m3) = (
            MacAddr([0x52, 0x54, 0, 0, 1, 1]),
            MacAddr([0x52, 0x54, 0, 0, 1, 2]),
            MacAddr([0x52, 0x54, 0, 0, 1, 3]),
        );
        // No hostname and no domain known yet: no name.
        nameless(&mut s, "a", "10.1.0.21", m1);
        assert_eq!(names.lookup("vm1.lab"), None);
        // The hook names the MAC's domain; the lease's next change takes it.
        s.set_owner("a", m1, Some("vm1".into()));
        nameless(&mut s, "a", "10.1.0.21", m1);
        assert_eq!(names.lookup("vm1.lab"), Some(vec!["10.1.0.21".parse().unwrap()]));
        // A second domain of the same name: the first holds it, as leases do.
        s.set_owner("a", m2, Some("vm1".into()));
        nameless(&mut s, "a", "10.1.0.22", m2);
        assert_eq!(names.lookup("vm1.lab"), Some(vec!["10.1.0.21".parse().unwrap()]));
        // A name the guest sends itself wins over its domain's.
        s.set_owner("a", m3, Some("vm3".into()));
        s.lease_changed("a", &lease("10.1.0.23", m3, Some("web")));
        assert!(names.lookup("web.lab").is_some());
        assert_eq!(names.lookup("vm3.lab"), None);
        // The port is gone: its lease loses the domain's name on its next change.
        s.set_owner("a", m1, None);
        nameless(&mut s, "a", "10.1.0.21", m1);
        assert_eq!(names.lookup("vm1.lab"), None);
    }

    #[test]
    fn networks_with_their_own_domains_keep_their_own_names() {
        let mut s = servers("other");
        assert!(bound(&mut s, "a", "10.1.0.9", "db").is_some());
        assert!(bound(&mut s, "b", "10.2.0.7", "web").is_some());
        assert!(bound(&mut s, "a", "10.1.0.10", "web").is_some());
    }
}
