//! Keeps one DHCP server running per network that has a pool: starts the
//! missing ones (a bridge may appear only on a later tick), reconfigures
//! changed ones in place so their leases and socket stay, stops removed ones.

use std::collections::HashMap;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::info;

use crate::start_failures::StartFailures;

use crate::dhcp::lease::Lease;
use crate::dhcp::reply::Change;
use crate::dhcp::server::{Control, Server};
use crate::plan::DhcpPool;

struct Running {
    cfg: DhcpPool,
    control: mpsc::Sender<Control>,
    task: JoinHandle<()>,
}

pub struct DhcpServers {
    lease_dir: PathBuf,
    running: HashMap<String, Running>,
    events: Option<mpsc::UnboundedSender<(String, Change)>>,
    /// The last start error per network, so a retry every second logs once.
    failing: StartFailures,
}

impl DhcpServers {
    pub fn new(lease_dir: PathBuf, events: Option<mpsc::UnboundedSender<(String, Change)>>) -> Self {
        DhcpServers {
            lease_dir,
            running: HashMap::new(),
            events,
            failing: StartFailures::default(),
        }
    }

    /// The live leases of one network's server; None if it is not running.
    pub async fn leases(&self, network: &str) -> Option<Vec<Lease>> {
        let r = self.running.get(network)?;
        let (tx, rx) = oneshot::channel();
        r.control.send(Control::Leases(tx)).await.ok()?;
        rx.await.ok()
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

    pub fn sync(&mut self, pools: &[DhcpPool]) {
        let wanted: HashMap<&str, &DhcpPool> = pools.iter().map(|p| (p.network.as_str(), p)).collect();
        self.running.retain(|name, r| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|p| p.interface == r.cfg.interface);
            if !keep {
                info!("dhcp {name}: stopped");
                r.task.abort();
            }
            keep
        });
        for p in pools {
            match self.running.get_mut(&p.network) {
                Some(r) if r.cfg != *p => {
                    if r.control
                        .try_send(Control::Reconfigure(Box::new(p.clone())))
                        .is_ok()
                    {
                        r.cfg = p.clone();
                    }
                }
                Some(_) => {}
                None => match Server::start(p.clone(), &self.lease_dir, self.events.clone()) {
                    Ok(server) => {
                        let (tx, rx) = mpsc::channel(4);
                        let task = tokio::spawn(server.run(rx));
                        self.running.insert(
                            p.network.clone(),
                            Running {
                                cfg: p.clone(),
                                control: tx,
                                task,
                            },
                        );
                        self.failing.started(&p.network);
                    }
                    Err(e) => self.failing.failed(&p.network, e.to_string()),
                },
            }
        }
    }
}
