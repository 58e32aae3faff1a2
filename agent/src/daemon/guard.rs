//! The running agent's side of port security: it keeps the `bridge
//! netagent` table (`firewall/guard.rs`) and its sets following the
//! bridges' ports and the guests' leases.
//!
//! - A port that joins a guarded bridge is a guest (or a segment) in the
//!   pass that saw it join, before its guest is likely to have sent a
//!   frame; one that leaves loses its pinned MAC.
//! - Lease changes mark the sets; they are written on the next service
//!   tick, one batch a second however many leases changed.
//! - The table is made again whole when it is missing (a `flush
//!   ruleset`): the MACs the kernel pinned are then learned anew.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;
use tracing::{info, warn};

use super::Daemon;
use crate::config::MacAddr;
use crate::firewall::guard::{self as rules, Elements, TABLE};
use crate::firewall::guard_ports::{self, Held, Port};
use crate::plan::PortGuard;

/// How long after the ports change unpinned guest ports are looked at
/// each tick.
const PIN_WATCH: std::time::Duration = std::time::Duration::from_secs(10);

/// What brings a sync about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The service tick: lease changes are due.
    Tick,
    /// A pass over the kernel's links: ports may have come or gone.
    Kernel,
    /// nf_tables changed: the table may be gone.
    Firewall,
    /// The safety net's pass (and the start): everything.
    Full,
}

#[derive(Debug, Default)]
pub(super) struct Guard {
    /// What the sets hold, as last written; None: the table is to be made.
    have: Option<Elements>,
    /// The guards the table's plan-dependent rules were written for.
    made_for: Vec<PortGuard>,
    /// The MACs the kernel pinned on guest ports, as last read.
    pins: HashMap<u32, MacAddr>,
    /// The guarded bridges' ports as of the last write.
    ports: Vec<Port>,
    /// Leases changed since the sets were last written.
    dirty: bool,
    /// The last failure, said once.
    failed: Option<String>,
    /// When the table was made or the ports last changed.
    changed: Option<std::time::Instant>,
}

impl Guard {
    /// A lease of a guarded network changed: the addresses are read again
    /// on the next tick.
    pub(super) fn lease_changed(&mut self) {
        self.dirty = true;
    }

    /// A guest port in the table has no pinned MAC yet.
    fn unpinned(&self) -> bool {
        self.have
            .as_ref()
            .is_some_and(|h| h.guests.iter().any(|p| !self.pins.contains_key(p)))
    }

    /// Such a port is being looked at each tick (the ports changed lately).
    fn watching_pins(&self) -> bool {
        self.unpinned() && self.changed.is_some_and(|t| t.elapsed() < PIN_WATCH)
    }
}

/// The index of a port as nft lists it (its name, while it exists).
fn index_of(ports: &[Port], p: &rules::Listed) -> Option<u32> {
    match p {
        rules::Listed::Index(i) => Some(*i),
        rules::Listed::Name(n) => ports.iter().find(|x| &x.name == n).map(|x| x.index),
    }
}

/// Run an nft batch (JSON) on the blocking pool.
async fn nft(cmds: Vec<Value>) -> Result<(), String> {
    if cmds.is_empty() {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || rules::apply(cmds))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// `nft -j list set bridge netagent SET`, parsed.
pub(super) async fn list_set(name: &'static str) -> Option<Value> {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("nft")
            .args(["-j", "list", "set", "bridge", TABLE, name])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    })
    .await
    .ok()
    .flatten()
}

impl Daemon {
    /// The ports of the guarded bridges, from the kernel as last seen: one
    /// walk over the links (a walk per guarded bridge was 3 million
    /// comparisons a pass at 1,000 networks).
    fn guarded_ports(&self) -> Vec<Port> {
        let Some(k) = self.rec.kernel() else {
            return Vec::new();
        };
        let guarded: HashMap<&str, usize> = self
            .plan
            .guards
            .iter()
            .enumerate()
            .map(|(i, g)| (g.bridge.as_str(), i))
            .collect();
        // Bridge index → the guard's place in the plan.
        let bridges: HashMap<u32, usize> = k
            .links
            .iter()
            .filter(|l| l.is_bridge())
            .filter_map(|l| Some((l.index, *guarded.get(l.name.as_str())?)))
            .collect();
        let mut out: Vec<(usize, Port)> = k
            .links
            .iter()
            .filter_map(|l| {
                let g = *bridges.get(&l.controller?)?;
                Some((
                    g,
                    Port {
                        index: l.index,
                        name: l.name.clone(),
                        bridge: self.plan.guards[g].bridge.clone(),
                        physical: l.physical,
                        mac: l.mac,
                    },
                ))
            })
            .collect();
        // In the plan's order, as before: the sets are compared by it.
        out.sort_by_key(|(g, _)| *g);
        out.into_iter().map(|(_, p)| p).collect()
    }

    /// Bring the table and its sets in line with the plan, the ports and
    /// the leases. `leases` says the lease-driven sets are due too (the
    /// service tick); without it only a change of ports or plan is written.
    pub(super) async fn sync_guard(&mut self, why: Why) {
        let leases = matches!(why, Why::Tick | Why::Full);
        // The idle tick (the table made, no lease changed, no pin being
        // watched for, the plan as written) has nothing to do: it copies
        // nothing either.
        if why == Why::Tick
            && self.guard.have.is_some()
            && !self.guard.dirty
            && self.plan.guards == self.guard.made_for
            && !self.guard.watching_pins()
        {
            return;
        }
        let guards = self.plan.guards.clone();
        let g = &mut self.guard;
        if guards.is_empty() && g.have.is_none() {
            return;
        }
        // The table is looked for when nf_tables changed (and on the safety
        // net's pass), never on the idle tick.
        if g.have.is_some() && !guards.is_empty() && matches!(why, Why::Firewall | Why::Full) {
            // A `flush ruleset` (or someone's delete) took the table.
            if let Ok(None) = crate::firewall::kernel::bridge_rule_count(TABLE) {
                warn!(
                    "port security: table bridge {TABLE} is gone; made again (pinned MACs are learned anew)"
                );
                g.have = None;
            }
        }
        // Ports come and go on the kernel's passes, not on the tick.
        let ports = if why == Why::Tick && self.guard.have.is_some() {
            self.guard.ports.clone()
        } else {
            self.guarded_ports()
        };
        let g = &mut self.guard;
        let fresh = g.have.is_none();
        // A guest port whose MAC is not known yet (it has not spoken, or
        // the table was made anew): its pin is looked for each tick
        // for 10 s after the ports changed, then on the safety net's passes
        // (an idle host starts no nft each second for a guest that never
        // speaks).
        let unpinned = g.unpinned();
        let recent = g.changed.is_some_and(|t| t.elapsed() < PIN_WATCH);
        let mut due =
            fresh || guards.is_empty() || ports != g.ports || guards != g.made_for || (leases && g.dirty);
        // The pins are read back when a port may have one it had not: a
        // pin never changes while its port lives.
        if fresh || ports != g.ports || (unpinned && ((leases && recent) || why == Why::Full || g.dirty)) {
            if let Some(v) = list_set("port_mac").await {
                let pins: HashMap<u32, MacAddr> = rules::read_pins(&v)
                    .into_iter()
                    .filter_map(|(p, mac)| Some((index_of(&ports, &p)?, mac)))
                    .collect();
                due |= pins != self.guard.pins;
                self.guard.pins = pins;
            }
        }
        if !due {
            if why == Why::Full {
                self.tell_dhcp_ports();
            }
            return;
        }
        let held = self.held_by_pinned(&guards, &ports).await;
        let g = &mut self.guard;
        let want = guard_ports::want(&guards, &ports, &g.pins, &held);
        let mut cmds = Vec::new();
        let have = match &g.have {
            _ if guards.is_empty() => {
                cmds.extend(rules::table(&[]));
                Elements::default()
            }
            None => {
                cmds.extend(rules::table(&guards));
                cmds.extend(rules::na_guard(&guards, &want.port_ip6));
                Elements::default()
            }
            Some(h) => {
                if guards != g.made_for || h.port_ip6 != want.port_ip6 {
                    cmds.extend(rules::na_guard(&guards, &want.port_ip6));
                }
                // The pins of the ports that are gone go with them.
                let gone: Vec<(u32, MacAddr)> = guard_ports::gone(h, &want)
                    .into_iter()
                    .filter_map(|p| Some((p, *g.pins.get(&p)?)))
                    .collect();
                cmds.extend(rules::forget_pins(&gone));
                h.clone()
            }
        };
        if !guards.is_empty() {
            cmds.extend(rules::changes(&have, &want));
            // A libvirt domain's port is pinned to the MAC libvirt gave its
            // guest before the guest sends its first frame.
            let mut early = Vec::new();
            for gd in &guards {
                let known: Vec<MacAddr> = self
                    .libvirt
                    .names_of(&gd.network)
                    .into_iter()
                    .map(|(m, _)| m)
                    .collect();
                for p in ports
                    .iter()
                    .filter(|p| p.bridge == gd.bridge && want.guests.contains(&p.index))
                {
                    if self.guard.pins.contains_key(&p.index) {
                        continue;
                    }
                    if let Some(m) = guard_ports::libvirt_guest(p, &known) {
                        early.push((p.index, m));
                    }
                }
            }
            cmds.extend(rules::pin(&early));
            self.guard.pins.extend(early);
        }
        match nft(cmds).await {
            Ok(()) => {
                let g = &mut self.guard;
                if g.have.is_none() && !guards.is_empty() {
                    info!(
                        "port security: table bridge {TABLE} loaded ({} network{})",
                        guards.len(),
                        if guards.len() == 1 { "" } else { "s" }
                    );
                } else if guards.is_empty() {
                    info!("port security: table bridge {TABLE} removed (no network guards its ports)");
                }
                g.pins.retain(|p, _| want.guests.contains(p));
                if g.have.is_none() || g.ports != ports {
                    g.changed = Some(std::time::Instant::now());
                }
                g.have = (!guards.is_empty()).then_some(want);
                g.made_for = guards;
                g.ports = ports;
                if leases {
                    g.dirty = false;
                }
                g.failed = None;
                self.tell_dhcp_ports();
            }
            Err(e) => {
                let g = &mut self.guard;
                if g.failed.as_ref() != Some(&e) {
                    warn!("port security: table bridge {TABLE}: {e}");
                    g.failed = Some(e);
                }
                // Made whole again next time.
                g.have = None;
            }
        }
    }

    /// Each guarded network's DHCP server learns its guest ports and the
    /// MACs pinned on them (every tick: a server started since hears too).
    fn tell_dhcp_ports(&self) {
        let Some(have) = &self.guard.have else { return };
        for gd in &self.plan.guards {
            let live: std::collections::HashSet<u32> = self
                .guard
                .ports
                .iter()
                .filter(|p| p.bridge == gd.bridge && have.guests.contains(&p.index))
                .map(|p| p.index)
                .collect();
            let pins = live
                .iter()
                .filter_map(|p| Some((*p, *self.guard.pins.get(p)?)))
                .collect();
            self.dhcp.set_ports(&gd.network, live, pins);
        }
    }

    /// The addresses the guests on guarded ports hold: each server is
    /// asked for the leases of the MACs pinned on its bridge's guest ports
    /// (not every lease: a relay's port may hold thousands, none of them a
    /// guest's), with the declared static guests left to `want`.
    async fn held_by_pinned(&self, guards: &[PortGuard], ports: &[Port]) -> Held {
        let mut held = Held::new();
        for g in guards {
            let macs: std::collections::HashSet<MacAddr> = ports
                .iter()
                .filter(|p| p.bridge == g.bridge)
                .filter_map(|p| self.guard.pins.get(&p.index).copied())
                .collect();
            if macs.is_empty() {
                continue;
            }
            let mut v: Vec<(IpAddr, MacAddr)> = Vec::new();
            if self.plan.dhcp.iter().any(|p| p.network == g.network) {
                let l = self
                    .dhcp
                    .leases_of(&g.network, macs.clone())
                    .await
                    .unwrap_or_default();
                v.extend(l.into_iter().map(|(ip, m)| (IpAddr::V4(ip), m)));
            }
            if self.plan.dhcp6.iter().any(|p| p.network == g.network) {
                let l = self.dhcp6.leases(&g.network).await.unwrap_or_default();
                v.extend(
                    l.into_iter()
                        .filter_map(|l| Some((IpAddr::V6(l.ip), l.mac().filter(|m| macs.contains(m))?))),
                );
            }
            held.insert(g.network.clone(), v);
        }
        held
    }

    /// `info`'s view of a network's ports: what each may do, what was
    /// dropped (the kernel's counts) and refused (the DHCP server's).
    pub(super) async fn port_security_info(
        &self,
        network: &str,
    ) -> Option<crate::control::proto::PortSecurityInfo> {
        use crate::control::proto::{PortRow, PortSecurityInfo};
        let g = self.plan.guards.iter().find(|g| g.network == network)?;
        let ports: Vec<Port> = self
            .guarded_ports()
            .into_iter()
            .filter(|p| p.bridge == g.bridge)
            .collect();
        let mut drops: Vec<HashMap<u32, u64>> = Vec::new();
        for (set, _) in rules::DROP_SETS {
            let counts = list_set(set)
                .await
                .map(|v| rules::read_drops(&v))
                .unwrap_or_default();
            drops.push(
                counts
                    .into_iter()
                    .filter_map(|(p, n)| Some((index_of(&ports, &p)?, n)))
                    .collect(),
            );
        }
        let refused = self.dhcp.refusals(network).await.unwrap_or_default();
        let have = self.guard.have.clone().unwrap_or_default();
        let rows = ports
            .iter()
            .map(|p| {
                let role = match guard_ports::role(g, p) {
                    guard_ports::Role::Guest => "guest",
                    guard_ports::Role::Segment => "segment",
                    guard_ports::Role::Trusted => "trusted",
                };
                let mut addresses: Vec<String> = have
                    .port_ip4
                    .iter()
                    .filter(|(i, _)| *i == p.index)
                    .map(|(_, a)| a.to_string())
                    .chain(
                        have.port_ip6
                            .iter()
                            .filter(|(i, _)| *i == p.index)
                            .map(|(_, a)| a.to_string()),
                    )
                    .collect();
                addresses.sort();
                let n = |k: usize| drops.get(k).and_then(|d| d.get(&p.index)).copied().unwrap_or(0);
                PortRow {
                    port: p.name.clone(),
                    role: role.into(),
                    mac: self.guard.pins.get(&p.index).map(|m| m.to_string()),
                    addresses,
                    dropped_mac: n(0),
                    dropped_server: n(1),
                    dropped_address: n(2),
                    dhcp_refused: refused.get(&p.index).copied().unwrap_or(0),
                }
            })
            .collect();
        Some(PortSecurityInfo {
            trusted: g.trusted.clone(),
            leases_per_port: g.leases_per_port,
            ports: rows,
        })
    }

    /// What port security stops now, for `status`.
    pub(super) fn guard_trouble(&self) -> Option<String> {
        self.guard.failed.clone()
    }
}
