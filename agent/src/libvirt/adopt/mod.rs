//! `netagent adopt-libvirt`: netagent takes over libvirt's networks on a
//! running host, and every existing domain starts unchanged.
//!
//! Each adopted network stays defined in libvirt under its name and UUID,
//! as a host-bridge network on the same bridge (see `judge`): libvirt runs
//! no dnsmasq and no rules for it and plugs the taps of the domains that
//! name it into the bridge, which netagent now keeps, serves (DHCP, DNS,
//! NAT...) and never deletes. The guests' leases come along, libvirt keeps
//! seeing them (`virsh net-dhcp-leases`), and a hook names guests after
//! their domains. `--undo` (`undo.rs`) gives it all back.
//!
//! Nothing changes until every network asked for has been judged and the
//! new config has passed the check: a network that cannot be kept as it is
//! refuses the whole adoption. Then, in this order:
//! 1. the original definitions and the config are kept (`kept.rs`), so
//!    `--undo` works from any later point, even after a failure;
//! 2. the leases are carried into netagent's lease files and the config
//!    file is written; the hook is installed;
//! 3. per network: libvirt stops it (its dnsmasq, rules and bridge go),
//!    leftover rules naming the bridge are removed, netagent makes the
//!    bridge (a reload of the running agent, or one pass of `run --once`),
//!    the guests' taps go back on it, and libvirt starts the host-bridge
//!    network. Only between the first and the fourth step are the running
//!    guests without a bridge; the time is measured and said.

pub mod handover;
pub mod judge;
pub mod kept;
pub mod leftovers;
pub mod merge;
mod undo;
pub mod virsh;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use judge::{Adoption, Found, Verdict};
use kept::{KeptNetwork, SaveDir};
use virsh::Virsh;

use super::status;
use crate::config::{self, Config};
use crate::control::{self, client, proto::Request};

pub use undo::undo;

/// Where things are, and what to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The netagent config to write (the running agent's own, if one runs).
    pub output: PathBuf,
    /// Only these networks; all of them when empty.
    pub networks: Vec<String>,
    pub dry_run: bool,
    /// Adopt networks that lose their QoS in the move.
    pub force: bool,
    pub virsh: Virsh,
    /// Where the original definitions are kept for `--undo`.
    pub save_dir: PathBuf,
    pub state_dir: PathBuf,
    pub lease_dir: PathBuf,
    /// libvirt's dnsmasq directory (its lease files and MAC maps).
    pub libvirt_dir: PathBuf,
    /// libvirt's network hook directory.
    pub hook_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// Nothing was changed: the input or the host's state says no.
    #[error("{0}")]
    Refused(String),
    /// A step failed after changes began.
    #[error("{0}")]
    Failed(String),
}

impl AdoptError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AdoptError::Refused(_) => 2,
            AdoptError::Failed(_) => 1,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> AdoptError {
    AdoptError::Failed(e.to_string())
}

/// A network's leases read from libvirt, and its domains' names.
struct Carry {
    leases: status::Carried,
    names: Vec<(crate::config::MacAddr, String)>,
}

/// Whether a netagent runs, and with which config.
enum Agent {
    Running,
    Stopped,
}

/// The config file a running agent serves, if one answers.
fn running_agent(state_dir: &Path, output: &Path) -> Result<Agent, AdoptError> {
    let socket = control::socket_path(state_dir);
    let r = match client::call_within(&socket, &Request::Status, Duration::from_secs(10)) {
        Ok(r) => r,
        Err(client::ClientError::NotRunning(_)) => return Ok(Agent::Stopped),
        Err(e) => return Err(AdoptError::Refused(e.to_string())),
    };
    let config = r
        .data
        .get("config")
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_string();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(Path::new(&config), output) {
        return Err(AdoptError::Refused(format!(
            "netagent runs with {config}: adopt into that file (-o {config}), or stop it first"
        )));
    }
    Ok(Agent::Running)
}

/// Judge the networks asked for; Err (nothing changed) if any is refused.
fn choose(o: &Options, found: &[Found]) -> Result<(Vec<Adoption>, Vec<String>), AdoptError> {
    for want in &o.networks {
        if !found.iter().any(|f| &f.name == want) {
            let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
            return Err(AdoptError::Refused(format!(
                "libvirt has no network \"{want}\"; it has: {}",
                names.join(", ")
            )));
        }
    }
    let mut adopt = Vec::new();
    let mut left = Vec::new();
    let mut refused = Vec::new();
    for f in found
        .iter()
        .filter(|f| o.networks.is_empty() || o.networks.contains(&f.name))
    {
        match judge::judge(f, o.force) {
            Verdict::Adopt(a) => adopt.push(*a),
            Verdict::Leave(why) => left.push(why),
            Verdict::Refuse(why) => refused.push(why),
        }
    }
    if !refused.is_empty() {
        return Err(AdoptError::Refused(refused.join("\n")));
    }
    Ok((adopt, left))
}

/// Nothing to adopt: done already (every network asked for is one adopted
/// earlier), or nothing netagent could serve.
fn nothing_to_adopt(
    o: &Options,
    found: &[Found],
    left: &[String],
    out: &mut dyn Write,
) -> Result<(), AdoptError> {
    let kept = SaveDir {
        dir: o.save_dir.clone(),
    }
    .read()
    .unwrap_or_default();
    let asked: Vec<&str> = found
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| o.networks.is_empty() || o.networks.iter().any(|w| w == n))
        .collect();
    let done = !asked.is_empty() && asked.iter().all(|n| kept.networks.iter().any(|k| &k.name == n));
    if done {
        let _ = writeln!(out, "nothing to adopt: {} adopted already", asked.join(", "));
        return Ok(());
    }
    let why = if left.is_empty() {
        "libvirt has no networks".to_string()
    } else {
        left.join("\n")
    };
    Err(AdoptError::Refused(format!("no network to adopt:\n{why}")))
}

/// Read a network's leases and names from libvirt's files.
fn carry(o: &Options, a: &Adoption) -> Result<Carry, AdoptError> {
    let path = status::status_path(&o.libvirt_dir, &a.bridge);
    let leases = match std::fs::read_to_string(&path) {
        Ok(t) => status::read(&t).map_err(|e| {
            AdoptError::Refused(format!(
                "network \"{}\": {}: {e}; nothing was changed (fix or remove the file: its guests then ask for new leases)",
                a.name,
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => status::Carried::default(),
        Err(e) => return Err(AdoptError::Refused(format!("{}: {e}", path.display()))),
    };
    let names = std::fs::read_to_string(status::macs_path(&o.libvirt_dir, &a.bridge))
        .map(|t| status::read_macs(&t))
        .unwrap_or_default();
    Ok(Carry { leases, names })
}

/// The comments at the top of the written config.
fn header(adopted: &[Adoption]) -> Vec<String> {
    let mut h = vec![format!(
        "Networks adopted from libvirt by `netagent adopt-libvirt` ({}): libvirt\n\
         keeps each defined as a host-bridge network of the same name and UUID;\n\
         `netagent adopt-libvirt --undo` gives them back.",
        adopted
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )];
    let notes: Vec<&String> = adopted
        .iter()
        .flat_map(|a| a.warnings.iter().chain(&a.dropped))
        .collect();
    if !notes.is_empty() {
        h.push("Not carried over (no netagent equivalent):".into());
        h.extend(notes.iter().map(|n| format!("- {n}")));
    }
    h
}

/// Take libvirt's networks over; what was done goes to `out`.
pub fn adopt(o: &Options, out: &mut dyn Write) -> Result<(), AdoptError> {
    let found = o
        .virsh
        .networks()
        .map_err(|e| AdoptError::Refused(e.to_string()))?;
    let (adopted, left) = choose(o, &found)?;
    if adopted.is_empty() {
        return nothing_to_adopt(o, &found, &left, out);
    }
    let existing = match o.output.exists() {
        true => Some(
            config::load(Some(&o.output))
                .map_err(|e| {
                    AdoptError::Refused(format!(
                        "{e}\nfix {} first; nothing was changed",
                        o.output.display()
                    ))
                })?
                .0,
        ),
        false => None,
    };
    let cfg = merge::merge(existing.clone(), &adopted);
    let text = merge::text(&cfg, &header(&adopted)).map_err(AdoptError::Refused)?;
    let agent = running_agent(&o.state_dir, &o.output)?;
    let mut carried = Vec::new();
    for a in &adopted {
        carried.push(carry(o, a)?);
    }

    for why in &left {
        let _ = writeln!(out, "left to libvirt: {why}");
    }
    for (a, c) in adopted.iter().zip(&carried) {
        let _ = writeln!(
            out,
            "{}network \"{}\": bridge {}, {} lease{} carried{}, {}",
            if o.dry_run { "would adopt " } else { "adopting " },
            a.name,
            a.bridge,
            c.leases.v4.len() + c.leases.v6.len(),
            if c.leases.v4.len() + c.leases.v6.len() == 1 {
                ""
            } else {
                "s"
            },
            if c.names.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} domain name{}",
                    c.names.len(),
                    if c.names.len() == 1 { "" } else { "s" }
                )
            },
            if a.active {
                "running: libvirt stops it, netagent serves the bridge, libvirt starts it as a host-bridge network"
            } else {
                "defined, not running: redefined as a host-bridge network"
            }
        );
        for s in &c.leases.skipped {
            let _ = writeln!(out, "  lease not carried: {s}");
        }
        for w in a.warnings.iter().chain(&a.dropped) {
            let _ = writeln!(out, "  not kept: {w}");
        }
    }
    if o.dry_run {
        let _ = writeln!(
            out,
            "would write {} ({}), keep libvirt's definitions in {}, install {}",
            o.output.display(),
            if existing.is_some() {
                "merged with the networks it has"
            } else {
                "new"
            },
            o.save_dir.display(),
            o.hook_dir.join(super::hook::HOOK_NAME).display()
        );
        let _ = writeln!(out, "--- {} ---\n{text}", o.output.display());
        return Ok(());
    }

    // 1. Keep what --undo needs, before anything changes.
    let save = SaveDir {
        dir: o.save_dir.clone(),
    };
    let mut kept = save.read().map_err(AdoptError::Refused)?;
    if existing.is_some() && !save.config_backup().exists() {
        let before = std::fs::read_to_string(&o.output).map_err(failed)?;
        save.save(&save.config_backup(), &before).map_err(failed)?;
    }
    for a in &adopted {
        let original = found
            .iter()
            .find(|f| f.name == a.name)
            .map(|f| f.xml.as_str())
            .unwrap_or_default();
        save.save(&save.original(&a.name), original).map_err(failed)?;
        save.save(&save.host_bridge(&a.name), &a.host_bridge_xml)
            .map_err(failed)?;
        kept.put(KeptNetwork {
            name: a.name.clone(),
            uuid: a.uuid.clone(),
            bridge: a.bridge.clone(),
            active: a.active,
            autostart: a.autostart,
            config: o.output.clone(),
        });
    }
    save.write(&kept).map_err(failed)?;
    let undo_hint = "; `netagent adopt-libvirt --undo` gives libvirt its networks back";
    let with_hint = |e: String| AdoptError::Failed(format!("{e}{undo_hint}"));

    // 2. Leases, config, hook.
    for (a, c) in adopted.iter().zip(&carried) {
        let n = &a.network.name;
        crate::dhcp::journal::replace(&crate::dhcp::journal::path_for(&o.lease_dir, n), &c.leases.v4)
            .map_err(|e| with_hint(e.to_string()))?;
        if !c.leases.v6.is_empty() {
            crate::dhcp::journal::replace(&crate::dhcp::journal::path_for6(&o.lease_dir, n), &c.leases.v6)
                .map_err(|e| with_hint(e.to_string()))?;
        }
    }
    crate::util::fs::write_atomic(&o.output, text.as_bytes()).map_err(|e| with_hint(e.to_string()))?;
    install_hook(&o.hook_dir, &o.state_dir).map_err(with_hint)?;
    if let Agent::Stopped = agent {
        for (a, c) in adopted.iter().zip(&carried) {
            crate::daemon::record_libvirt_names(&o.state_dir, &a.network.name, &c.names);
        }
    }

    // 3. The switch, network by network: libvirt's bridge down, netagent's
    // up in its place at once (handover.rs), with the guests' ports on it.
    let rt = runtime().map_err(failed)?;
    let nl = crate::links::Netlink::connect().map_err(failed)?;
    let planned = crate::plan::plan(&cfg);
    let mut handovers: Vec<(String, handover::Handover)> = Vec::new();
    for a in adopted.iter().filter(|a| a.active) {
        let ports = rt
            .block_on(nl.observe())
            .map_err(failed)?
            .ports_by_bridge()
            .remove(&a.bridge)
            .unwrap_or_default();
        let Some(plan) = planned.bridges.iter().find(|b| b.name == a.bridge).cloned() else {
            return Err(with_hint(format!(
                "bridge {} is not in netagent's plan",
                a.bridge
            )));
        };
        let watch = handover::take_over(plan, ports);
        let destroyed = o.virsh.destroy(&a.name);
        let seen = watch.finish();
        destroyed.map_err(|e| with_hint(e.to_string()))?;
        let h = seen.map_err(|e| with_hint(format!("network \"{}\": {e}", a.name)))?;
        if h.replaced.is_none() {
            return Err(with_hint(format!(
                "network \"{}\": libvirt stopped it but its bridge {} is still there",
                a.name, a.bridge
            )));
        }
        handovers.push((a.name.clone(), h));
    }
    apply_config(&agent, &o.output, o, &rt).map_err(with_hint)?;
    if !handovers.is_empty() {
        // After the guests have their bridge again: a leftover found here
        // is a few milliseconds late, the bridge would have been seconds.
        remove_leftovers(&adopted, out);
    }
    for a in &adopted {
        o.virsh
            .define(&save.host_bridge(&a.name))
            .map_err(|e| with_hint(e.to_string()))?;
        if a.active {
            o.virsh.start(&a.name).map_err(|e| with_hint(e.to_string()))?;
        }
        o.virsh
            .autostart(&a.name, a.autostart)
            .map_err(|e| with_hint(e.to_string()))?;
    }
    if let Agent::Running = agent {
        tell_names(&o.state_dir, &adopted, &carried);
    }
    let told = virsh::reload_daemons();

    let _ = writeln!(out, "wrote {}", o.output.display());
    for (name, h) in &handovers {
        let _ = writeln!(
            out,
            "network \"{name}\": running guests were without a working bridge for {:.1} ms ({} port{} moved to netagent's bridge)",
            h.outage().as_secs_f64() * 1000.0,
            h.moved,
            if h.moved == 1 { "" } else { "s" }
        );
    }
    let _ = writeln!(
        out,
        "libvirt keeps {} as host-bridge network{}; the originals are in {}",
        adopted
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if adopted.len() == 1 { "" } else { "s" },
        o.save_dir.display()
    );
    if told == 0 {
        let _ = writeln!(
            out,
            "no libvirt daemon found to reload: guests started from now on are named after their domains once libvirt's network daemon restarts or reloads"
        );
    }
    if let Agent::Stopped = agent {
        let _ = writeln!(
            out,
            "netagent is not running: the bridges and rules are up; start it (systemctl enable --now netagent) to serve DHCP and DNS"
        );
    }
    Ok(())
}

/// netagent serves what `file` now says: the running agent reloads it, or,
/// with none running, one pass of `run --once` puts bridges and rules in
/// place for the agent started later.
fn apply_config(agent: &Agent, file: &Path, o: &Options, rt: &tokio::runtime::Runtime) -> Result<(), String> {
    match agent {
        Agent::Running => {
            let reload = Request::Reload {
                dry_run: false,
                file: None,
            };
            let r = client::call(&control::socket_path(&o.state_dir), &reload).map_err(|e| e.to_string())?;
            if !r.ok {
                return Err(format!(
                    "netagent refused the config: {}",
                    r.error.unwrap_or_default()
                ));
            }
            Ok(())
        }
        Agent::Stopped => {
            let opts = crate::daemon::Options {
                config: Some(file.to_path_buf()),
                state_dir: o.state_dir.clone(),
                lease_dir: o.lease_dir.clone(),
                once: true,
                hardware_settled: None,
            };
            rt.block_on(crate::daemon::run(opts)).map_err(|e| e.to_string())
        }
    }
}

/// A small runtime of this command's own, for netlink.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Put `ports` (bridge -> its ports before) back on their bridges, as
/// they are now; how many were moved.
async fn replug(nl: &crate::links::Netlink, ports: &HashMap<String, Vec<String>>) -> Result<usize, String> {
    let links = nl.links().await.map_err(|e| e.to_string())?;
    let mut moved = 0;
    for (bridge, names) in ports {
        let Some(br) = links.iter().find(|l| &l.name == bridge && l.is_bridge()) else {
            return Err(format!("bridge {bridge} is missing after netagent's pass"));
        };
        for p in names {
            let Some(port) = links.iter().find(|l| &l.name == p) else {
                continue;
            };
            if port.controller == Some(br.index) {
                continue;
            }
            nl.enslave(port, br).await.map_err(|e| e.to_string())?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Delete libvirt's rules that outlived the adopted networks.
fn remove_leftovers(adopted: &[Adoption], out: &mut dyn Write) {
    let rules = match leftovers::ruleset() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "warning: libvirt's leftover rules not checked: {e}");
            return;
        }
    };
    let mut all = Vec::new();
    for a in adopted.iter().filter(|a| a.active) {
        let subnets: Vec<ipnet::IpNet> = a
            .network
            .address
            .map(|n| ipnet::IpNet::V4(n.trunc()))
            .into_iter()
            .chain(a.network.address6.map(|n| ipnet::IpNet::V6(n.trunc())))
            .collect();
        all.extend(leftovers::find(&rules, &a.bridge, &subnets));
    }
    if all.is_empty() {
        return;
    }
    match leftovers::remove(&all) {
        Ok(()) => {
            let _ = writeln!(
                out,
                "removed {} leftover libvirt rule{}:",
                all.len(),
                if all.len() == 1 { "" } else { "s" }
            );
            for r in &all {
                let _ = writeln!(out, "  {r}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "warning: {e}");
        }
    }
}

/// Write netagent's hook into libvirt's hook directory.
fn install_hook(dir: &Path, state_dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe().map_err(|e| format!("the path of netagent itself: {e}"))?;
    let path = dir.join(super::hook::HOOK_NAME);
    let body = super::hook::script(&exe.to_string_lossy(), &state_dir.to_string_lossy());
    crate::util::fs::write_atomic(&path, body.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: make it executable: {e}", path.display()))
}

/// Tell the running agent the names of the domains running now (libvirt's
/// MAC maps), as the hook will for those started later.
fn tell_names(state_dir: &Path, adopted: &[Adoption], carried: &[Carry]) {
    let socket = control::socket_path(state_dir);
    for (a, c) in adopted.iter().zip(carried) {
        for (mac, owner) in &c.names {
            let port = super::hook::PortEvent {
                network: a.name.clone(),
                bridge: a.bridge.clone(),
                mac: *mac,
                owner: owner.clone(),
                created: true,
            };
            let _ = client::call_within(&socket, &Request::LibvirtPort { port }, Duration::from_secs(2));
        }
    }
}

/// The config file with `names` taken out, or None if no network is left.
fn config_without(path: &Path, names: &[String]) -> Result<Option<Config>, AdoptError> {
    let (cfg, _) = config::load(Some(path)).map_err(|e| AdoptError::Refused(e.to_string()))?;
    Ok(merge::without(cfg, names))
}
