//! A network's lease server, DHCPv4's or DHCPv6's, as a supervised
//! service (see `service.rs`): its task, and the channel to reconfigure it
//! in place (leases and socket stay) or ask for its leases. One generic
//! for both; DHCPv4 adds port security's calls.

use std::future::Future;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lease::Lease;
use super::pool::Holder;
use super::reply::Change;
use super::server::{Control, Server, Trouble};
use crate::plan::DhcpPool;
use crate::service::{OnBridge, Service, Supervised, Supervisor};

/// What the supervisor needs of a lease server.
pub(crate) trait LeaseServer: Sized + Send + 'static {
    /// The plan's pool for one network.
    type Pool: Clone + PartialEq + OnBridge + Send + 'static;
    type Control: Send + 'static;
    /// Where its lease changes go (the daemon's DNS and libvirt hooks).
    type Events: Clone;
    type Lease: Send + 'static;
    /// "dhcp" or "dhcp6", for the log.
    const NAME: &'static str;

    fn start(pool: Self::Pool, lease_dir: &Path, events: Option<Self::Events>) -> Result<Self, String>;
    /// Set by the server while its lease file cannot be written.
    fn trouble(&self) -> Trouble;
    fn run(self, control: mpsc::Receiver<Self::Control>) -> impl Future<Output = ()> + Send + 'static;
    fn reconfigure(pool: Self::Pool) -> Self::Control;
    fn leases(reply: oneshot::Sender<Vec<Self::Lease>>) -> Self::Control;
}

/// One network's running lease server.
#[derive(Debug)]
pub(crate) struct Served<L: LeaseServer> {
    /// The bridge its socket is bound to.
    interface: String,
    control: mpsc::Sender<L::Control>,
    task: JoinHandle<()>,
    trouble: Trouble,
}

/// What every network's lease server shares.
#[derive(Debug)]
pub(crate) struct LeaseEnv<E> {
    lease_dir: PathBuf,
    events: Option<E>,
}

impl<L: LeaseServer> Service for Served<L> {
    type Spec = L::Pool;
    type Env = LeaseEnv<L::Events>;
    const NAME: &'static str = L::NAME;

    fn start(env: &mut Self::Env, _network: &str, spec: &L::Pool) -> Result<Self, String> {
        let server = L::start(spec.clone(), &env.lease_dir, env.events.clone())?;
        let trouble = server.trouble();
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(server.run(rx));
        Ok(Served {
            interface: spec.interface().to_string(),
            control,
            task,
            trouble,
        })
    }

    fn reconfigure(&mut self, _env: &mut Self::Env, spec: &L::Pool) -> bool {
        // Another bridge is another socket: only a restart will do.
        spec.interface() == self.interface && self.control.try_send(L::reconfigure(spec.clone())).is_ok()
    }

    fn ended(&self) -> bool {
        self.task.is_finished()
    }

    fn trouble(&self) -> Option<String> {
        self.trouble.lock().ok()?.clone()
    }

    fn stop(self) {
        self.task.abort();
    }
}

/// One lease server per network that has a pool of its kind.
#[derive(Debug)]
pub(crate) struct LeaseServers<L: LeaseServer> {
    sup: Supervisor<Served<L>>,
    env: LeaseEnv<L::Events>,
}

impl<L: LeaseServer> Supervised for LeaseServers<L> {
    type S = Served<L>;
    fn supervisor(&self) -> &Supervisor<Served<L>> {
        &self.sup
    }
}

impl<L: LeaseServer> LeaseServers<L> {
    pub(crate) fn new(lease_dir: PathBuf, events: Option<L::Events>) -> Self {
        LeaseServers {
            sup: Supervisor::default(),
            env: LeaseEnv { lease_dir, events },
        }
    }

    /// The live leases of one network's server; None if it is not running.
    pub(crate) async fn leases(&self, network: &str) -> Option<Vec<L::Lease>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = oneshot::channel();
        s.control.send(L::leases(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Follow the plan's pools, each on its bridge's current interface index.
    pub(crate) fn sync(&mut self, pools: &[L::Pool], ifindex: impl Fn(&str) -> Option<u32>) {
        self.sup.sync_on_bridges(&mut self.env, pools, ifindex);
    }
}

impl LeaseServer for Server {
    type Pool = DhcpPool;
    type Control = Control;
    type Events = mpsc::UnboundedSender<(String, Change)>;
    type Lease = Lease;
    const NAME: &'static str = "dhcp";

    fn start(pool: DhcpPool, lease_dir: &Path, events: Option<Self::Events>) -> Result<Self, String> {
        Server::start(pool, lease_dir, events).map_err(|e| e.to_string())
    }
    fn trouble(&self) -> Trouble {
        Server::trouble(self)
    }
    fn run(self, control: mpsc::Receiver<Control>) -> impl Future<Output = ()> + Send + 'static {
        Server::run(self, control)
    }
    fn reconfigure(pool: DhcpPool) -> Control {
        Control::Reconfigure(Box::new(pool))
    }
    fn leases(reply: oneshot::Sender<Vec<Lease>>) -> Control {
        Control::Leases(reply)
    }
}

/// The DHCPv4 servers.
pub(crate) type DhcpServers = LeaseServers<Server>;

impl LeaseServers<Server> {
    /// End the leases of `holder` in one network's server; None if it is
    /// not running.
    pub(crate) async fn release(&self, network: &str, holder: Holder) -> Option<Vec<Lease>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = oneshot::channel();
        s.control.send(Control::Release(holder, tx)).await.ok()?;
        rx.await.ok()
    }

    /// Port security: tell one network's server its guest ports and their
    /// pinned MACs (nothing if it is not running; it hears on the next).
    pub(crate) fn set_ports(
        &self,
        network: &str,
        live: std::collections::HashSet<u32>,
        pins: std::collections::HashMap<u32, crate::config::MacAddr>,
    ) {
        if let Some(s) = self.sup.get(network) {
            let _ = s.control.try_send(Control::Ports(Box::new((live, pins))));
        }
    }

    /// Port security: the leases of `macs` in one network's server, as
    /// (address, MAC); None if it is not running.
    pub(crate) async fn leases_of(
        &self,
        network: &str,
        macs: std::collections::HashSet<crate::config::MacAddr>,
    ) -> Option<Vec<(std::net::Ipv4Addr, crate::config::MacAddr)>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = oneshot::channel();
        s.control
            .send(Control::LeasesOf(Box::new((macs, tx))))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Port security: the requests one network's server refused, per port.
    pub(crate) async fn refusals(&self, network: &str) -> Option<std::collections::HashMap<u32, u64>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = oneshot::channel();
        s.control.send(Control::Refusals(tx)).await.ok()?;
        rx.await.ok()
    }
}
