//! DHCP leases become DNS names: each network's hostnames, added on ACK and
//! removed on release or expiry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::dhcp::reply::Change;
use crate::dns::server::DnsServers;
use crate::dns::zone::LeaseNames;
use crate::plan::Plan;

pub type NameMap = HashMap<String, (Arc<LeaseNames>, Option<String>)>;

/// Per network with DNS: where its leases' names go, and its domain.
pub fn lease_names(dns: &mut DnsServers, plan: &Plan) -> NameMap {
    plan.dns
        .iter()
        .map(|z| (z.network.clone(), (dns.lease_names(&z.network), z.domain.clone())))
        .collect()
}

/// DHCP lease changes become DNS names: a hostname on ACK, gone on release
/// or expiry.
pub async fn pump_lease_names(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(String, Change)>,
    names: Arc<RwLock<NameMap>>,
) {
    while let Some((network, change)) = rx.recv().await {
        let Some((ln, domain)) = names.read().ok().and_then(|m| m.get(&network).cloned()) else {
            continue;
        };
        match change {
            Change::Bound(l) => match &l.hostname {
                Some(h) => ln.add(l.ip, h, domain.as_deref()),
                None => ln.remove(l.ip),
            },
            Change::Gone(l) => ln.remove(l.ip),
        }
    }
}
