//! Make the kernel's links match: observe, diff, act, and again until the
//! diff is empty (a new bridge needs a second pass for its ports).

use futures::StreamExt;
use tracing::{info, warn};

use super::diff::{diff, Action, Desired, OwnedRoute, RTPROT_NETAGENT};
use super::netlink::{LinkError, Netlink};
use super::observe::{Kernel, Link};

/// The routes in `k` that carry netagent's protocol mark.
pub(crate) fn owned_routes(k: &Kernel) -> Vec<OwnedRoute> {
    k.routes
        .iter()
        .filter(|r| r.proto == RTPROT_NETAGENT)
        .filter_map(|r| {
            let dev = k.by_index(r.oif?)?.name.clone();
            Some(OwnedRoute {
                to: r.to,
                via: r.via,
                dev,
                metric: r.metric,
            })
        })
        .collect()
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub changes: usize,
    pub errors: Vec<LinkError>,
    /// Bridges created in this run (for the ownership record).
    pub created: Vec<String>,
    /// The kernel as last observed.
    pub seen: Kernel,
}

/// Requests in flight at once: enough to keep the kernel busy, few enough
/// that their answers fit the socket's buffer.
const IN_FLIGHT: usize = 64;
const STAGES: u8 = 4;

/// Actions run stage by stage: what makes or removes a link, then a link's
/// own settings and ports, then addresses and port flags (a port is
/// isolated once it is a port), then routes (a gateway must be reachable
/// through an address first).
fn stage_of(a: &Action) -> u8 {
    match a {
        Action::CreateBridge { .. }
        | Action::DeleteBridge { .. }
        | Action::CreateVxlan(_)
        | Action::DeleteVxlan { .. }
        | Action::DelFlood { .. }
        | Action::DelRoute { .. }
        | Action::DelDefault6 { .. }
        | Action::DelAddr { .. } => 0,
        Action::SetMtu { .. }
        | Action::SetMac { .. }
        | Action::SetStp { .. }
        | Action::Up { .. }
        | Action::Enslave { .. } => 1,
        Action::AddAddr { .. }
        | Action::Isolate { .. }
        | Action::PortFlags { .. }
        | Action::AddFlood { .. } => 2,
        Action::AddRoute { .. } | Action::AddDefault6 { .. } => 3,
    }
}

/// Passes of observe, diff, act until nothing is left to do. The first
/// pass works on `now` (the kernel as the caller last read it); after any
/// change the kernel is read afresh.
pub(crate) async fn reconcile(nl: &Netlink, want: &Desired<'_>, now: Kernel) -> Result<Outcome, LinkError> {
    let mut out = Outcome::default();
    let mut k = now;
    // A bridge made in an earlier pass is ours in the next.
    let mut owned = want.owned.clone();
    for pass in 0..4 {
        let t = std::time::Instant::now();
        if pass > 0 {
            k = nl.observe().await?;
        }
        owned.extend(out.created.iter().cloned());
        let want = &Desired {
            owned: &owned,
            ..*want
        };
        let acts = diff(want, &k, &owned_routes(&k));
        tracing::debug!(
            "links pass {pass}: read and diff {:.1} ms, {} actions",
            t.elapsed().as_secs_f64() * 1e3,
            acts.len()
        );
        if acts.is_empty() {
            out.errors
                .extend(want.refusals(&k).into_iter().map(LinkError::from));
            out.seen = k;
            return Ok(out);
        }
        let before = out.errors.len();
        // The actions of one stage do not depend on each other: they go to
        // the kernel together (200 bridges are 200 round trips otherwise).
        for stage in 0..STAGES {
            let batch = acts.iter().filter(|a| stage_of(a) == stage);
            let results: Vec<(&Action, Result<(), LinkError>)> = futures::stream::iter(batch)
                .map(|a| {
                    let k = &k;
                    async move { (a, act(nl, k, a).await) }
                })
                .buffered(IN_FLIGHT)
                .collect()
                .await;
            for (a, r) in results {
                match r {
                    Ok(()) => {
                        info!("{}", describe(a));
                        out.changes += 1;
                        match a {
                            Action::CreateBridge { name, .. } => out.created.push(name.clone()),
                            Action::CreateVxlan(v) => out.created.push(v.name.clone()),
                            _ => {}
                        }
                    }
                    Err(e) => {
                        warn!("{e}");
                        out.errors.push(e);
                    }
                }
            }
        }
        // A failing action would fail again the same way; the next pass retries.
        if out.errors.len() > before {
            break;
        }
    }
    out.seen = nl.observe().await?;
    owned.extend(out.created.iter().cloned());
    let want = Desired {
        owned: &owned,
        ..*want
    };
    out.errors
        .extend(want.refusals(&out.seen).into_iter().map(LinkError::from));
    Ok(out)
}

fn find<'a>(k: &'a Kernel, name: &str) -> Result<&'a Link, LinkError> {
    k.link(name).ok_or_else(|| LinkError::Op {
        object: format!("link {name}"),
        action: "find".into(),
        cause: super::netlink::Cause::Gone,
    })
}

async fn act(nl: &Netlink, k: &Kernel, a: &Action) -> Result<(), LinkError> {
    match a {
        Action::CreateBridge { name, mac, mtu, stp } => nl.create_bridge(name, *mac, *mtu, *stp).await,
        Action::DeleteBridge { name } => nl.delete(find(k, name)?).await,
        Action::SetMtu { link, mtu } => nl.set_mtu(find(k, link)?, *mtu).await,
        Action::SetMac { link, mac } => nl.set_mac(find(k, link)?, *mac).await,
        Action::SetStp { link, stp } => nl.set_stp(find(k, link)?, *stp).await,
        Action::Up { link } => nl.set_up(find(k, link)?).await,
        Action::Enslave { port, bridge } => nl.enslave(find(k, port)?, find(k, bridge)?).await,
        Action::Isolate { port, on } => nl.set_isolated(find(k, port)?, *on).await,
        Action::AddAddr { link, net } => nl.add_addr(find(k, link)?, *net).await,
        Action::DelAddr { link, net } => nl.del_addr(find(k, link)?, *net).await,
        Action::AddRoute { to, via, dev, metric } => nl.add_route(*to, *via, find(k, dev)?, *metric).await,
        Action::DelRoute { to, via, dev, metric } => {
            let r = super::observe::Route {
                proto: RTPROT_NETAGENT,
                to: *to,
                via: *via,
                oif: None,
                metric: *metric,
            };
            nl.del_route(&r, find(k, dev)?).await
        }
        Action::CreateVxlan(v) => nl.create_vxlan(v).await,
        Action::DeleteVxlan { name } => nl.delete(find(k, name)?).await,
        Action::PortFlags {
            port,
            learning,
            neigh_suppress,
        } => {
            nl.set_port_flags(find(k, port)?, *learning, *neigh_suppress)
                .await
        }
        Action::AddFlood { dev, dst } => nl.flood(find(k, dev)?, *dst, true).await,
        Action::DelFlood { dev, dst } => nl.flood(find(k, dev)?, *dst, false).await,
        Action::AddDefault6 { via, dev } => nl.default6(find(k, dev)?, Some(*via), true).await,
        Action::DelDefault6 { via, dev } => nl.default6(find(k, dev)?, *via, false).await,
    }
}

/// One log line per change, in the words of `ip`.
pub(crate) fn describe(a: &Action) -> String {
    match a {
        Action::CreateBridge { name, stp, .. } => {
            format!("bridge {name}: created (stp {})", if *stp { "on" } else { "off" })
        }
        Action::DeleteBridge { name } => format!("bridge {name}: deleted (no longer in the config)"),
        Action::SetMtu { link, mtu } => format!("{link}: mtu {mtu}"),
        Action::SetMac { link, mac } => format!("{link}: mac {mac}"),
        Action::SetStp { link, stp } => format!("{link}: stp {}", if *stp { "on" } else { "off" }),
        Action::Up { link } => format!("{link}: up"),
        Action::Enslave { port, bridge } => format!("bridge {bridge}: port {port} added"),
        Action::Isolate { port, on } => format!("port {port}: isolated {}", if *on { "on" } else { "off" }),
        Action::AddAddr { link, net } => format!("{link}: address {net} added"),
        Action::DelAddr { link, net } => format!("{link}: address {net} removed"),
        Action::AddRoute { to, via, dev, .. } => match via {
            Some(g) => format!("route {to} via {g} dev {dev} added"),
            None => format!("route {to} dev {dev} added"),
        },
        Action::DelRoute { to, dev, .. } => format!("route {to} dev {dev} removed"),
        Action::CreateVxlan(v) => format!(
            "vxlan {}: created (VNI {}, local {}, port {}, learning {})",
            v.name,
            v.vni,
            v.local,
            v.port,
            if v.learning { "on" } else { "off" }
        ),
        Action::DeleteVxlan { name } => {
            format!("vxlan {name}: deleted (no longer in the config, or made with other settings)")
        }
        Action::PortFlags {
            port,
            learning,
            neigh_suppress,
        } => format!(
            "port {port}: learning {}, neigh_suppress {}",
            if *learning { "on" } else { "off" },
            if *neigh_suppress { "on" } else { "off" }
        ),
        Action::AddFlood { dev, dst } => format!("vxlan {dev}: floods to {dst}"),
        Action::DelFlood { dev, dst } => format!("vxlan {dev}: no longer floods to {dst}"),
        Action::AddDefault6 { via, dev } => format!("route ::/0 via {via} dev {dev} added"),
        Action::DelDefault6 { dev, .. } => format!("route ::/0 dev {dev} removed"),
    }
}
