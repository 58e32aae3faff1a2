//! A network's DHCP server as a supervised service (see `service.rs`): its
//! task, and the channel to reconfigure it in place (leases and socket stay)
//! or ask for its leases.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lease::Lease;
use super::pool::Holder;
use super::reply::Change;
use super::server::{Control, Server};
use crate::plan::DhcpPool;
use crate::service::{Service, Supervised, Supervisor};

#[derive(Debug)]
pub(crate) struct DhcpService {
    /// The bridge its socket is bound to.
    interface: String,
    control: mpsc::Sender<Control>,
    task: JoinHandle<()>,
    /// Set by the server while its lease file cannot be written.
    trouble: super::server::Trouble,
}

/// What every network's DHCP server shares.
#[derive(Debug)]
pub(crate) struct DhcpEnv {
    lease_dir: PathBuf,
    /// Lease changes, for the DNS names.
    events: Option<mpsc::UnboundedSender<(String, Change)>>,
}

impl Service for DhcpService {
    type Spec = DhcpPool;
    type Env = DhcpEnv;
    const NAME: &'static str = "dhcp";

    fn start(env: &mut DhcpEnv, _network: &str, spec: &DhcpPool) -> Result<Self, String> {
        let server =
            Server::start(spec.clone(), &env.lease_dir, env.events.clone()).map_err(|e| e.to_string())?;
        let trouble = server.trouble();
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(server.run(rx));
        Ok(DhcpService {
            interface: spec.interface.clone(),
            control,
            task,
            trouble,
        })
    }

    fn reconfigure(&mut self, _env: &mut DhcpEnv, spec: &DhcpPool) -> bool {
        // Another bridge is another socket: only a restart will do.
        spec.interface == self.interface
            && self
                .control
                .try_send(Control::Reconfigure(Box::new(spec.clone())))
                .is_ok()
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

impl Supervised for DhcpServers {
    type S = DhcpService;
    fn supervisor(&self) -> &Supervisor<DhcpService> {
        &self.sup
    }
}

/// One DHCP server per network that has a pool.
#[derive(Debug)]
pub(crate) struct DhcpServers {
    sup: Supervisor<DhcpService>,
    env: DhcpEnv,
}

impl DhcpServers {
    pub(crate) fn new(lease_dir: PathBuf, events: Option<mpsc::UnboundedSender<(String, Change)>>) -> Self {
        DhcpServers {
            sup: Supervisor::default(),
            env: DhcpEnv { lease_dir, events },
        }
    }

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

    /// The live leases of one network's server; None if it is not running.
    pub(crate) async fn leases(&self, network: &str) -> Option<Vec<Lease>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = oneshot::channel();
        s.control.send(Control::Leases(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Follow the plan's pools, each on its bridge's current interface index.
    pub(crate) fn sync(&mut self, pools: &[DhcpPool], ifindex: impl Fn(&str) -> Option<u32>) {
        self.sup.sync_on_bridges(&mut self.env, pools, ifindex);
    }
}
