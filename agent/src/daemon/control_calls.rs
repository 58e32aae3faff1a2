//! Answers to the control socket's requests, from the running agent's own
//! state: its config, the kernel as it is now, and the DHCP servers' leases.

use crate::control::proto::{Request, Response, Services, Status, UplinkInfo};
use crate::control::view;
use crate::dhcp::pool::Holder;
use crate::dhcp::show;
use crate::links::observe::Kernel;
use crate::service::Supervised;

use super::Daemon;

impl Daemon {
    pub(super) async fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::List => {
                let k = self.kernel().await;
                let mut rows = Vec::new();
                // As this host serves them: a spanned network whose home is
                // another host has no address or services here.
                let here = crate::plan::span::local_view(&self.cfg);
                for n in &here.networks {
                    rows.push(view::row(n, &k, self.lease_count(&n.name).await));
                }
                Response::data(&rows)
            }
            Request::Nics => {
                let k = self.kernel().await;
                Response::data(&view::nic_rows(&k, self.rec.uplink()))
            }
            Request::Info { network } => {
                let here = crate::plan::span::local_view(&self.cfg);
                let Some(n) = here.networks.iter().find(|n| n.name == network) else {
                    return Response::error(self.no_such(&network));
                };
                let k = self.kernel().await;
                let leases = self.lease_count(&n.name).await;
                let services = Services {
                    dhcp: self.dhcp.state(&n.name),
                    dns: self.dns.state(&n.name),
                    ra: self.ra.state(&n.name),
                    dhcp6: self.dhcp6.state(&n.name),
                };
                let pool = self.plan.dhcp.iter().find(|p| p.network == n.name);
                let address6 = self
                    .plan
                    .bridges
                    .iter()
                    .find(|b| b.network == n.name)
                    .and_then(|b| b.address6);
                // EVPN sessions' state from FRR (a child process: off the loop's thread).
                let bgp = match (&n.span, &self.plan.evpn) {
                    (Some(sp), Some(e)) if sp.flood == crate::config::Flood::Evpn => {
                        let frr = crate::evpn::Frr::of(e);
                        let st =
                            tokio::task::spawn_blocking(move || frr.state().map_err(|e| e.to_string())).await;
                        Some(st.unwrap_or_else(|e| Err(e.to_string())))
                    }
                    _ => None,
                };
                let span = n
                    .span
                    .as_ref()
                    .map(|s| view::span_info(s, self.cfg.evpn.as_ref(), &k, bgp.as_ref()));
                let mut info = view::info(n, pool, address6, &k, leases, self.uplink_info(&k), &services);
                info.span = span;
                info.port_security = self.port_security_info(&n.name).await;
                Response::data(&info)
            }
            Request::Release { network, target } => {
                let nets = match self.dhcp_networks(network.as_deref()) {
                    Ok(n) => n,
                    Err(e) => return Response::error(e),
                };
                let holder: Holder = match target.parse() {
                    Ok(h) => h,
                    Err(e) => return Response::error(e),
                };
                let mut rows = Vec::new();
                for (name, prefix) in nets {
                    let gone = self.dhcp.release(&name, holder.clone()).await.unwrap_or_default();
                    rows.extend(gone.iter().map(|l| show::row(&name, l, prefix)));
                }
                if rows.is_empty() {
                    return Response::error(format!("no lease of {target}"));
                }
                Response::data(&rows)
            }
            Request::Leases { network } => {
                let nets = match self.dhcp_networks(network.as_deref()) {
                    Ok(n) => n,
                    Err(e) => return Response::error(e),
                };
                let mut rows = Vec::new();
                for (name, prefix) in nets {
                    let mut leases = self.dhcp.leases(&name).await.unwrap_or_default();
                    leases.sort_by_key(|l| l.ip);
                    rows.extend(leases.iter().map(|l| show::row(&name, l, prefix)));
                }
                for n in self
                    .cfg
                    .networks
                    .iter()
                    .filter(|n| n.dhcp6.is_some() && network.as_deref().is_none_or(|w| w == n.name))
                {
                    let prefix = n.address6.map(|a| a.prefix_len()).unwrap_or(128);
                    let mut leases = self.dhcp6.leases(&n.name).await.unwrap_or_default();
                    leases.sort_by_key(|l| l.ip);
                    rows.extend(leases.iter().map(|l| show::row6(&n.name, l, prefix)));
                }
                Response::data(&rows)
            }
            Request::Status => {
                // Services report trouble between passes (a lease file
                // that cannot be written): what is wrong now, as of now.
                self.note_errors();
                let mut errors = self.history.now().to_vec();
                // Other firewalls that drop our networks' traffic: read now
                // (nft, on the blocking pool), not kept, since Docker and
                // firewalld change their rules without telling anyone.
                let nets = crate::firewall::foreign::networks(&self.plan);
                if let Ok(Some(found)) =
                    tokio::task::spawn_blocking(move || crate::firewall::foreign::read(&nets)).await
                {
                    errors.extend(found.iter().map(|c| c.to_string()));
                }
                let mut warnings = Vec::new();
                for p in &self.plan.dhcp {
                    let leases = self.dhcp.leases(&p.network).await.unwrap_or_default();
                    warnings.extend(show::fullness(p, &leases));
                }
                let recent = self
                    .history
                    .entries()
                    .map(|(t, m)| format!("{} UTC: {m}", crate::util::time::format_time(*t)))
                    .collect();
                Response::data(&Status {
                    pid: std::process::id(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    since: self.since,
                    config: self.src.to_string(),
                    networks: self.cfg.networks.len(),
                    errors,
                    recent,
                    last_reload: self.last_reload.clone(),
                    warnings,
                })
            }
            Request::LibvirtPort { port } => self.libvirt_port(port).await,
            Request::Reload { dry_run, file } => match self.reload(dry_run, file).await {
                Ok(outcome) => Response::data(&outcome),
                Err(problems) => Response::error(problems),
            },
        }
    }

    /// The networks with DHCP a request names (one, or all when none is
    /// named), each with its prefix length; an error for an unknown name.
    fn dhcp_networks(&self, network: Option<&str>) -> Result<Vec<(String, u8)>, String> {
        if let Some(w) = network {
            if !self.cfg.networks.iter().any(|n| n.name == w) {
                return Err(self.no_such(w));
            }
        }
        Ok(self
            .cfg
            .networks
            .iter()
            .filter(|n| n.dhcp.is_some() && network.is_none_or(|w| w == n.name))
            .map(|n| (n.name.clone(), n.address.map(|a| a.prefix_len()).unwrap_or(32)))
            .collect())
    }

    fn no_such(&self, name: &str) -> String {
        let names: Vec<&str> = self.cfg.networks.iter().map(|n| n.name.as_str()).collect();
        format!("no network named \"{name}\"; networks: {}", names.join(", "))
    }

    async fn kernel(&self) -> Kernel {
        self.nl.observe().await.unwrap_or_default()
    }

    async fn lease_count(&self, network: &str) -> usize {
        self.dhcp.leases(network).await.map(|l| l.len()).unwrap_or(0)
    }

    fn uplink_info(&self, k: &Kernel) -> Option<UplinkInfo> {
        let u = self.plan.uplink.as_ref()?;
        let link = self.rec.uplink().and_then(|n| k.link(n));
        let (addressing, gateway) = match &u.addressing {
            crate::config::Addressing::Dhcp => (
                "dhcp".to_string(),
                self.lease.borrow().as_ref().and_then(|l| l.router),
            ),
            crate::config::Addressing::Static { gateway, .. } => ("static".to_string(), *gateway),
            crate::config::Addressing::Host => ("host".to_string(), None),
        };
        Some(UplinkInfo {
            interface: self.rec.uplink().map(str::to_string),
            addresses: link
                .map(|l| k.addrs_of(l.index).map(|a| a.to_string()).collect())
                .unwrap_or_default(),
            gateway: gateway.map(|g| g.to_string()),
            addressing,
        })
    }
}
