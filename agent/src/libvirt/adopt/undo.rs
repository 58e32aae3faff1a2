//! `netagent adopt-libvirt --undo`: libvirt gets its networks back as they
//! were defined, with the leases netagent gave meanwhile, and netagent
//! stops serving their bridges. A user tries a new network stack only when
//! leaving it is one command.
//!
//! In this order: the config loses the networks and netagent stops serving
//! them (the bridge stays: libvirt's host-bridge network still names it);
//! libvirt's lease file gets netagent's leases (its dnsmasq reads them when
//! it starts); then per network libvirt's definition comes back, the bridge
//! is deleted and libvirt starts the network (its bridge, rules and
//! dnsmasq), and the guests' taps are put on the new bridge the moment it
//! exists. Only between the delete and that moment are running guests
//! without a bridge; the time is measured and said.

use std::io::Write;
use std::time::Instant;

use super::kept::SaveDir;
use super::{failed, running_agent, runtime, virsh, AdoptError, Agent, Options};
use crate::dhcp::journal;
use crate::libvirt::status;

/// Give libvirt its networks back; what was done goes to `out`.
pub fn undo(o: &Options, out: &mut dyn Write) -> Result<(), AdoptError> {
    let save = SaveDir {
        dir: o.save_dir.clone(),
    };
    let mut kept = save.read().map_err(AdoptError::Refused)?;
    for want in &o.networks {
        if !kept.networks.iter().any(|k| &k.name == want) {
            return Err(AdoptError::Refused(format!(
                "network \"{want}\" was not adopted from libvirt"
            )));
        }
    }
    let chosen: Vec<_> = kept
        .networks
        .iter()
        .filter(|k| o.networks.is_empty() || o.networks.contains(&k.name))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(AdoptError::Refused(format!(
            "nothing was adopted from libvirt (no networks in {})",
            o.save_dir.display()
        )));
    }
    for k in &chosen {
        let path = save.original(&k.name);
        std::fs::metadata(&path).map_err(|e| {
            AdoptError::Refused(format!(
                "network \"{}\": its kept definition {}: {e}",
                k.name,
                path.display()
            ))
        })?;
        // libvirt's network is the host-bridge one adopt-libvirt left, or
        // already its original (an adoption that failed before redefining).
        let original = std::fs::read_to_string(&path).unwrap_or_default();
        if let Ok(now) = o.virsh.network(&k.name) {
            if now.xml != original && !now.xml.contains("<forward mode='bridge'/>") {
                return Err(AdoptError::Refused(format!(
                    "libvirt's network \"{}\" is no longer the host-bridge network adopt-libvirt left (it was changed since); nothing was changed (its original is {})",
                    k.name,
                    path.display()
                )));
            }
        }
    }
    let names: Vec<String> = chosen.iter().map(|k| k.name.clone()).collect();
    // Adoptions write one config; the networks chosen name it.
    let file = chosen[0].config.clone();
    let remaining = super::config_without(&file, &names)?;
    let agent = running_agent(&o.state_dir, &file)?;
    if remaining.is_none() && matches!(agent, Agent::Running) {
        return Err(AdoptError::Refused(format!(
            "netagent serves only the adopted networks ({}): stop it first (systemctl stop netagent), then run --undo again; nothing was changed",
            names.join(", ")
        )));
    }
    for k in &chosen {
        let _ = writeln!(
            out,
            "{}network \"{}\" (bridge {}) to libvirt{}",
            if o.dry_run { "would give " } else { "giving " },
            k.name,
            k.bridge,
            if k.active {
                ": netagent lets go of the bridge, libvirt starts its own network on it"
            } else {
                ""
            }
        );
    }
    if o.dry_run {
        return Ok(());
    }

    // netagent stops serving them.
    let rt = runtime().map_err(failed)?;
    match (&remaining, &agent) {
        (Some(cfg), _) => {
            // The file as it was before, comments and all, when what is
            // left is what it had.
            let before = std::fs::read_to_string(save.config_backup()).ok();
            let text = match before.filter(|b| {
                crate::config::parse(b, "the config before the adoption")
                    .is_ok_and(|c| c.networks == cfg.networks)
            }) {
                Some(b) => b,
                None => super::merge::text(cfg, &[]).map_err(failed)?,
            };
            crate::util::fs::write_atomic(&file, text.as_bytes()).map_err(failed)?;
            super::apply_config(&agent, &file, o, &rt).map_err(failed)?;
        }
        (None, _) => {
            // Nothing of netagent's is left to serve: its table and routes
            // go (a libvirt network's bridge is never netagent's to delete).
            rt.block_on(crate::daemon::down(Some(file.clone()), o.state_dir.clone()))
                .map_err(failed)?;
            if save.config_backup().exists() {
                std::fs::rename(save.config_backup(), &file).map_err(failed)?;
                let _ = writeln!(out, "{} is as it was before the adoption", file.display());
            } else {
                std::fs::remove_file(&file).map_err(failed)?;
                let _ = writeln!(
                    out,
                    "removed {} (there was none before the adoption)",
                    file.display()
                );
            }
        }
    }

    // libvirt's lease files: netagent's leases, for dnsmasq to read.
    for k in &chosen {
        let (v4, _) = journal::replay::<crate::dhcp::Lease>(&journal::path_for(&o.lease_dir, &k.name));
        let (v6, _) =
            journal::replay::<crate::dhcp6::lease::Lease6>(&journal::path_for6(&o.lease_dir, &k.name));
        let now = crate::util::time::now();
        let v4: Vec<_> = v4.into_iter().filter(|l| !l.expired(now)).collect();
        let v6: Vec<_> = v6.into_iter().filter(|l| !l.expired(now)).collect();
        let duid = crate::dhcp6::server::server_duid(&k.bridge);
        let path = status::status_path(&o.libvirt_dir, &k.bridge);
        crate::util::fs::write_atomic(&path, status::write(&v4, &v6, Some(&duid)).as_bytes())
            .map_err(failed)?;
        let _ = writeln!(
            out,
            "network \"{}\": {} lease{} handed back",
            k.name,
            v4.len() + v6.len(),
            if v4.len() + v6.len() == 1 { "" } else { "s" }
        );
    }

    // libvirt's networks come back.
    let nl = crate::links::Netlink::connect().map_err(failed)?;
    for k in &chosen {
        let current = o.virsh.network(&k.name).ok();
        if current.as_ref().is_some_and(|c| c.active) {
            o.virsh.destroy(&k.name).map_err(failed)?;
        }
        let path = save.original(&k.name);
        o.virsh.define(&path).map_err(failed)?;
        let kernel = rt.block_on(nl.observe()).map_err(failed)?;
        let ports = kernel.ports_by_bridge().remove(&k.bridge).unwrap_or_default();
        let started = Instant::now();
        if let Some(br) = kernel.link(&k.bridge).filter(|l| l.is_bridge()) {
            rt.block_on(nl.delete(br)).map_err(failed)?;
        }
        if k.active || current.is_some_and(|c| c.active) {
            let watcher = super::handover::replug_when_made(k.bridge.clone(), ports);
            o.virsh.start(&k.name).map_err(failed)?;
            let (moved, at) = watcher
                .join()
                .unwrap_or_else(|_| Err("the port watcher failed".into()))
                .map_err(failed)?;
            let gap = at.duration_since(started);
            let _ = writeln!(
                out,
                "network \"{}\": libvirt runs it again; running guests were without a bridge for {} ms ({moved} port{} put back)",
                k.name,
                gap.as_millis(),
                if moved == 1 { "" } else { "s" }
            );
        }
        o.virsh.autostart(&k.name, k.autostart).map_err(failed)?;
        let _ = std::fs::remove_file(save.host_bridge(&k.name));
        let _ = std::fs::rename(&path, path.with_extension("xml.undone"));
    }
    kept.networks.retain(|k| !names.contains(&k.name));
    save.write(&kept).map_err(failed)?;
    if kept.networks.is_empty() {
        let _ = std::fs::remove_file(o.hook_dir.join(crate::libvirt::hook::HOOK_NAME));
        let _ = std::fs::remove_file(save.config_backup());
        virsh::reload_daemons();
    }
    Ok(())
}
