//! Makes the kernel match the plan it is handed: links, sysctls and the nft
//! table. The daemon owns the plan and says what to look at (`Scope`): a
//! link event looks at links, an nftables event at our table, the slow
//! safety-net pass at everything. Nothing here holds the plan.

use std::collections::{BTreeSet, HashMap};

use tracing::{debug, error, info, warn};

use super::state::{StateDir, StateError};
use crate::config::Addressing;
use crate::firewall::{apply as fw, kernel as fw_kernel, TABLE};
use crate::links::diff::{resolve_uplink, Desired, UplinkState};
use crate::links::observe::Delta;
use crate::links::sysctl::{self, SysctlError};
use crate::links::watch::Changed;
use crate::links::{apply, Kernel, LinkError, Netlink};
use crate::plan::Plan;
use crate::uplink::UplinkLease;

/// What one pass looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// What rtnetlink events announced: applied to the kept copy of the
    /// kernel, nothing else read.
    Kernel(Changed),
    /// Our nft table (an nftables event).
    Firewall,
    /// Everything, read afresh: the first pass, a reload, the safety net.
    All,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Kernel(c) if c.everything => f.write_str("kernel (read whole)"),
            Scope::Kernel(c) => write!(f, "kernel ({} events)", c.deltas.len()),
            Scope::Firewall => f.write_str("firewall"),
            Scope::All => f.write_str("all"),
        }
    }
}

/// One thing a pass could not do; the pass goes on with the rest.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Firewall(#[from] fw::FirewallError),
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    UplinkClash(#[from] crate::links::clash::UplinkClash),
    #[error(transparent)]
    Evpn(#[from] crate::evpn::EvpnError),
}

impl ReconcileError {
    /// The host lacks a feature netagent needs (no bridge module, no
    /// nf_tables, no nft), rather than a passing failure.
    pub(crate) fn is_unsupported(&self) -> bool {
        match self {
            ReconcileError::Link(e) => e.is_unsupported(),
            ReconcileError::Firewall(e) => e.is_unsupported(),
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) changes: usize,
    pub(crate) errors: Vec<ReconcileError>,
    /// What happened that is worth a line in `status` though nothing is
    /// wrong now (our table removed by someone, and loaded again).
    pub(crate) events: Vec<String>,
}

/// What a firewall step did: whether it replaced the table, the ruleset
/// generation at which the table is known right (None after a replace:
/// the next pass checks), and the digest of the rules in it, when known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    replaced: bool,
    /// Our table was gone though netagent had loaded it: someone removed it
    /// (`flush ruleset`, as nftables.service's reload does).
    was_gone: bool,
    verified: Option<u32>,
    loaded: Option<u64>,
}

/// Write the plan's sysctls, and with `ra` keep the bridges' router
/// advertisements when IPv6 forwarding is among them. On a blocking
/// thread: writing an interface's setting takes the kernel's RTNL lock,
/// which another namespace's teardown can hold for seconds (see
/// `Netlink::connect`), and the servers' thread must not wait for it.
async fn settings(plan: &Plan, ra: bool, report: &mut Report) {
    let sysctls = plan.sysctls.clone();
    let ours: Vec<String> = plan.bridges.iter().map(|b| b.name.clone()).collect();
    let done = tokio::task::spawn_blocking(move || {
        let mut out = vec![sysctl::apply(&sysctls)];
        if ra && sysctls.iter().any(|s| s.path == "net/ipv6/conf/all/forwarding") {
            let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
            out.push(sysctl::keep_router_advertisements(&ours));
        }
        out
    })
    .await;
    match done {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(n) => report.changes += n,
                    Err(e) => report.errors.push(e.into()),
                }
            }
        }
        Err(e) => warn!("sysctl: the worker failed: {e}"),
    }
}

/// Replace our table when it is missing, its rules were changed behind our
/// back, or it holds other rules than the plan's: a reload's (`stale`), or
/// an earlier run's with another config (`loaded`, the digest of what was
/// last loaded, differs). `verified` is the ruleset generation at which our
/// table was last found right: if nothing in nf_tables changed since,
/// there is nothing to look at. The rules are built from the bridges' plan
/// only when they are looked at, and dropped after: kept, they were 16 KB
/// a network for the agent's life.
fn firewall(
    bridges: &[crate::plan::BridgePlan],
    stale: bool,
    verified: Option<u32>,
    loaded: Option<u64>,
) -> Result<Rules, fw::FirewallError> {
    let kernel_err = |action, source| fw::FirewallError::Kernel { action, source };
    let gen = fw_kernel::generation().map_err(|e| kernel_err("read the generation", e))?;
    if !stale && verified == Some(gen) {
        return Ok(Rules {
            replaced: false,
            was_gone: false,
            verified,
            loaded,
        });
    }
    let ruleset = &crate::firewall::ruleset(bridges);
    let want = fw::count_rules(ruleset);
    let empty = ruleset.objects.is_empty();
    let digest = fw::digest(ruleset);
    let have = fw_kernel::rule_count(TABLE).map_err(|e| kernel_err("list", e))?;
    let ok = !stale
        && match have {
            None => empty,
            Some(n) => !empty && n == want && loaded == Some(digest),
        };
    if ok {
        return Ok(Rules {
            replaced: false,
            was_gone: false,
            verified: Some(gen),
            loaded: Some(digest),
        });
    }
    fw::apply(ruleset)?;
    if empty {
        info!("nftables: table inet netagent removed (no network needs rules)");
    } else {
        info!(
            "nftables: table inet netagent {} ({want} rules)",
            if have.is_some() { "replaced" } else { "loaded" }
        );
    }
    Ok(Rules {
        replaced: true,
        was_gone: have.is_none() && !empty && loaded.is_some(),
        verified: None,
        loaded: Some(digest),
    })
}

pub(crate) type FirewallJob = tokio::task::JoinHandle<Result<Rules, fw::FirewallError>>;

pub(crate) struct Reconciler {
    nl: Netlink,
    state: StateDir,
    /// The uplink's name once resolved (the DHCP client is started for it).
    uplink: Option<String>,
    owned: BTreeSet<String>,
    /// The plan's rules changed (a reload) and are not in the kernel yet.
    /// False at start: a table an earlier run left with the same rules
    /// (`loaded`) is kept.
    rules_stale: bool,
    /// The nf_tables generation at which our table was last found right.
    verified: Option<u32>,
    /// The digest of the rules last loaded into our table (kept in the
    /// state directory across restarts).
    loaded: Option<u64>,
    /// The kernel as last read (and as our own changes left it), so an
    /// event reads again only what it says changed.
    kernel: Option<Kernel>,
    /// The kept copy was read whole just now (`read_whole`): the next pass
    /// over everything need not read it again.
    fresh: bool,
    /// Each link's index as last seen, for the services bound to bridges.
    ifindex: HashMap<String, u32>,
    /// What the last pass over links, and over the firewall, could not do:
    /// a pass over one leaves the other's as it was.
    unresolved_links: Vec<String>,
    unresolved_firewall: Vec<String>,
    /// An `auto` uplink waits for this file (see `Options`).
    hardware_settled: Option<std::path::PathBuf>,
    /// The EVPN sessions last set in FRR (to remove ours when the config
    /// drops them, and to say everything again after a reload).
    evpn_applied: Option<crate::plan::EvpnPlan>,
}

impl Reconciler {
    pub(crate) fn new(nl: Netlink, state: StateDir) -> Self {
        let owned = state.owned_bridges();
        let loaded = state.rules_digest();
        Reconciler {
            nl,
            state,
            uplink: None,
            owned,
            rules_stale: false,
            verified: None,
            loaded,
            kernel: None,
            fresh: false,
            ifindex: HashMap::new(),
            unresolved_links: Vec::new(),
            unresolved_firewall: Vec::new(),
            hardware_settled: None,
            evpn_applied: None,
        }
    }

    /// What is wrong now, as far as the last passes saw.
    pub(crate) fn unresolved(&self) -> Vec<String> {
        [self.unresolved_links.clone(), self.unresolved_firewall.clone()].concat()
    }

    /// Choose an `auto` uplink only once `settled` exists.
    pub(crate) fn wait_for_hardware(&mut self, settled: Option<std::path::PathBuf>) {
        self.hardware_settled = settled;
    }

    /// Whether the hardware settled since the last look: true once, when
    /// the file appears (then there is nothing left to wait for).
    pub(crate) fn hardware_just_settled(&mut self) -> bool {
        if self.hardware_settled.as_ref().is_some_and(|p| p.exists()) {
            self.hardware_settled = None;
            return true;
        }
        false
    }

    /// Whether an `auto` uplink may be chosen now.
    fn hardware_settled(&mut self) -> bool {
        self.hardware_settled.is_none() || self.hardware_just_settled()
    }

    /// The uplink's interface, once found.
    pub(crate) fn uplink(&self) -> Option<&str> {
        self.uplink.as_deref()
    }

    /// The config names another uplink: find it again on the next pass.
    pub(crate) fn forget_uplink(&mut self) {
        self.uplink = None;
    }

    /// The kernel as last seen.
    pub(crate) fn kernel(&self) -> Option<&Kernel> {
        self.kernel.as_ref()
    }

    /// A link's MAC as last seen.
    pub(crate) fn mac_of(&self, link: &str) -> Option<crate::config::MacAddr> {
        self.kernel.as_ref()?.link(link)?.mac
    }

    /// A link's index as last seen (a re-created bridge gets a new one).
    pub(crate) fn ifindex(&self, link: &str) -> Option<u32> {
        self.ifindex.get(link).copied()
    }

    fn uplink_state(plan: &Plan, lease: Option<&UplinkLease>, name: &str) -> UplinkState {
        let addressing = plan.uplink.as_ref().map(|u| &u.addressing);
        let (address, gateway) = match addressing {
            Some(Addressing::Static { address, gateway }) => (Some(*address), *gateway),
            Some(Addressing::Dhcp) => match lease {
                Some(l) => (Some(l.address), l.router),
                None => (None, None),
            },
            Some(Addressing::Host) | None => (None, None),
        };
        UplinkState {
            name: name.to_string(),
            managed: !matches!(addressing, Some(Addressing::Host)),
            address,
            gateway,
            address6: plan.uplink.as_ref().and_then(|u| u.address6),
            gateway6: plan.uplink.as_ref().and_then(|u| u.gateway6),
        }
    }

    /// One pass over `scope`. Err only when the kernel's links could not
    /// even be read; every other failure is in the report.
    pub(crate) async fn apply(
        &mut self,
        plan: &Plan,
        lease: Option<&UplinkLease>,
        scope: Scope,
    ) -> Result<Report, LinkError> {
        let mut report = Report::default();
        let start = std::time::Instant::now();
        // The firewall's check (and replace) runs on a worker thread while
        // the links are made: rules name interfaces, not links, so neither
        // waits for the other.
        let firewall = matches!(scope, Scope::Firewall | Scope::All).then(|| self.start_firewall(plan));
        let label = scope.to_string();
        let changed = match scope {
            Scope::Kernel(c) => Some(c),
            Scope::All => Some(Changed::all()),
            Scope::Firewall => None,
        };
        if let Some(changed) = changed {
            // A bridge whose IPv6 was off takes an IPv6 address only once
            // it is on again: the settings go first too.
            if changed.everything && plan.bridges.iter().any(|b| b.address6.is_some()) {
                settings(plan, false, &mut report).await;
            }
            let links = self.links(plan, lease, &changed, &mut report).await;
            if let Err(e) = links {
                self.unresolved_links = vec![e.to_string()];
                if let Some(fw) = firewall {
                    self.finish_firewall(fw, &mut Report::default()).await;
                }
                return Err(e);
            }
            // Settings are files to read one by one: only when an event
            // says they changed, or links were made (a new bridge has
            // settings of its own).
            if changed.settings || changed.everything || report.changes > 0 {
                settings(plan, true, &mut report).await;
            }
            // FRR after the links: zebra finds the VXLAN devices made above.
            if changed.everything {
                self.evpn(plan, &mut report).await;
            }
            self.unresolved_links = report.errors.iter().map(|e| e.to_string()).collect();
        }
        let links_done = start.elapsed();
        // (The firewall's time below is what it took beyond the links'.)
        if let Some(fw) = firewall {
            let before = report.errors.len();
            self.finish_firewall(fw, &mut report).await;
            self.unresolved_firewall = report.errors[before..].iter().map(|e| e.to_string()).collect();
        }
        debug!(
            "pass over {label}: {} changes; links {:.1} ms, firewall {:.1} ms",
            report.changes,
            links_done.as_secs_f64() * 1e3,
            (start.elapsed() - links_done).as_secs_f64() * 1e3
        );
        for e in &report.errors {
            if e.is_unsupported() {
                error!("{e}");
            } else {
                warn!("{e}");
            }
        }
        Ok(report)
    }

    /// FRR's BGP EVPN sessions made the plan's, on the passes over
    /// everything (start, reload, the safety net: an FRR restarted since
    /// gets them again).
    async fn evpn(&mut self, plan: &Plan, report: &mut Report) {
        let want = plan.evpn.clone();
        let Some(frr) = want
            .as_ref()
            .or(self.evpn_applied.as_ref())
            .map(crate::evpn::Frr::of)
        else {
            return;
        };
        let force = want != self.evpn_applied;
        let w = want.clone();
        let done = tokio::task::spawn_blocking(move || frr.sync(w.as_ref(), force)).await;
        match done {
            Ok(Ok(n)) => {
                if n > 0 {
                    report.changes += 1;
                    match &want {
                        Some(p) => info!(
                            "evpn: FRR's BGP sessions set: AS {} neighbours {:?}, VNIs {:?}",
                            p.asn, p.neighbors, p.vnis
                        ),
                        None => info!("evpn: netagent's BGP sessions removed from FRR"),
                    }
                }
                self.evpn_applied = want;
            }
            Ok(Err(e)) => report.errors.push(e.into()),
            Err(e) => warn!("evpn: the FRR worker failed: {e}"),
        }
    }

    /// Read the kernel whole into the kept copy; changes nothing (at start,
    /// while the firewall's dry run goes on beside it).
    pub(crate) async fn read_whole(&mut self) -> Result<(), LinkError> {
        self.kernel = Some(self.nl.observe().await?);
        self.fresh = true;
        Ok(())
    }

    /// The kernel now: the kept copy with what the events announced, or
    /// read whole (the first time, or when events were lost).
    async fn read(&mut self, changed: &Changed) -> Result<Kernel, LinkError> {
        let fresh = std::mem::take(&mut self.fresh);
        let Some(mut k) = self.kernel.take().filter(|_| fresh || !changed.everything) else {
            return self.nl.observe().await;
        };
        for d in &changed.deltas {
            match d {
                Delta::Reread(i) => match self.nl.link_by_index(*i).await? {
                    Some(l) => k.apply(Delta::Link(l)),
                    None => k.apply(Delta::LinkGone(*i)),
                },
                d => k.apply(d.clone()),
            }
        }
        Ok(k)
    }

    async fn links(
        &mut self,
        plan: &Plan,
        lease: Option<&UplinkLease>,
        changed: &Changed,
        report: &mut Report,
    ) -> Result<(), LinkError> {
        let kernel = self.read(changed).await?;
        if let Some(u) = &plan.uplink {
            let may_choose = u.interface != crate::config::UplinkInterface::Auto || self.hardware_settled();
            if self.uplink.is_none() && may_choose {
                self.uplink = resolve_uplink(&u.interface, &kernel, &plan.bridges);
                if let Some(n) = &self.uplink {
                    info!("uplink is {n}");
                }
            }
        }
        let uplink = self.uplink.as_deref().map(|n| Self::uplink_state(plan, lease, n));
        // The bridges and the spanned networks' VXLAN devices.
        let planned: BTreeSet<String> = plan
            .bridges
            .iter()
            .flat_map(|b| std::iter::once(b.name.clone()).chain(b.span.as_ref().map(|s| s.device.clone())))
            .collect();
        let stale: Vec<String> = self.owned.difference(&planned).cloned().collect();
        let want = Desired {
            bridges: &plan.bridges,
            uplink: uplink.as_ref(),
            stale_bridges: &stale,
            owned: &self.owned,
            uplink_pending: plan.uplink.is_some() && self.uplink.is_none(),
        };
        let out = apply::reconcile(&self.nl, &want, kernel).await?;
        report.changes += out.changes;
        report
            .errors
            .extend(out.errors.into_iter().map(ReconcileError::from));
        self.ifindex = out.seen.links.iter().map(|l| (l.name.clone(), l.index)).collect();

        // Ownership: what we created, less what is gone from config and kernel.
        let mut owned = self.owned.clone();
        owned.extend(out.created.iter().cloned());
        // A bridge a libvirt network names is libvirt's to keep: netagent
        // made it (after libvirt deleted its own), but never deletes it.
        owned.retain(|b| !plan.bridges.iter().any(|p| p.libvirt && &p.name == b));
        if !stale.is_empty() {
            owned.retain(|b| planned.contains(b) || self.ifindex.contains_key(b));
        }
        if let Some(u) = self.uplink.as_deref() {
            let addrs: Vec<ipnet::Ipv4Net> = out
                .seen
                .link(u)
                .map(|l| out.seen.addrs_of(l.index).collect())
                .unwrap_or_default();
            report.errors.extend(
                crate::links::clash::uplink_clashes(u, &addrs, &plan.bridges)
                    .into_iter()
                    .map(ReconcileError::from),
            );
        }
        self.kernel = Some(out.seen);
        if owned != self.owned {
            if let Err(e) = self.state.set_owned_bridges(&owned) {
                report.errors.push(e.into());
            }
            self.owned = owned;
        }
        Ok(())
    }

    /// The plan's rules changed: replace our table on the next pass.
    pub(crate) fn rules_changed(&mut self) {
        self.rules_stale = true;
    }

    /// nft is a child process: it runs on tokio's blocking pool, so a DHCP
    /// burst is never kept waiting behind it. At start it runs before any
    /// link is touched: a host whose nft or kernel cannot take the rules is
    /// left as it was (nft loads a batch whole or not at all), and the
    /// kernel is read meanwhile; `finish_rules` waits for it.
    pub(crate) fn start_firewall(&self, plan: &Plan) -> FirewallJob {
        let bridges = plan.bridges.clone();
        let (stale, verified, loaded) = (self.rules_stale, self.verified, self.loaded);
        tokio::task::spawn_blocking(move || firewall(&bridges, stale, verified, loaded))
    }

    /// The end of the first `start_firewall`: the changes made (0 or 1), or why the
    /// rules could not be loaded.
    pub(crate) async fn finish_rules(&mut self, job: FirewallJob) -> Result<usize, fw::FirewallError> {
        let mut report = Report::default();
        self.finish_firewall(job, &mut report).await;
        for e in report.errors {
            match e {
                ReconcileError::Firewall(f) => return Err(f),
                // A digest not kept costs one more replace at the next start.
                other => warn!("{other}"),
            }
        }
        Ok(report.changes)
    }

    async fn finish_firewall(&mut self, job: FirewallJob, report: &mut Report) {
        let result = job.await.unwrap_or_else(|source| {
            Err(fw::FirewallError::Worker {
                action: "replace",
                source,
            })
        });
        match result {
            Ok(rules) => {
                report.changes += usize::from(rules.replaced);
                if rules.was_gone {
                    let what = "nftables: table inet netagent was removed by someone else (a `flush ruleset`, as nftables.service's reload does); loaded again";
                    warn!("{what}");
                    report.events.push(what.into());
                }
                self.rules_stale = false;
                self.verified = rules.verified;
                self.note_loaded(rules.loaded, report);
            }
            Err(e) => {
                self.verified = None;
                report.errors.push(e.into());
            }
        }
    }

    /// Keep the digest of the table's rules, here and in the state
    /// directory when it changed.
    fn note_loaded(&mut self, loaded: Option<u64>, report: &mut Report) {
        if loaded.is_none() || loaded == self.loaded {
            return;
        }
        self.loaded = loaded;
        if let Some(d) = loaded {
            if let Err(e) = self.state.set_rules_digest(d) {
                report.errors.push(e.into());
            }
        }
    }

    /// Bridges to delete on `netagent down`: those we created, and the
    /// guest bridges the config adopted (netagent runs them now, as libvirt
    /// did). Never a bridge netagent was refused, nor one a libvirt network
    /// still names (`adopt-libvirt --undo` hands those back).
    pub(crate) fn owned_for_down(&self, plan: &Plan) -> BTreeSet<String> {
        let mut all = self.owned.clone();
        all.extend(
            plan.bridges
                .iter()
                .filter(|b| b.kind != crate::config::Kind::Bridge && b.adopt && !b.libvirt)
                .map(|b| b.name.clone()),
        );
        all
    }
}
