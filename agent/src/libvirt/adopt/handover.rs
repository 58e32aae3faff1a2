//! The moment a running network changes hands, kept as short as the kernel
//! allows. libvirt stops a network in this order (networkShutdownNetwork-
//! Virtual): it kills dnsmasq, sets the bridge down, removes its firewall
//! rules (one iptables call per rule, ~0.2 s in all) and deletes the
//! bridge. Left alone, the guests lose their bridge from the first of
//! those steps until netagent has made its own and put their taps on it.
//!
//! So while `virsh net-destroy` runs, a thread of its own watches the
//! bridge every millisecond: set down, it is set up again, with STP off
//! (libvirt's next steps do not look at the link's state, and frames keep
//! flowing while its rules go); deleted, netagent's bridge is made at once in its place
//! (same name, MAC, MTU and address) with the guests' ports on it. The
//! daemon's pass that follows takes that bridge over as it is.
//! `--undo` uses the other half alone: libvirt's new bridge gets the ports
//! the moment it exists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::links::Netlink;
use crate::plan::BridgePlan;

/// What the watcher saw and did, and when.
#[derive(Debug, Default)]
pub struct Handover {
    /// libvirt set the bridge down; the watcher set it up again.
    pub downed: Option<(Instant, Instant)>,
    /// libvirt deleted the bridge; netagent's had the ports again.
    pub replaced: Option<(Instant, Instant)>,
    pub moved: usize,
}

impl Handover {
    /// How long the guests had no working bridge.
    pub fn outage(&self) -> Duration {
        let span = |p: Option<(Instant, Instant)>| p.map(|(a, b)| b.duration_since(a)).unwrap_or_default();
        span(self.downed) + span(self.replaced)
    }
}

/// A watcher, and how to tell it that libvirt's step is over.
#[derive(Debug)]
pub struct Watch {
    done: Arc<AtomicBool>,
    thread: JoinHandle<Result<Handover, String>>,
}

impl Watch {
    /// libvirt's step returned: the watcher makes its last check and says
    /// what it did.
    pub fn finish(self) -> Result<Handover, String> {
        self.done.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .unwrap_or_else(|_| Err("the bridge watcher failed".into()))
    }
}

/// Stay with `bridge` (as netagent plans it) while libvirt stops it; put
/// `ports` on netagent's bridge once it is made.
pub fn take_over(bridge: BridgePlan, ports: Vec<String>) -> Watch {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let rt = super::runtime().map_err(|e| e.to_string())?;
        let nl = Netlink::connect().map_err(|e| e.to_string())?;
        let mut h = Handover::default();
        loop {
            // Read `done` before looking: a last look after libvirt returned.
            let last = flag.load(Ordering::SeqCst);
            let links = rt.block_on(nl.links()).map_err(|e| e.to_string())?;
            match links.iter().find(|l| l.name == bridge.name) {
                Some(l) if l.is_bridge() && !l.up && h.downed.is_none() => {
                    let seen = Instant::now();
                    // With STP on (libvirt's stp='on'), a bridge set up
                    // again holds its ports 2 + 2 s: off first, and they
                    // forward at once.
                    if l.stp == Some(true) {
                        rt.block_on(nl.set_stp(l, false)).map_err(|e| e.to_string())?;
                    }
                    rt.block_on(nl.set_up(l)).map_err(|e| e.to_string())?;
                    h.downed = Some((seen, Instant::now()));
                }
                Some(_) => {}
                None => {
                    let seen = Instant::now();
                    h.moved = rt.block_on(make(&nl, &bridge, &ports))?;
                    h.replaced = Some((seen, Instant::now()));
                    return Ok(h);
                }
            }
            if last {
                return Ok(h);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Watch { done, thread }
}

/// netagent's bridge in place of libvirt's: made up, addressed, ports on.
async fn make(nl: &Netlink, b: &BridgePlan, ports: &[String]) -> Result<usize, String> {
    nl.create_bridge(&b.name, b.mac, b.mtu, b.stp)
        .await
        .map_err(|e| e.to_string())?;
    let links = nl.links().await.map_err(|e| e.to_string())?;
    let br = links
        .iter()
        .find(|l| l.name == b.name)
        .ok_or_else(|| format!("bridge {}: made, then gone", b.name))?;
    if let Some(a) = b.address {
        nl.add_addr(br, a.into()).await.map_err(|e| e.to_string())?;
    }
    let want: HashMap<String, Vec<String>> = [(b.name.clone(), ports.to_vec())].into();
    super::replug(nl, &want).await
}

/// On a thread of its own: wait (up to 10 s) for `bridge` to exist, then
/// put `ports` on it at once. How many were moved, and when.
pub fn replug_when_made(bridge: String, ports: Vec<String>) -> JoinHandle<Result<(usize, Instant), String>> {
    std::thread::spawn(move || {
        let rt = super::runtime().map_err(|e| e.to_string())?;
        let nl = Netlink::connect().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let links = rt.block_on(nl.links()).map_err(|e| e.to_string())?;
            if links.iter().any(|l| l.name == bridge && l.is_bridge()) {
                let want: HashMap<String, Vec<String>> = [(bridge.clone(), ports.clone())].into();
                let moved = rt.block_on(super::replug(&nl, &want))?;
                return Ok((moved, Instant::now()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "bridge {bridge} did not appear within 10 s of libvirt starting its network"
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}
