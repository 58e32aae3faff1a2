//! One reconcile pass over everything the plan covers: links, sysctls and
//! the nft table. Called at start, on every link event and once a second.

use std::collections::BTreeSet;

use tokio::sync::watch;
use tracing::{info, warn};

use super::state::StateDir;
use crate::config::Addressing;
use crate::firewall::apply as fw;
use crate::links::diff::{resolve_uplink, Desired, UplinkState};
use crate::links::{apply, sysctl, LinkError, Netlink};
use crate::plan::Plan;
use crate::uplink::UplinkLease;

/// Replace our table when it is missing, its rules were changed behind our
/// back, or the plan's rules changed (`planned_change`, after a reload).
fn firewall(
    ruleset: &nftables::schema::Nftables<'static>,
    planned_change: bool,
) -> Result<bool, fw::FirewallError> {
    let want = fw::count_rules(ruleset);
    let empty = ruleset.objects.is_empty();
    let have = fw::rules_in_kernel()?;
    let ok = !planned_change
        && match have {
            None => empty,
            Some(n) => !empty && n == want,
        };
    if ok {
        return Ok(false);
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
    Ok(true)
}

pub struct Reconciler {
    pub nl: Netlink,
    pub plan: Plan,
    pub state: StateDir,
    pub lease: watch::Receiver<Option<UplinkLease>>,
    /// The uplink's name once resolved (the DHCP client is started for it).
    pub uplink: Option<String>,
    owned: BTreeSet<String>,
    /// The ruleset last put in the kernel; None until the first pass, which
    /// adopts a matching table left by an earlier run.
    applied: Option<nftables::schema::Nftables<'static>>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub changes: usize,
    pub errors: Vec<String>,
}

impl Reconciler {
    pub fn new(
        nl: Netlink,
        plan: Plan,
        state: StateDir,
        lease: watch::Receiver<Option<UplinkLease>>,
    ) -> Self {
        let owned = state.owned_bridges();
        Reconciler {
            nl,
            plan,
            state,
            lease,
            uplink: None,
            owned,
            applied: None,
        }
    }

    fn uplink_state(&self, name: &str) -> UplinkState {
        let (address, gateway) = match self.plan.uplink.as_ref().map(|u| &u.addressing) {
            Some(Addressing::Static { address, gateway }) => (Some(*address), *gateway),
            Some(Addressing::Dhcp) => match &*self.lease.borrow() {
                Some(l) => (Some(l.address), l.router),
                None => (None, None),
            },
            Some(Addressing::Host) | None => (None, None),
        };
        UplinkState {
            name: name.to_string(),
            managed: !matches!(
                self.plan.uplink.as_ref().map(|u| &u.addressing),
                Some(Addressing::Host)
            ),
            address,
            gateway,
        }
    }

    pub async fn tick(&mut self) -> Result<Report, LinkError> {
        let mut report = Report::default();
        if let Some(u) = &self.plan.uplink {
            if self.uplink.is_none() {
                let links = self.nl.observe().await?;
                self.uplink = resolve_uplink(&u.interface, &links, &self.plan.bridges);
                if let Some(n) = &self.uplink {
                    info!("uplink is {n}");
                }
            }
        }
        let uplink = self.uplink.as_deref().map(|n| self.uplink_state(n));
        let planned: BTreeSet<String> = self.plan.bridges.iter().map(|b| b.name.clone()).collect();
        let stale: Vec<String> = self.owned.difference(&planned).cloned().collect();
        let want = Desired {
            bridges: &self.plan.bridges,
            uplink: uplink.as_ref(),
            stale_bridges: &stale,
        };
        let out = apply::reconcile(&self.nl, &want).await?;
        report.changes += out.changes;
        report.errors.extend(out.errors.iter().map(|e| e.to_string()));

        // Ownership: what we created, less what is gone from config and kernel.
        let mut owned = self.owned.clone();
        owned.extend(out.created.iter().cloned());
        if !stale.is_empty() {
            let now = self.nl.links().await?;
            owned.retain(|b| planned.contains(b) || now.iter().any(|l| &l.name == b));
        }
        if owned != self.owned {
            if let Err(e) = self.state.set_owned_bridges(&owned) {
                report.errors.push(e.to_string());
            }
            self.owned = owned;
        }

        match sysctl::apply(&self.plan.sysctls) {
            Ok(n) => report.changes += n,
            Err(e) => report.errors.push(e.to_string()),
        }

        // nft is a child process; run it off the async workers so a DHCP
        // burst is never kept waiting behind it.
        let ruleset = self.plan.ruleset.clone();
        let planned_change = self.applied.as_ref().is_some_and(|a| *a != ruleset);
        let fw_result = tokio::task::spawn_blocking(move || firewall(&ruleset, planned_change))
            .await
            .unwrap_or_else(|e| {
                Err(fw::FirewallError::Failed {
                    action: "check",
                    msg: e.to_string(),
                })
            });
        match fw_result {
            Ok(changed) => {
                report.changes += usize::from(changed);
                // Unchanged, it already holds this ruleset: no copy every second.
                if changed || self.applied.is_none() {
                    self.applied = Some(self.plan.ruleset.clone());
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
        for e in &report.errors {
            warn!("{e}");
        }
        Ok(report)
    }

    /// Bridges to delete on `netagent down`: those we created, and the
    /// config's guest bridges.
    pub fn owned_for_down(&self) -> BTreeSet<String> {
        let mut all = self.owned.clone();
        all.extend(
            self.plan
                .bridges
                .iter()
                .filter(|b| b.kind != crate::config::Kind::Bridge)
                .map(|b| b.name.clone()),
        );
        all
    }
}
