//! One DNS server per network with DNS on, listening on the bridge's
//! address, UDP and TCP port 53. Reloads swap the zone in place; the sockets
//! and the queries in flight stay.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_server::ServerFuture;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::dhcp::reply::Change;
use crate::service::{Service, Supervised, Supervisor, Want};

use super::forward::Forwarder;
use super::handler::Handler;
use super::udp::{serve, Shared};
use super::zone::{LeaseNames, Named, Zone};
use crate::plan::{DnsZone, Plan};

/// A network's DNS server as a supervised service (see `service.rs`).
#[derive(Debug)]
pub(crate) struct DnsService {
    listen: Ipv4Addr,
    zone: Arc<RwLock<Arc<Zone>>>,
    leases: Arc<LeaseNames>,
    tcp: JoinHandle<()>,
    udp: JoinHandle<()>,
}

/// What a network's DNS server is asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DnsSpec {
    zone: DnsZone,
    subnet: ipnet::Ipv4Net,
}

/// What every network's DNS server shares.
#[derive(Debug)]
pub(crate) struct DnsEnv {
    /// Lease names per network: kept across restarts of its server, fed by
    /// the DHCP servers' lease changes.
    leases: HashMap<String, Arc<LeaseNames>>,
    uplink_dns: Arc<RwLock<Vec<Ipv4Addr>>>,
    fwd: Arc<Forwarder>,
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
        if spec.zone.listen != self.listen {
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
        self.tcp.is_finished() || self.udp.is_finished()
    }

    fn stop(self) {
        self.tcp.abort();
        self.udp.abort();
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
}

fn udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn start(env: &mut DnsEnv, z: &DnsZone, subnet: ipnet::Ipv4Net) -> std::io::Result<DnsService> {
    let addr = SocketAddr::V4(SocketAddrV4::new(z.listen, 53));
    let zone = Arc::new(RwLock::new(Arc::new(Zone::new(z.clone(), subnet))));
    let leases = env.lease_names(&z.network);
    // UDP: our own loop with an answer cache (see udp.rs); TCP: hickory-server.
    let shared = Arc::new(Shared {
        zone: zone.clone(),
        leases: leases.clone(),
        uplink_dns: env.uplink_dns.clone(),
        fwd: env.fwd.clone(),
    });
    let sock = Arc::new(tokio::net::UdpSocket::from_std(udp(addr)?)?);
    let handler = Handler {
        zone: zone.clone(),
        leases: leases.clone(),
        uplink_dns: env.uplink_dns.clone(),
        fwd: env.fwd.clone(),
    };
    let mut server = ServerFuture::new(handler);
    server.register_listener(
        tokio::net::TcpListener::from_std(tcp(addr)?)?,
        Duration::from_secs(5),
    );
    let network = z.network.clone();
    let udp = tokio::spawn(serve(sock, shared));
    let tcp = tokio::spawn(async move {
        if let Err(e) = server.block_until_done().await {
            warn!("dns {network}: server stopped: {e}");
        }
    });
    info!(
        "dns {}: serving on {addr} (udp, tcp){}",
        z.network,
        z.domain.as_ref().map(|d| format!(" for {d}")).unwrap_or_default()
    );
    Ok(DnsService {
        listen: z.listen,
        zone,
        leases,
        tcp,
        udp,
    })
}

impl DnsServers {
    pub(crate) fn new(uplink_dns: Vec<Ipv4Addr>) -> Self {
        DnsServers {
            sup: Supervisor::default(),
            env: DnsEnv {
                leases: HashMap::new(),
                uplink_dns: Arc::new(RwLock::new(uplink_dns)),
                fwd: Arc::new(Forwarder::default()),
            },
            domains: HashMap::new(),
        }
    }

    /// The resolvers of last resort changed (an uplink lease, a reload).
    pub(crate) fn set_uplink_dns(&self, servers: Vec<Ipv4Addr>) {
        if let Ok(mut w) = self.env.uplink_dns.write() {
            *w = servers;
        }
    }

    /// A DHCP lease changed: its hostname is added or removed, in the
    /// network's domain. Networks without DNS ignore it.
    pub(crate) fn lease_changed(&mut self, network: &str, change: &Change) {
        let Some(domain) = self.domains.get(network).cloned() else {
            return;
        };
        let names = self.env.lease_names(network);
        match change {
            Change::Bound(l) => match &l.hostname {
                Some(h) => {
                    if let Named::Refused(why) = names.add(l.ip, h, domain.as_deref()) {
                        warn!("dns {network}: {} ({}) gets no name: {why}", l.ip, l.mac);
                    }
                }
                None => names.remove(l.ip),
            },
            Change::Gone(l) => names.gone(l.ip),
        }
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
                    zone: z.clone(),
                    subnet: b.address?.trunc(),
                };
                Some((spec, ifindex(&b.name)))
            })
            .collect();
        self.domains = plan
            .dns
            .iter()
            .map(|z| (z.network.clone(), z.domain.clone()))
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
