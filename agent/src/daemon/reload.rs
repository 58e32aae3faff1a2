//! `netagent reload` and SIGHUP: check the file, then apply only the
//! difference, so the networks that did not change never notice.

use std::path::PathBuf;

use tracing::{error, info};

use super::reconcile::Scope;
use super::{notify, uplink_dns, Daemon, UplinkDhcp};
use crate::config;
use crate::control::proto::ReloadOutcome;
use crate::plan::plan_with;

impl Daemon {
    /// Check the config and apply only what changed: networks that did not
    /// change keep their bridge, rules, leases and sockets. A config that
    /// fails the check changes nothing; its problems are the error.
    pub(super) async fn reload(
        &mut self,
        dry_run: bool,
        file: Option<PathBuf>,
    ) -> Result<ReloadOutcome, String> {
        let path = file.or_else(|| self.opts.config.clone());
        let (cfg, src) = match config::load(path.as_deref()) {
            Ok(x) => x,
            Err(e) => {
                if !dry_run {
                    crate::metrics::reloaded("refused");
                    error!("reload refused, the running networks stay as they are:\n{e}");
                    self.last_reload = Some(format!(
                        "{} UTC: refused, {}",
                        crate::util::time::format_time(crate::util::time::now()),
                        first_line(&e.to_string())
                    ));
                }
                return Err(e.to_string());
            }
        };
        crate::util::sys::give_back();
        let changes = crate::config::diff::diff(&self.cfg, &cfg);
        if dry_run {
            return Ok(ReloadOutcome {
                applied: false,
                config: src.to_string(),
                changes,
                errors: Vec::new(),
            });
        }
        notify::notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            notify::monotonic_usec()
        ));
        info!(
            "reloading {src}: {} change{}",
            changes.len(),
            if changes.len() == 1 { "" } else { "s" }
        );
        for c in &changes {
            info!("  {c}");
        }
        if cfg.uplink != self.cfg.uplink {
            // Another uplink or addressing: resolve it again and restart
            // its DHCP client from scratch.
            if let UplinkDhcp::Running(t) = std::mem::replace(&mut self.uplink_dhcp, UplinkDhcp::Waiting) {
                t.abort();
            }
            self.rec.forget_uplink();
            let _ = self.lease_tx.send(None);
            self.stop_delegation();
        }
        let new = plan_with(&cfg, self.delegated);
        // The rules are built to compare only when what they are made of changed.
        if new.bridges != self.plan.bridges
            && crate::firewall::ruleset(&new.bridges) != crate::firewall::ruleset(&self.plan.bridges)
        {
            self.rec.rules_changed();
        }
        self.plan = new;
        self.page.follow(cfg.status.as_ref());
        for gone in self
            .cfg
            .networks
            .iter()
            .filter(|o| !cfg.networks.iter().any(|n| n.name == o.name))
        {
            crate::metrics::forget(&gone.name);
        }
        self.cfg = cfg;
        self.src = src;
        self.dns
            .set_uplink_dns(uplink_dns(&self.plan, self.lease.borrow().as_ref()));
        // Advertisements first: one the new plan drops says goodbye
        // (router lifetime 0) while its bridge still has IPv6 to say it
        // from; the kernel pass may turn IPv6 off there.
        let rec = &self.rec;
        self.ra.sync(&self.plan.ra, |l| rec.ifindex(l));
        let errors = self.apply(Scope::All).await;
        crate::metrics::reloaded(if errors.is_empty() {
            "applied"
        } else {
            "applied_with_errors"
        });
        self.last_reload = Some(format!(
            "{} UTC: {} change{} applied{}",
            crate::util::time::format_time(crate::util::time::now()),
            changes.len(),
            if changes.len() == 1 { "" } else { "s" },
            if errors.is_empty() { "" } else { " with errors" }
        ));
        if self.ready {
            notify::notify(&format!("READY=1\nSTATUS={}", self.summary()));
        } else {
            self.notify_ready();
        }
        Ok(ReloadOutcome {
            applied: true,
            config: self.src.to_string(),
            changes,
            errors,
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
