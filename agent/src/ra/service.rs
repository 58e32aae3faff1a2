//! A network's router advertisements as a supervised service (see
//! `service.rs`): started once its bridge is there, reconfigured in place,
//! and ended with an advertisement of router lifetime 0 when the network
//! goes, so guests drop the route at once instead of in 30 minutes.

use std::os::fd::AsRawFd;

use socket2::Socket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::server::{bridge_mac, Control, Server};
use super::socket::{self, ALL_NODES};
use super::wire;
use crate::plan::RaPlan;
use crate::service::{Service, Supervised, Supervisor};

pub(crate) struct RaService {
    plan: RaPlan,
    ifindex: u32,
    control: mpsc::Sender<Control>,
    task: JoinHandle<()>,
    /// The same socket as the task's, for the last advertisement.
    spare: Socket,
}

impl Service for RaService {
    type Spec = RaPlan;
    type Env = ();
    const NAME: &'static str = "ra";

    fn start(_env: &mut (), network: &str, spec: &RaPlan) -> Result<Self, String> {
        let ifindex = nix::net::if_::if_nametoindex(spec.interface.as_str())
            .map_err(|e| format!("ra {network}: {}: {e}", spec.interface))?;
        let (server, spare) = Server::start(spec.clone(), ifindex)
            .map_err(|e| format!("ra {network}: {}: {e}", spec.interface))?;
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(server.run(rx));
        Ok(RaService {
            plan: spec.clone(),
            ifindex,
            control,
            task,
            spare,
        })
    }

    fn reconfigure(&mut self, _env: &mut (), spec: &RaPlan) -> bool {
        let same_link = spec.interface == self.plan.interface;
        if same_link
            && self
                .control
                .try_send(Control::Reconfigure(Box::new(spec.clone())))
                .is_ok()
        {
            self.plan = spec.clone();
            return true;
        }
        false
    }

    fn ended(&self) -> bool {
        self.task.is_finished()
    }

    fn stop(self) {
        self.task.abort();
    }

    fn remove(self) {
        // RFC 4861 6.2.5: a router that stops advertising says so.
        if let Some(from) = socket::link_local(self.ifindex) {
            let ra = wire::advertisement(&self.plan, bridge_mac(&self.plan.interface), &[], true);
            let _ = socket::send(self.spare.as_raw_fd(), &ra, from, ALL_NODES, self.ifindex);
        }
        self.stop();
    }
}

/// One advertiser per network with an IPv6 prefix.
#[derive(Default)]
pub(crate) struct RaServers {
    sup: Supervisor<RaService>,
}

impl Supervised for RaServers {
    type S = RaService;
    fn supervisor(&self) -> &Supervisor<RaService> {
        &self.sup
    }
}

impl RaServers {
    /// Follow the plan's advertisements, each on its bridge's current index.
    pub(crate) fn sync(&mut self, plans: &[RaPlan], ifindex: impl Fn(&str) -> Option<u32>) {
        self.sup.sync_on_bridges(&mut (), plans, ifindex);
    }
}
