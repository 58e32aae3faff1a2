//! One DNS server per network with DNS on, listening on the bridge's
//! address, UDP and TCP port 53. Reloads swap the zone in place; the sockets
//! and the queries in flight stay.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::ServerFuture;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::start_failures::StartFailures;

use super::forward::Forwarder;
use super::handler::Handler;
use super::udp::{serve, Shared};
use super::zone::{LeaseNames, Zone};
use crate::plan::{DnsZone, Plan};

struct Running {
    listen: Ipv4Addr,
    zone: Arc<RwLock<Arc<Zone>>>,
    task: JoinHandle<()>,
    udp: JoinHandle<()>,
}

pub struct DnsServers {
    running: HashMap<String, Running>,
    /// Lease names per network, shared with the DHCP event pump.
    pub leases: HashMap<String, Arc<LeaseNames>>,
    pub uplink_dns: Arc<RwLock<Vec<Ipv4Addr>>>,
    fwd: Arc<Forwarder>,
    failing: StartFailures,
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

impl DnsServers {
    pub fn new(uplink_dns: Vec<Ipv4Addr>) -> Self {
        DnsServers {
            running: HashMap::new(),
            leases: HashMap::new(),
            uplink_dns: Arc::new(RwLock::new(uplink_dns)),
            fwd: Arc::new(Forwarder::default()),
            failing: StartFailures::default(),
        }
    }

    pub fn lease_names(&mut self, network: &str) -> Arc<LeaseNames> {
        self.leases.entry(network.to_string()).or_default().clone()
    }

    fn start(&mut self, z: &DnsZone, subnet: ipnet::Ipv4Net) -> std::io::Result<Running> {
        let addr = SocketAddr::V4(SocketAddrV4::new(z.listen, 53));
        let zone = Arc::new(RwLock::new(Arc::new(Zone::new(z.clone(), subnet))));
        let leases = self.lease_names(&z.network);
        // UDP: our own loop with an answer cache (see udp.rs); TCP: hickory-server.
        let shared = Arc::new(Shared {
            zone: zone.clone(),
            leases: leases.clone(),
            uplink_dns: self.uplink_dns.clone(),
            fwd: self.fwd.clone(),
        });
        let sock = Arc::new(tokio::net::UdpSocket::from_std(udp(addr)?)?);
        let handler = Handler {
            zone: zone.clone(),
            leases,
            uplink_dns: self.uplink_dns.clone(),
            fwd: self.fwd.clone(),
        };
        let mut server = ServerFuture::new(handler);
        server.register_listener(
            tokio::net::TcpListener::from_std(tcp(addr)?)?,
            Duration::from_secs(5),
        );
        let network = z.network.clone();
        let udp = tokio::spawn(serve(sock, shared));
        let task = tokio::spawn(async move {
            if let Err(e) = server.block_until_done().await {
                warn!("dns {network}: server stopped: {e}");
            }
        });
        info!(
            "dns {}: serving on {addr} (udp, tcp){}",
            z.network,
            z.domain.as_ref().map(|d| format!(" for {d}")).unwrap_or_default()
        );
        Ok(Running {
            listen: z.listen,
            zone,
            task,
            udp,
        })
    }

    /// One network's server: Ok if it runs, the reason if it cannot start,
    /// None if it has not been tried yet.
    pub fn state(&self, network: &str) -> Option<Result<(), String>> {
        self.failing.state(network, self.running.contains_key(network))
    }

    /// Servers that could not start, with why.
    pub fn problems(&self) -> Vec<String> {
        self.failing.all()
    }

    /// Make the running servers match the plan's zones.
    pub fn sync(&mut self, plan: &Plan) {
        let subnets: HashMap<&str, ipnet::Ipv4Net> = plan
            .bridges
            .iter()
            .filter_map(|b| b.address.map(|a| (b.network.as_str(), a.trunc())))
            .collect();
        let wanted: HashMap<&str, &DnsZone> = plan.dns.iter().map(|z| (z.network.as_str(), z)).collect();
        self.running.retain(|name, r| {
            let keep = wanted.get(name.as_str()).is_some_and(|z| z.listen == r.listen);
            if !keep {
                r.task.abort();
                r.udp.abort();
                info!("dns {name}: stopped");
            }
            keep
        });
        for z in &plan.dns {
            let Some(subnet) = subnets.get(z.network.as_str()).copied() else {
                continue;
            };
            if let Some(r) = self.running.get(&z.network) {
                let same = r.zone.read().map(|cur| cur.plan == *z).unwrap_or(true);
                if !same {
                    if let Ok(mut w) = r.zone.write() {
                        *w = Arc::new(Zone::new(z.clone(), subnet));
                        info!("dns {}: zone reloaded", z.network);
                    }
                    self.lease_names(&z.network).bump();
                }
                continue;
            }
            match self.start(z, subnet) {
                Ok(r) => {
                    self.running.insert(z.network.clone(), r);
                    self.failing.started(&z.network);
                }
                Err(e) => {
                    let msg = format!("dns {}: listen on {}:53: {e}", z.network, z.listen);
                    self.failing.failed(&z.network, msg);
                }
            }
        }
    }
}
