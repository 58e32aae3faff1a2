//! The uplink's delegated IPv6 prefix in the daemon: the client runs while
//! some network says `address6 = "pd"`, and each new prefix (or its loss)
//! re-plans those networks, as a reload would: their bridges, rules,
//! advertisements (the old prefix announced deprecated) and DNS follow.

use ipnet::Ipv6Net;
use tracing::info;

use super::reconcile::Scope;
use super::Daemon;
use crate::plan::plan_with;

impl Daemon {
    /// Start the prefix-delegation client once the uplink is known; stop
    /// it when no network wants a delegated prefix.
    pub(super) fn start_delegation(&mut self) {
        if !self.plan.wants_delegation {
            if let Some(t) = self.pd_task.take() {
                t.abort();
                let _ = self.pd_tx.send(None);
            }
            return;
        }
        if self.pd_task.is_some() {
            return;
        }
        let Some(name) = self.rec.uplink().map(str::to_string) else {
            return;
        };
        let (Some(mac), Some(index)) = (self.rec.mac_of(&name), self.rec.ifindex(&name)) else {
            return;
        };
        self.pd_task = Some(tokio::spawn(crate::uplink::pd::run(
            name,
            index,
            mac.0,
            self.pd_tx.clone(),
        )));
    }

    /// Stop the client: the uplink changed (a reload); it starts again on
    /// the new one.
    pub(super) fn stop_delegation(&mut self) {
        if let Some(t) = self.pd_task.take() {
            t.abort();
        }
    }

    /// A new delegated prefix, or none: plan again and apply.
    pub(super) async fn delegated(&mut self, prefix: Option<Ipv6Net>) {
        if prefix == self.delegated {
            return;
        }
        info!(
            "delegated prefix {}: the networks with address6 = \"pd\" follow",
            prefix.map(|p| p.to_string()).unwrap_or_else(|| "gone".into())
        );
        self.delegated = prefix;
        let new = plan_with(&self.cfg, prefix);
        // The rules are built to compare only when what they are made of changed.
        if new.bridges != self.plan.bridges
            && crate::firewall::ruleset(&new.bridges) != crate::firewall::ruleset(&self.plan.bridges)
        {
            self.rec.rules_changed();
        }
        self.plan = new;
        // Advertisements first: a renumbered network's old prefix goes out
        // deprecated while its bridge still has IPv6 (see reload.rs).
        let rec = &self.rec;
        self.ra.sync(&self.plan.ra, |l| rec.ifindex(l));
        self.apply(Scope::All).await;
    }
}
