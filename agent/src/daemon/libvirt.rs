//! The running agent's side of the libvirt drop-in, for the networks with
//! `libvirt = true` (handed over by `netagent adopt-libvirt`):
//!
//! - libvirt's lease file for each such bridge is kept current, so `virsh
//!   net-dhcp-leases`, `virsh domifaddr --source lease` and virt-manager
//!   see the guests' addresses. Lease changes mark a network; the file is
//!   written (whole, atomically, only when its text changed) on the next
//!   service tick, so a burst of leases costs one write a second.
//! - The domains' names, from libvirt's port hook (`netagent
//!   libvirt-hook`), by MAC: a guest that sends no hostname is named after
//!   its domain. They are kept in the state directory, so a restarted agent
//!   still knows the guests that started before it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::Daemon;
use crate::config::MacAddr;
use crate::control::proto::Response;
use crate::libvirt::hook::PortEvent;
use crate::libvirt::status;
use crate::plan::Plan;

/// Network name -> (MAC -> domain name), as the state file keeps it.
type Names = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug)]
pub(super) struct Libvirt {
    /// libvirt's dnsmasq directory, where its lease files are.
    dir: PathBuf,
    /// `libvirt-names.json` in the state directory.
    names_path: PathBuf,
    names: Names,
    /// The libvirt networks of the plan: network -> bridge.
    networks: BTreeMap<String, String>,
    /// Networks whose lease file is to be written again.
    dirty: BTreeSet<String>,
    /// The text last written for each network, so an unchanged one is not
    /// written again.
    written: HashMap<String, String>,
    /// The last failure to write each network's file, said once.
    failed: HashMap<String, String>,
}

impl Libvirt {
    pub(super) fn new(state_dir: &Path, dir: PathBuf) -> Libvirt {
        let names_path = state_dir.join("libvirt-names.json");
        let names = std::fs::read(&names_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Libvirt {
            dir,
            names_path,
            names,
            networks: BTreeMap::new(),
            dirty: BTreeSet::new(),
            written: HashMap::new(),
            failed: HashMap::new(),
        }
    }

    /// Follow the plan's libvirt networks; a new one's lease file is written
    /// once its servers have read their leases.
    pub(super) fn sync(&mut self, plan: &Plan) {
        let now: BTreeMap<String, String> = plan
            .bridges
            .iter()
            .filter(|b| b.libvirt)
            .map(|b| (b.network.clone(), b.name.clone()))
            .collect();
        for (n, b) in &now {
            if self.networks.get(n) != Some(b) {
                self.dirty.insert(n.clone());
                self.written.remove(n);
            }
        }
        self.networks = now;
        self.dirty.retain(|n| self.networks.contains_key(n));
    }

    /// A lease of `network` changed.
    pub(super) fn lease_changed(&mut self, network: &str) {
        if self.networks.contains_key(network) {
            self.dirty.insert(network.to_string());
        }
    }

    /// The domains' names known for `network`, by MAC.
    pub(super) fn names_of(&self, network: &str) -> Vec<(MacAddr, String)> {
        self.names
            .get(network)
            .into_iter()
            .flatten()
            .filter_map(|(m, n)| Some((m.parse().ok()?, n.clone())))
            .collect()
    }

    /// Which network serves `bridge` for libvirt.
    fn network_on(&self, bridge: &str) -> Option<String> {
        self.networks
            .iter()
            .find(|(_, b)| b.as_str() == bridge)
            .map(|(n, _)| n.clone())
    }

    /// Record a port's domain name (or forget it, when the port is gone).
    fn set_name(&mut self, network: &str, mac: MacAddr, name: Option<&str>) {
        let m = self.names.entry(network.to_string()).or_default();
        let changed = match name {
            Some(n) => m.insert(mac.to_string(), n.to_string()).as_deref() != Some(n),
            None => m.remove(&mac.to_string()).is_some(),
        };
        if m.is_empty() {
            self.names.remove(network);
        }
        if changed {
            let body = serde_json::to_vec_pretty(&self.names).unwrap_or_default();
            if let Err(e) = crate::util::fs::write_atomic(&self.names_path, &body) {
                warn!("libvirt: the domains' names are not kept across a restart: {e}");
            }
        }
    }
}

/// Record domains' names for `network` in the state directory, for an
/// agent that is not running now (it reads them when it starts).
pub(crate) fn record_names(state_dir: &Path, network: &str, names: &[(MacAddr, String)]) {
    let mut l = Libvirt::new(state_dir, PathBuf::new());
    for (mac, name) in names {
        if let Some(n) = crate::dhcp::reply::label(name) {
            l.set_name(network, *mac, Some(&n));
        }
    }
}

impl Daemon {
    /// libvirt's hook says a domain's port was made or is gone.
    pub(super) async fn libvirt_port(&mut self, port: PortEvent) -> Response {
        let Some(network) = self.libvirt.network_on(&port.bridge) else {
            return Response::data(&format!(
                "bridge {} is not a libvirt network netagent serves; nothing to do",
                port.bridge
            ));
        };
        let name = crate::dhcp::reply::label(&port.owner);
        if port.created && name.is_none() {
            return Response::data(&format!(
                "domain \"{}\" has no name a DNS label can hold; its guest is not named",
                port.owner
            ));
        }
        let name = name.filter(|_| port.created);
        info!(
            "libvirt {network}: {} {} {}",
            port.mac,
            if port.created {
                "belongs to domain"
            } else {
                "is gone from domain"
            },
            port.owner
        );
        self.libvirt.set_name(&network, port.mac, name.as_deref());
        self.dns.set_owner(&network, port.mac, name);
        self.rename_leases_of(&network, port.mac).await;
        Response::data(&"noted")
    }

    /// The DNS names of `mac`'s leases in `network` follow its owner now:
    /// a lease whose guest sent no hostname takes (or loses) the domain's.
    async fn rename_leases_of(&mut self, network: &str, mac: MacAddr) {
        for l in self.dhcp.leases(network).await.unwrap_or_default() {
            if l.mac == mac && l.hostname.is_none() {
                self.dns.lease_changed(network, &l.name(true));
            }
        }
        for l in self.dhcp6.leases(network).await.unwrap_or_default() {
            if l.mac() == Some(mac) && l.hostname.is_none() {
                self.dns.lease_changed(network, &l.name(true));
            }
        }
    }

    /// The DNS servers learn the names kept for every libvirt network.
    pub(super) fn libvirt_names_to_dns(&mut self) {
        for n in self.libvirt.networks.keys().cloned().collect::<Vec<_>>() {
            for (mac, name) in self.libvirt.names_of(&n) {
                self.dns.set_owner(&n, mac, Some(name));
            }
        }
    }

    /// Write the lease files of the networks whose leases changed.
    pub(super) async fn flush_libvirt_leases(&mut self) {
        let dirty: Vec<String> = std::mem::take(&mut self.libvirt.dirty).into_iter().collect();
        for network in dirty {
            let Some(bridge) = self.libvirt.networks.get(&network).cloned() else {
                continue;
            };
            // A server that is planned but not running has not read its
            // leases yet: the file waits for it, rather than say none.
            let planned4 = self.plan.dhcp.iter().any(|p| p.network == network);
            let planned6 = self.plan.dhcp6.iter().any(|p| p.network == network);
            let v4 = if planned4 {
                self.dhcp.leases(&network).await
            } else {
                Some(Vec::new())
            };
            let v6 = if planned6 {
                self.dhcp6.leases(&network).await
            } else {
                Some(Vec::new())
            };
            let (Some(v4), Some(v6)) = (v4, v6) else {
                self.libvirt.dirty.insert(network);
                continue;
            };
            let duid = crate::dhcp6::server::server_duid(&bridge);
            let text = status::write(&v4, &v6, Some(&duid));
            if self.libvirt.written.get(&network) == Some(&text) {
                continue;
            }
            let path = status::status_path(&self.libvirt.dir, &bridge);
            match crate::util::fs::write_atomic(&path, text.as_bytes()) {
                Ok(()) => {
                    if self.libvirt.failed.remove(&network).is_some() {
                        info!("libvirt {network}: {} written again", path.display());
                    }
                    self.libvirt.written.insert(network, text);
                }
                Err(e) => {
                    let e = e.to_string();
                    if self.libvirt.failed.get(&network) != Some(&e) {
                        warn!("libvirt {network}: virsh does not see the leases: {e}");
                        self.libvirt.failed.insert(network.clone(), e);
                    }
                    self.libvirt.dirty.insert(network);
                }
            }
        }
    }
}
