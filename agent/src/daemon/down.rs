//! `netagent down`: remove what netagent owns and nothing else.

use std::path::PathBuf;

use tracing::{info, warn};

use super::reconcile::Reconciler;
use super::state::StateDir;
use super::RunError;
use crate::config::{self, Config};
use crate::firewall::apply as fw;
use crate::links::Netlink;
use crate::plan::plan;

/// Remove everything netagent owns: its nft tables, the bridges it made or
/// that the config names as guest bridges, and its routes.
pub async fn down(config: Option<PathBuf>, state_dir: PathBuf) -> Result<usize, RunError> {
    let cfg = match config::load(config.as_deref()) {
        Ok((c, _)) => c,
        Err(e) => {
            warn!("{e}; removing only what the state directory records");
            Config {
                uplink: None,
                networks: Vec::new(),
                evpn: None,
                status: None,
            }
        }
    };
    let p = plan(&cfg);
    let nl = Netlink::connect()?;
    let state = StateDir::new(&state_dir);
    let rec = Reconciler::new(nl.clone(), state.clone());
    let mut removed = 0;
    fw::remove()?;
    // Port security's table, if there is one.
    if crate::firewall::kernel::bridge_rule_count(crate::firewall::guard::TABLE)
        .ok()
        .flatten()
        .is_some()
    {
        crate::firewall::guard::apply(crate::firewall::guard::table(&[])).map_err(|e| RunError::Io {
            what: "nftables: remove table bridge netagent",
            source: std::io::Error::other(e),
        })?;
        info!("nftables: table bridge netagent removed");
        removed += 1;
    }
    let links = nl.links().await?;
    for name in rec.owned_for_down(&p) {
        if let Some(l) = links
            .iter()
            .find(|l| l.name == name && (l.is_bridge() || l.is_vxlan()))
        {
            nl.delete(l).await?;
            info!("{}: deleted", crate::links::netlink::describe(l));
            removed += 1;
        }
    }
    let k = nl.observe().await?;
    for r in crate::links::apply::owned_routes(&k) {
        if let Some(l) = k.link(&r.dev) {
            let route = crate::links::observe::Route {
                proto: crate::links::diff::RTPROT_NETAGENT,
                to: r.to,
                via: r.via,
                oif: None,
                metric: r.metric,
            };
            if nl.del_route(&route, l).await.is_ok() {
                removed += 1;
            }
        }
    }
    // netagent's BGP sessions in FRR (the admin's, and FRR itself, stay).
    if let Some(e) = &p.evpn {
        let frr = crate::evpn::Frr::of(e);
        match tokio::task::spawn_blocking(move || frr.sync(None, false)).await {
            Ok(Ok(n)) if n > 0 => {
                info!("evpn: netagent's BGP sessions removed from FRR");
                removed += 1;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!("{e}"),
            Err(e) => warn!("evpn: the FRR worker failed: {e}"),
        }
    }
    state.clear()?;
    Ok(removed)
}
