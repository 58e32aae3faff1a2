//! A network's DHCPv6 server as a supervised service (see `service.rs`).

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::server::{Control, Events, Server};
use crate::plan::Dhcp6Pool;
use crate::service::{Service, Supervised, Supervisor};

pub(crate) struct Dhcp6Service {
    interface: String,
    control: mpsc::Sender<Control>,
    task: JoinHandle<()>,
    trouble: crate::dhcp::server::Trouble,
}

/// What every network's DHCPv6 server shares.
pub(crate) struct Dhcp6Env {
    lease_dir: PathBuf,
    events: Option<Events>,
}

impl Service for Dhcp6Service {
    type Spec = Dhcp6Pool;
    type Env = Dhcp6Env;
    const NAME: &'static str = "dhcp6";

    fn start(env: &mut Dhcp6Env, _network: &str, spec: &Dhcp6Pool) -> Result<Self, String> {
        let server =
            Server::start(spec.clone(), &env.lease_dir, env.events.clone()).map_err(|e| e.to_string())?;
        let trouble = server.trouble();
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(server.run(rx));
        Ok(Dhcp6Service {
            interface: spec.interface.clone(),
            control,
            task,
            trouble,
        })
    }

    fn reconfigure(&mut self, _env: &mut Dhcp6Env, spec: &Dhcp6Pool) -> bool {
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

/// One DHCPv6 server per network with `[network.dhcp6]`.
pub(crate) struct Dhcp6Servers {
    sup: Supervisor<Dhcp6Service>,
    env: Dhcp6Env,
}

impl Supervised for Dhcp6Servers {
    type S = Dhcp6Service;
    fn supervisor(&self) -> &Supervisor<Dhcp6Service> {
        &self.sup
    }
}

impl Dhcp6Servers {
    pub(crate) fn new(lease_dir: PathBuf, events: Option<Events>) -> Self {
        Dhcp6Servers {
            sup: Supervisor::default(),
            env: Dhcp6Env { lease_dir, events },
        }
    }

    /// The live leases of one network's server; None if it is not running.
    pub(crate) async fn leases(&self, network: &str) -> Option<Vec<super::lease::Lease6>> {
        let s = self.sup.get(network)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.control.send(Control::Leases(tx)).await.ok()?;
        rx.await.ok()
    }

    pub(crate) fn sync(&mut self, pools: &[Dhcp6Pool], ifindex: impl Fn(&str) -> Option<u32>) {
        self.sup.sync_on_bridges(&mut self.env, pools, ifindex);
    }
}
