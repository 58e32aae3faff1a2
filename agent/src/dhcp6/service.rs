//! A network's DHCPv6 server as a supervised service: the lease server
//! generic of `dhcp::service`, for DHCPv6's server.

use std::future::Future;
use std::path::Path;

use tokio::sync::{mpsc, oneshot};

use super::lease::Lease6;
use super::server::{Control, Events, Server};
use crate::dhcp::server::Trouble;
use crate::dhcp::service::{LeaseServer, LeaseServers};
use crate::plan::Dhcp6Pool;

impl LeaseServer for Server {
    type Pool = Dhcp6Pool;
    type Control = Control;
    type Events = Events;
    type Lease = Lease6;
    const NAME: &'static str = "dhcp6";

    fn start(pool: Dhcp6Pool, lease_dir: &Path, events: Option<Events>) -> Result<Self, String> {
        Server::start(pool, lease_dir, events).map_err(|e| e.to_string())
    }
    fn trouble(&self) -> Trouble {
        Server::trouble(self)
    }
    fn run(self, control: mpsc::Receiver<Control>) -> impl Future<Output = ()> + Send + 'static {
        Server::run(self, control)
    }
    fn reconfigure(pool: Dhcp6Pool) -> Control {
        Control::Reconfigure(Box::new(pool))
    }
    fn leases(reply: oneshot::Sender<Vec<Lease6>>) -> Control {
        Control::Leases(reply)
    }
}

/// One DHCPv6 server per network with `[network.dhcp6]`.
pub(crate) type Dhcp6Servers = LeaseServers<Server>;
