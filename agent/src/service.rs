//! One supervisor for every per-network service (DHCP, DNS, and the IPv6
//! services to come). It starts what the plan wants once its bridge is
//! there, reconfigures in place when it can, restarts a service whose task
//! ended (a panic, a socket error) with backoff, restarts one whose bridge
//! was re-created (its socket is bound to the old interface index), stops
//! what the plan dropped, and says for each network whether it serves or why
//! not. Each reason is logged once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// A service the supervisor keeps running, one per network.
pub(crate) trait Service: Sized {
    /// What the plan asks of one network's service.
    type Spec: Clone + PartialEq;
    /// What every instance needs from its owner (lease directory, caches).
    type Env;
    /// "dhcp" or "dns", for the log.
    const NAME: &'static str;

    fn start(env: &mut Self::Env, network: &str, spec: &Self::Spec) -> Result<Self, String>;
    /// Take a changed spec without a restart; false when only a restart will do.
    fn reconfigure(&mut self, env: &mut Self::Env, spec: &Self::Spec) -> bool;
    /// Its tasks ended: it no longer answers.
    fn ended(&self) -> bool;
    /// Running, but failing at its job (a DHCP server whose lease file
    /// cannot be written acknowledges nothing): what is wrong.
    fn trouble(&self) -> Option<String> {
        None
    }
    fn stop(self);
    /// Stop for good: the network no longer wants it (a service may say
    /// goodbye first, as a router advertisement of lifetime 0 does).
    fn remove(self) {
        self.stop();
    }
}

/// A spec that names its network and the bridge it serves on: the plan's
/// DHCP and DHCPv6 pools and router advertisements.
pub(crate) trait OnBridge {
    fn network(&self) -> &str;
    fn interface(&self) -> &str;
}

impl OnBridge for crate::plan::DhcpPool {
    fn network(&self) -> &str {
        &self.network
    }
    fn interface(&self) -> &str {
        &self.interface
    }
}

impl OnBridge for crate::plan::Dhcp6Pool {
    fn network(&self) -> &str {
        &self.network
    }
    fn interface(&self) -> &str {
        &self.interface
    }
}

impl OnBridge for crate::plan::RaPlan {
    fn network(&self) -> &str {
        &self.network
    }
    fn interface(&self) -> &str {
        &self.interface
    }
}

/// One network's service as the plan wants it, on its bridge's interface
/// index as last seen (None: the bridge is not there).
#[derive(Debug)]
pub(crate) struct Want<'a, T> {
    pub(crate) network: &'a str,
    pub(crate) spec: &'a T,
    pub(crate) link: Option<u32>,
}

struct Running<S: Service> {
    spec: S::Spec,
    service: S,
    link: u32,
    since: Instant,
}

#[derive(Debug)]
struct Down {
    /// None: stopped to be started again on the next pass, once its old
    /// sockets are closed (an aborted task is dropped only when the
    /// runtime next gets to it).
    reason: Option<String>,
    /// Failed starts or ends in a row.
    attempts: u32,
    retry_at: Instant,
}

/// A service stopped for a restart starts on the first pass after this,
/// once the runtime has dropped its aborted task and closed its sockets.
const RESTART_AFTER: Duration = Duration::from_millis(1);

/// A service that ran this long before it ended starts its backoff afresh.
const STABLE: Duration = Duration::from_secs(60);

/// 1, 2, 4, 8 s: quick after a passing failure, at most one try in 8 s for
/// one that keeps failing.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1 << attempts.saturating_sub(1).min(3))
}

/// A set of services under one supervisor: what the daemon asks of it.
pub(crate) trait Supervised {
    type S: Service;
    fn supervisor(&self) -> &Supervisor<Self::S>;

    /// Ok if it serves, the reason if it cannot, None if not tried yet.
    fn state(&self, network: &str) -> Option<Result<(), String>> {
        self.supervisor().state(network)
    }

    /// Why each service that should serve does not.
    fn problems(&self) -> Vec<String> {
        self.supervisor().problems()
    }

    /// Whether a sync has work now (a server ended, a retry is due).
    fn due(&self) -> bool {
        self.supervisor().due(Instant::now())
    }
}

pub(crate) struct Supervisor<S: Service> {
    running: HashMap<String, Running<S>>,
    down: HashMap<String, Down>,
}

impl<S: Service> std::fmt::Debug for Supervisor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("service", &S::NAME)
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .field("down", &self.down)
            .finish()
    }
}

impl<S: Service> Default for Supervisor<S> {
    fn default() -> Self {
        Supervisor {
            running: HashMap::new(),
            down: HashMap::new(),
        }
    }
}

impl<S: Service> Supervisor<S> {
    /// The running service of a network.
    pub(crate) fn get(&self, network: &str) -> Option<&S> {
        self.running.get(network).map(|r| &r.service)
    }

    /// Ok if it serves, the reason if it cannot, None if not tried yet.
    pub(crate) fn state(&self, network: &str) -> Option<Result<(), String>> {
        if let Some(r) = self.running.get(network) {
            return Some(r.service.trouble().map_or(Ok(()), Err));
        }
        let reason = self.down.get(network)?.reason.clone()?;
        Some(Err(reason))
    }

    /// Whether a pass has work to do now: a service whose task ended, or a
    /// retry that is due. Cheap, so it can be asked every second.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.running.values().any(|r| r.service.ended()) || self.down.values().any(|d| d.retry_at <= now)
    }

    /// Why each service that should serve does not.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut v: Vec<String> = self.down.values().filter_map(|d| d.reason.clone()).collect();
        v.extend(self.running.values().filter_map(|r| r.service.trouble()));
        v.sort();
        v
    }

    fn failed(&mut self, network: &str, reason: String, now: Instant, fresh: bool) {
        let attempts = match self.down.get(network) {
            Some(d) if !fresh => d.attempts + 1,
            _ => 1,
        };
        let wait = backoff(attempts);
        if self.down.get(network).and_then(|d| d.reason.as_ref()) != Some(&reason) {
            warn!("{reason}; retrying in {} s", wait.as_secs());
        }
        self.down.insert(
            network.to_string(),
            Down {
                reason: Some(reason),
                attempts,
                retry_at: now + wait,
            },
        );
    }

    /// Follow `specs`, each on its bridge's current interface index.
    pub(crate) fn sync_on_bridges(
        &mut self,
        env: &mut S::Env,
        specs: &[S::Spec],
        ifindex: impl Fn(&str) -> Option<u32>,
    ) where
        S::Spec: OnBridge,
    {
        let wanted: Vec<Want<'_, S::Spec>> = specs
            .iter()
            .map(|p| Want {
                network: p.network(),
                spec: p,
                link: ifindex(p.interface()),
            })
            .collect();
        self.sync(env, &wanted, Instant::now());
    }

    /// Make the running services match `wanted`.
    pub(crate) fn sync(&mut self, env: &mut S::Env, wanted: &[Want<'_, S::Spec>], now: Instant) {
        let names: HashMap<&str, &Want<'_, S::Spec>> = wanted.iter().map(|w| (w.network, w)).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !names.contains_key(n.as_str()))
            .cloned()
            .collect();
        for n in gone {
            if let Some(r) = self.running.remove(&n) {
                r.service.remove();
                info!("{} {n}: stopped", S::NAME);
            }
        }
        self.down.retain(|n, _| names.contains_key(n.as_str()));
        for w in wanted {
            self.sync_one(env, w, now);
        }
    }

    fn sync_one(&mut self, env: &mut S::Env, w: &Want<'_, S::Spec>, now: Instant) {
        let n = w.network;
        if let Some(r) = self.running.get_mut(n) {
            if r.service.ended() {
                let stable = now.duration_since(r.since) >= STABLE;
                if let Some(r) = self.running.remove(n) {
                    r.service.stop();
                }
                self.failed(n, format!("{} {n}: stopped unexpectedly", S::NAME), now, stable);
                return;
            }
            let why = if w.link != Some(r.link) {
                if w.link.is_some() {
                    "its bridge was re-created"
                } else {
                    "its bridge is gone"
                }
            } else if r.spec != *w.spec {
                if r.service.reconfigure(env, w.spec) {
                    r.spec = w.spec.clone();
                    return;
                }
                "its settings changed"
            } else {
                return;
            };
            if let Some(r) = self.running.remove(n) {
                r.service.stop();
            }
            info!("{} {n}: {why}: restarting", S::NAME);
            self.down.insert(
                n.to_string(),
                Down {
                    reason: None,
                    attempts: 0,
                    retry_at: now + RESTART_AFTER,
                },
            );
            return;
        }
        let Some(link) = w.link else { return };
        if self.down.get(n).is_some_and(|d| now < d.retry_at) {
            return;
        }
        match S::start(env, n, w.spec) {
            Ok(service) => {
                self.down.remove(n);
                self.running.insert(
                    n.to_string(),
                    Running {
                        spec: w.spec.clone(),
                        service,
                        link,
                        since: now,
                    },
                );
            }
            Err(reason) => self.failed(n, reason, now, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A service whose start fails while `refuse` is set and that ends
    /// when its `ended` cell is set.
    struct Fake {
        spec: u32,
        ended: Rc<Cell<bool>>,
    }

    #[derive(Default)]
    struct Env {
        refuse: bool,
        starts: u32,
        ended: Rc<Cell<bool>>,
        in_place: bool,
    }

    impl Service for Fake {
        type Spec = u32;
        type Env = Env;
        const NAME: &'static str = "fake";
        fn start(env: &mut Env, network: &str, spec: &u32) -> Result<Self, String> {
            if env.refuse {
                return Err(format!("fake {network}: Address in use"));
            }
            env.starts += 1;
            env.ended.set(false);
            Ok(Fake {
                spec: *spec,
                ended: env.ended.clone(),
            })
        }
        fn reconfigure(&mut self, env: &mut Env, spec: &u32) -> bool {
            if env.in_place {
                self.spec = *spec;
            }
            env.in_place
        }
        fn ended(&self) -> bool {
            self.ended.get()
        }
        fn stop(self) {}
    }

    fn want(spec: &u32, link: Option<u32>) -> Vec<Want<'_, u32>> {
        vec![Want {
            network: "n",
            spec,
            link,
        }]
    }

    #[test]
    fn it_waits_for_the_bridge_then_starts() {
        let (mut s, mut env, t) = (Supervisor::<Fake>::default(), Env::default(), Instant::now());
        s.sync(&mut env, &want(&1, None), t);
        assert_eq!(s.state("n"), None);
        s.sync(&mut env, &want(&1, Some(7)), t);
        assert_eq!(s.state("n"), Some(Ok(())));
        assert_eq!(env.starts, 1);
        s.sync(&mut env, &want(&1, Some(7)), t);
        assert_eq!(env.starts, 1, "a pass with nothing new starts nothing");
    }

    #[test]
    fn a_recreated_bridge_restarts_the_service_at_once() {
        let (mut s, mut env, t) = (Supervisor::<Fake>::default(), Env::default(), Instant::now());
        s.sync(&mut env, &want(&1, Some(7)), t);
        s.sync(&mut env, &want(&1, Some(9)), t);
        assert_eq!(s.state("n"), None, "stopped, not failed");
        assert!(s.problems().is_empty());
        s.sync(&mut env, &want(&1, Some(9)), t + RESTART_AFTER);
        assert_eq!(env.starts, 2);
        assert_eq!(s.state("n"), Some(Ok(())));
        s.sync(&mut env, &want(&1, None), t);
        assert!(s.get("n").is_none(), "its bridge is gone");
    }

    #[test]
    fn a_service_that_ended_is_shown_down_and_restarted_with_backoff() {
        let (mut s, mut env, t) = (Supervisor::<Fake>::default(), Env::default(), Instant::now());
        s.sync(&mut env, &want(&1, Some(7)), t);
        assert!(!s.due(t));
        env.ended.set(true);
        assert!(s.due(t), "an ended task is work for the next check");
        s.sync(&mut env, &want(&1, Some(7)), t);
        assert!(!s.due(t + Duration::from_millis(500)));
        assert!(s.due(t + Duration::from_secs(1)));
        assert_eq!(s.state("n"), Some(Err("fake n: stopped unexpectedly".into())));
        assert_eq!(s.problems().len(), 1);
        s.sync(&mut env, &want(&1, Some(7)), t + Duration::from_millis(500));
        assert_eq!(env.starts, 1, "not before its backoff");
        s.sync(&mut env, &want(&1, Some(7)), t + Duration::from_secs(1));
        assert_eq!(env.starts, 2);
        assert_eq!(s.state("n"), Some(Ok(())));
        assert!(s.problems().is_empty());
    }

    #[test]
    fn start_failures_back_off_to_eight_seconds_and_clear_on_start() {
        let (mut s, mut env, t) = (Supervisor::<Fake>::default(), Env::default(), Instant::now());
        env.refuse = true;
        let mut at = t;
        for wait in [1, 2, 4, 8, 8] {
            s.sync(&mut env, &want(&1, Some(7)), at);
            assert_eq!(s.down["n"].retry_at, at + Duration::from_secs(wait));
            at += Duration::from_secs(wait);
        }
        assert_eq!(s.state("n"), Some(Err("fake n: Address in use".into())));
        env.refuse = false;
        s.sync(&mut env, &want(&1, Some(7)), at);
        assert_eq!(s.state("n"), Some(Ok(())));
    }

    #[test]
    fn a_changed_spec_is_taken_in_place_or_by_a_restart() {
        let (mut s, mut env, t) = (Supervisor::<Fake>::default(), Env::default(), Instant::now());
        s.sync(&mut env, &want(&1, Some(7)), t);
        env.in_place = true;
        s.sync(&mut env, &want(&2, Some(7)), t);
        assert_eq!((env.starts, s.get("n").map(|f| f.spec)), (1, Some(2)));
        env.in_place = false;
        s.sync(&mut env, &want(&3, Some(7)), t);
        s.sync(&mut env, &want(&3, Some(7)), t + RESTART_AFTER);
        assert_eq!((env.starts, s.get("n").map(|f| f.spec)), (2, Some(3)));
        s.sync(&mut env, &[], t);
        assert_eq!(s.state("n"), None, "dropped from the plan");
    }
}
