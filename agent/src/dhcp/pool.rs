//! Which address a client gets. Pure: the time is an argument, nothing
//! here touches a socket or a file.
//!
//! - A static host always gets its address, and nobody else does.
//! - A returning client gets its previous address back.
//! - A new client gets an address derived from its identity (as dnsmasq
//!   does), so it gets the same one again even after its lease is gone,
//!   probing onward when that one is taken.
//! - Declined addresses rest for a while; offers hold an address briefly so
//!   two clients discovering at once do not get the same one.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use super::lease::{ClientId, Lease};
use super::lease_table::LeaseTable;
use crate::config::MacAddr;
use crate::plan::DhcpPool;

/// How long an offered address is held for the client it was offered to.
pub(crate) const OFFER_HOLD_SECS: u64 = 30;
/// Leases one MAC may hold under different client-ids (a host with a few
/// OSes or containers behind one NIC), at most.
const MAX_PER_MAC: usize = 4;

/// Whose leases an admin ends: an address's, or a MAC's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Ip(Ipv4Addr),
    Mac(MacAddr),
}

impl std::str::FromStr for Holder {
    type Err = String;
    fn from_str(s: &str) -> Result<Holder, String> {
        if let Ok(ip) = s.parse() {
            return Ok(Holder::Ip(ip));
        }
        s.parse()
            .map(Holder::Mac)
            .map_err(|_| format!("`{s}` is neither an IPv4 address nor a MAC address"))
    }
}

/// Declined addresses set aside at once, at most: past it a DECLINE still
/// ends the client's lease but the address is not held back.
const MAX_DECLINED: usize = 64;

/// How long a declined address is not handed out (dnsmasq: 10 minutes).
pub(crate) const DECLINE_SECS: u64 = 600;

#[derive(Debug, Clone)]
pub struct Pool {
    pub cfg: DhcpPool,
    leases: LeaseTable,
    /// How many leases each MAC holds (one per client-id it used).
    per_mac: HashMap<MacAddr, usize>,
    by_client: HashMap<ClientId, Ipv4Addr>,
    /// The address last offered to each client and until when it is held
    /// (Unix seconds)...
    offered: HashMap<ClientId, (Ipv4Addr, u32)>,
    /// ...and the same holds by address. Under a flood of DISCOVERs from
    /// invented clients these are the server's largest tables after the
    /// leases, so the client is named in one of them only, and the time
    /// is 4 bytes (Unix seconds fit until 2106).
    held: HashMap<Ipv4Addr, u32>,
    declined: HashMap<Ipv4Addr, u64>,
    statics: HashMap<MacAddr, (Ipv4Addr, Option<String>)>,
    static_ips: HashSet<Ipv4Addr>,
    size: u64,
}

/// Pools of more addresses than this make room for them all at start.
const PRESIZE_FROM: usize = 4096;

impl Pool {
    pub fn new(cfg: DhcpPool) -> Pool {
        let statics = cfg
            .hosts
            .iter()
            .map(|h| (h.mac, (h.ip, h.name.clone())))
            .collect();
        let static_ips = cfg.hosts.iter().map(|h| h.ip).collect();
        let size = cfg.ranges.iter().map(|r| r.len()).sum();
        // A large pool has room for all its leases at once, up to what
        // fills 65,536 slots (a map holds 7/8 of its slots): growing a map
        // doubles it, and while it moves both tables are alive (the largest
        // single cost of a /16 pool filling up). A small one grows as
        // guests come: room made ahead for a /24 was 14 KB a network
        // whether a guest ever asked or not.
        let room = match usize::try_from(size).unwrap_or(usize::MAX) {
            n if n <= PRESIZE_FROM => 0,
            n => n.min((1 << 16) / 8 * 7),
        };
        Pool {
            cfg,
            leases: LeaseTable::with_capacity(room),
            per_mac: HashMap::with_capacity(room),
            by_client: HashMap::with_capacity(room),
            offered: HashMap::new(),
            held: HashMap::new(),
            declined: HashMap::new(),
            statics,
            static_ips,
            size,
        }
    }

    /// The wall clock was moved by `by` seconds (set by SNTP, or by hand):
    /// every time this pool holds moves with it, so each lease keeps the
    /// time it had left. Lease times are wall-clock seconds because they
    /// are written and shown; this keeps them counting like a monotonic
    /// clock.
    pub fn shift(&mut self, by: i64) {
        let mv = |t: u64| t.saturating_add_signed(by);
        for l in self.leases.values_mut() {
            if let Some(e) = l.expires {
                l.expires = super::lease::at(mv(e.get()));
            }
        }
        let mv32 = |t: u32| u32::try_from(mv(u64::from(t))).unwrap_or(u32::MAX);
        for (_, t) in self.offered.values_mut() {
            *t = mv32(*t);
        }
        for t in self.held.values_mut() {
            *t = mv32(*t);
        }
        for t in self.declined.values_mut() {
            *t = mv(*t);
        }
    }

    /// A new configuration for the same network: leases are kept, and those
    /// that no longer fit (outside the ranges, or now someone's static
    /// address) are dropped and returned.
    pub fn reconfigure(&mut self, cfg: DhcpPool) -> Vec<Lease> {
        let leases: Vec<Lease> = self.leases.values().cloned().collect();
        *self = Pool::new(cfg);
        let mut dropped = Vec::new();
        for l in leases {
            if self.fits(&l) {
                self.insert(l);
            } else {
                dropped.push(l);
            }
        }
        dropped
    }

    fn fits(&self, l: &Lease) -> bool {
        match self.statics.get(&l.mac) {
            Some((ip, _)) => *ip == l.ip,
            None => self.in_ranges(l.ip) && !self.is_static_ip(l.ip),
        }
    }

    /// Load a list of leases; expired or misfit ones are skipped. The
    /// server replays its file straight in (`journal::Sink`, `settle`);
    /// this is the list path the tests hold that one to.
    #[cfg(test)]
    pub fn load(&mut self, leases: impl IntoIterator<Item = Lease>, now: u64) {
        for l in leases {
            if !l.expired(now) && self.fits(&l) {
                self.insert(l);
            }
        }
    }

    /// After a lease file was replayed straight into the pool (see
    /// `journal::Sink`): the leases that ran out or no longer fit this
    /// configuration go, as `load` would have skipped them.
    pub fn settle(&mut self, now: u64) {
        let misfit: Vec<Ipv4Addr> = self
            .leases
            .values()
            .filter(|l| l.expired(now) || !self.fits(l))
            .map(|l| l.ip)
            .collect();
        self.take_all(misfit);
    }

    fn insert(&mut self, l: Lease) {
        if let Some(old) = self.by_client.insert(l.client.clone(), l.ip) {
            if old != l.ip {
                self.take(old);
            }
        }
        *self.per_mac.entry(l.mac).or_default() += 1;
        if let Some(prev) = self.leases.insert(l.clone()) {
            self.forget_mac(prev.mac);
            if prev.client != l.client {
                self.by_client.remove(&prev.client);
            }
        }
    }

    /// Remove the lease of `ip` from the lease map (the caller sees to
    /// `by_client`).
    fn take(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let l = self.leases.remove(&ip)?;
        self.forget_mac(l.mac);
        Some(l)
    }

    fn forget_mac(&mut self, mac: MacAddr) {
        if let Some(n) = self.per_mac.get_mut(&mac) {
            *n -= 1;
            if *n == 0 {
                self.per_mac.remove(&mac);
            }
        }
    }

    /// Whether `mac` already holds MAX_PER_MAC leases and `client` (one of
    /// its client-ids) would be one more: a guest that makes up client-ids
    /// cannot empty the pool.
    pub fn mac_full(&self, client: &ClientId, mac: MacAddr) -> bool {
        !self.by_client.contains_key(client)
            && !self.statics.contains_key(&mac)
            && self.per_mac.get(&mac).is_some_and(|n| *n >= MAX_PER_MAC)
    }

    /// The lease of `ip`, whoever holds it.
    pub fn lease_at(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(&ip)
    }

    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    /// How many leases are kept, without a walk over them (asked after
    /// every batch).
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    /// How many addresses rest after a DECLINE now.
    pub fn declined_count(&self) -> usize {
        self.declined.len()
    }

    /// How many addresses the ranges hold.
    pub fn size(&self) -> u64 {
        self.cfg.ranges.iter().map(|r| r.len()).sum()
    }

    /// What must hold after any sequence of messages, whatever guests send:
    /// the indexes agree with the leases, each lease is in the ranges or a
    /// static host's, no MAC holds more than its share, quarantine is
    /// bounded and holds no address leased at `now` (a lease that ran out
    /// but was not swept yet is no lease). The fuzzer checks it after every
    /// message; Err says which rule broke.
    pub fn invariants(&self, now: u64) -> Result<(), String> {
        let mut per_mac: HashMap<MacAddr, usize> = HashMap::new();
        for l in self.leases.values() {
            let ip = &l.ip;
            if self.leases.get(ip).map(|x| &x.client) != Some(&l.client) {
                return Err(format!("{ip}: not found by its address"));
            }
            if self.by_client.get(&l.client) != Some(ip) {
                return Err(format!("{ip}: its client does not point back to it"));
            }
            if !self.in_ranges(*ip) && !self.is_static_ip(*ip) {
                return Err(format!(
                    "{ip} is leased but neither in the ranges nor a static host's"
                ));
            }
            if self.declined.contains_key(ip) && !l.expired(now) {
                return Err(format!("{ip} is leased and quarantined at once"));
            }
            *per_mac.entry(l.mac).or_default() += 1;
        }
        if self.by_client.len() != self.leases.len() {
            return Err("a client points at an address it does not hold".into());
        }
        for (mac, n) in &per_mac {
            if self.per_mac.get(mac) != Some(n) {
                return Err(format!(
                    "{mac}: counted {:?} leases, holds {n}",
                    self.per_mac.get(mac)
                ));
            }
            if *n > MAX_PER_MAC && !self.statics.contains_key(mac) {
                return Err(format!("{mac} holds {n} leases"));
            }
        }
        if self.per_mac.len() != per_mac.len() {
            return Err("a MAC is counted that holds no lease".into());
        }
        if self.declined.len() > MAX_DECLINED {
            return Err(format!("{} addresses quarantined", self.declined.len()));
        }
        Ok(())
    }

    /// Whether an offer is held (it is let go by the next `expire`).
    pub fn has_offers(&self) -> bool {
        !self.held.is_empty()
    }

    /// When the first lease expires (Unix seconds), if any does.
    pub fn next_expiry(&self) -> Option<u64> {
        self.leases.values().filter_map(Lease::expiry).min()
    }

    pub fn lease_of(&self, client: &ClientId) -> Option<&Lease> {
        self.by_client.get(client).and_then(|ip| self.leases.get(ip))
    }

    pub fn in_ranges(&self, ip: Ipv4Addr) -> bool {
        self.cfg.ranges.iter().any(|r| r.contains(ip))
    }

    pub fn in_subnet(&self, ip: Ipv4Addr) -> bool {
        self.cfg.subnet.contains(&ip)
    }

    fn is_static_ip(&self, ip: Ipv4Addr) -> bool {
        self.static_ips.contains(&ip)
    }

    pub fn static_for(&self, mac: MacAddr) -> Option<(Ipv4Addr, Option<String>)> {
        self.statics.get(&mac).cloned()
    }

    /// Whether `ip` may be given to this client now.
    pub fn available(&self, ip: Ipv4Addr, client: &ClientId, mac: MacAddr, now: u64) -> bool {
        if ip == self.cfg.server || ip == self.cfg.subnet.network() || ip == self.cfg.subnet.broadcast() {
            return false;
        }
        match self.statics.get(&mac) {
            Some((s, _)) => return *s == ip,
            None if self.is_static_ip(ip) => return false,
            None => {}
        }
        if !self.in_ranges(ip) {
            return false;
        }
        if let Some(l) = self.leases.get(&ip) {
            if &l.client != client && !l.expired(now) {
                return false;
            }
        }
        if self.held.get(&ip).is_some_and(|until| u64::from(*until) > now) && !self.holds(client, ip, now) {
            return false;
        }
        self.declined.get(&ip).is_none_or(|until| *until <= now)
    }

    /// The address to offer, or None when the pool has none for this client.
    pub fn choose(
        &self,
        client: &ClientId,
        mac: MacAddr,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        if let Some((ip, _)) = self.statics.get(&mac) {
            return Some(*ip);
        }
        let previous = self.by_client.get(client).copied();
        // The index, not a walk over every offer: under a flood of
        // DISCOVERs the offers are many, and each new one would cost them all.
        let offered = self
            .offered
            .get(client)
            .filter(|(_, until)| u64::from(*until) > now)
            .map(|(ip, _)| *ip);
        for ip in [previous, offered, requested].into_iter().flatten() {
            if self.available(ip, client, mac, now) {
                return Some(ip);
            }
        }
        if self.size == 0 {
            return None;
        }
        let start = hash(&client.0) % self.size;
        (0..self.size)
            .map(|i| self.nth((start + i) % self.size))
            .find(|ip| self.available(*ip, client, mac, now))
    }

    /// The n-th address across the ranges, in order.
    fn nth(&self, mut n: u64) -> Ipv4Addr {
        for r in &self.cfg.ranges {
            if n < r.len() {
                return Ipv4Addr::from(u32::from(r.start) + n as u32);
            }
            n -= r.len();
        }
        self.cfg
            .ranges
            .first()
            .map(|r| r.start)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    pub fn hold_offer(&mut self, ip: Ipv4Addr, client: &ClientId, now: u64) {
        let until = u32::try_from(now + OFFER_HOLD_SECS).unwrap_or(u32::MAX);
        if let Some(before) = self.offered.insert(client.clone(), (ip, until)) {
            if before.0 != ip {
                self.unhold(before);
            }
        }
        self.held.insert(ip, until);
    }

    /// Let go of the hold an offer put on its address, unless the address
    /// is held again since: once this offer ran out, another client may
    /// have been offered it, and that hold (a later deadline) stays.
    fn unhold(&mut self, (ip, until): (Ipv4Addr, u32)) {
        if self.held.get(&ip) == Some(&until) {
            self.held.remove(&ip);
        }
    }

    /// Whether `ip` is held for this client by an offer still running.
    fn holds(&self, client: &ClientId, ip: Ipv4Addr, now: u64) -> bool {
        self.offered
            .get(client)
            .is_some_and(|(o, until)| *o == ip && u64::from(*until) > now)
    }

    /// Let go of the client's offer, and of any hold on `ip` (which the
    /// client now takes: another's hold on it has run out, or it could not).
    fn drop_offer(&mut self, client: &ClientId, ip: Ipv4Addr) {
        if let Some(o) = self.offered.remove(client) {
            self.unhold(o);
        }
        self.held.remove(&ip);
    }

    /// Bind `ip` to the client until `expires` and return the lease.
    pub fn bind(
        &mut self,
        ip: Ipv4Addr,
        client: &ClientId,
        mac: MacAddr,
        hostname: Option<String>,
        expires: Option<u64>,
    ) -> Lease {
        self.drop_offer(client, ip);
        // Only a lapsed quarantine lets an address be bound (`available`):
        // the lease ends it for good.
        self.declined.remove(&ip);
        let hostname = self.statics.get(&mac).and_then(|(_, n)| n.clone()).or(hostname);
        let l = Lease {
            ip,
            client: client.clone(),
            mac,
            hostname: hostname.map(Into::into),
            expires: expires.and_then(super::lease::at),
        };
        self.insert(l.clone());
        l
    }

    /// RELEASE: the client gives its address back.
    pub fn release(&mut self, client: &ClientId, ip: Ipv4Addr) -> Option<Lease> {
        if self.leases.get(&ip).is_some_and(|l| &l.client == client) {
            self.by_client.remove(client);
            return self.take(ip);
        }
        None
    }

    /// End every lease of `holder` (an address, or all of a MAC's), as the
    /// admin asks; returns them.
    pub fn release_holder(&mut self, holder: &Holder) -> Vec<Lease> {
        let ips: Vec<Ipv4Addr> = self
            .leases
            .values()
            .filter(|l| match holder {
                Holder::Ip(ip) => l.ip == *ip,
                Holder::Mac(m) => l.mac == *m,
            })
            .map(|l| l.ip)
            .collect();
        self.take_all(ips)
    }

    /// Remove these addresses' leases, client index included; returns them.
    fn take_all(&mut self, ips: Vec<Ipv4Addr>) -> Vec<Lease> {
        let mut out = Vec::new();
        for ip in ips {
            if let Some(l) = self.take(ip) {
                self.by_client.remove(&l.client);
                out.push(l);
            }
        }
        out
    }

    /// DECLINE: the client found `ip` in use; set it aside for a while. A
    /// client may decline only the address offered or leased to itself,
    /// inside the pool; any other DECLINE is ignored (else one guest could
    /// take addresses away from others, or lock the pool), and at most
    /// MAX_DECLINED addresses rest at once. Returns the lease it gave up,
    /// and whether the DECLINE was taken.
    pub fn decline(&mut self, client: &ClientId, ip: Ipv4Addr, now: u64) -> (Option<Lease>, bool) {
        let offered = self.holds(client, ip, now);
        let leased = self.leases.get(&ip).is_some_and(|l| &l.client == client);
        if !(offered || leased) || !self.in_ranges(ip) {
            return (None, false);
        }
        self.declined.retain(|_, until| *until > now);
        if self.declined.len() < MAX_DECLINED {
            self.declined.insert(ip, now + DECLINE_SECS);
        }
        self.drop_offer(client, ip);
        (self.release(client, ip), true)
    }

    /// Remove leases that have run out; returns them (DNS forgets their names).
    pub fn expire(&mut self, now: u64) -> Vec<Lease> {
        let gone: Vec<Ipv4Addr> = self
            .leases
            .values()
            .filter(|l| l.expired(now))
            .map(|l| l.ip)
            .collect();
        let out = self.take_all(gone);
        self.offered.retain(|_, (_, until)| u64::from(*until) > now);
        self.held.retain(|_, until| u64::from(*until) > now);
        self.declined.retain(|_, until| *until > now);
        out
    }
}

/// FNV-1a: a stable spread of client identities over the pool.
fn hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A lease file replays straight into the pool: a record binds or ends a
/// lease as it did when it was written; `settle` then drops what no longer
/// holds.
impl super::journal::Sink<Lease> for Pool {
    fn bound(&mut self, lease: Lease) {
        self.insert(lease);
    }

    fn gone(&mut self, lease: &Lease) {
        self.release(&lease.client, lease.ip);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config;
    use crate::plan::plan;

    pub(crate) fn pool(extra: &str) -> Pool {
        let src = format!(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n[network.dhcp]\nranges = [\"10.0.0.10-10.0.0.13\"]\n{extra}"
        );
        let cfg = config::parse(&src, "t").unwrap_or_else(|p| panic!("{p}"));
        Pool::new(plan(&cfg).dhcp.remove(0))
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr([0x52, 0x54, 0, 0, 0, n])
    }

    fn id(n: u8) -> ClientId {
        ClientId::from_mac(mac(n))
    }

    #[test]
    fn a_lease_file_replayed_into_the_pool_keeps_what_its_list_would() {
        use crate::dhcp::journal::{path_for, Journal};
        use crate::dhcp::reply::Change;
        let lease = |n: u8, ip: u8, expires: u64| Lease {
            ip: Ipv4Addr::new(10, 0, 0, ip),
            client: id(n),
            mac: mac(n),
            hostname: None,
            expires: crate::dhcp::lease::at(expires),
        };
        let dir = std::env::temp_dir().join(format!("netagent-pool-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = path_for(&dir, "n");
        let (mut j, _) = Journal::<Lease>::open(path.clone()).unwrap();
        // 1 binds and goes; 2 moves from .12 to .13; 3 is outside the
        // ranges now; 4's lease ran out; 5 took .11 after 1 left.
        j.append(&[
            Change::Bound(lease(1, 11, 1000)),
            Change::Bound(lease(2, 12, 1000)),
            Change::Bound(lease(3, 99, 1000)),
            Change::Bound(lease(4, 10, 50)),
        ])
        .unwrap();
        j.append(&[
            Change::Gone(lease(1, 11, 1000)),
            Change::Bound(lease(2, 13, 1000)),
            Change::Bound(lease(5, 11, 1000)),
        ])
        .unwrap();
        drop(j);
        let ips = |p: &Pool| {
            let mut v: Vec<(Ipv4Addr, ClientId)> = p.leases().map(|l| (l.ip, l.client.clone())).collect();
            v.sort();
            v
        };
        let mut direct = pool("");
        drop(Journal::open_into(path.clone(), &mut direct).unwrap());
        direct.settle(100);
        let (_j, listed) = Journal::<Lease>::open(path).unwrap();
        let mut loaded = pool("");
        loaded.load(listed, 100);
        assert_eq!(ips(&direct), ips(&loaded));
        assert_eq!(
            ips(&direct),
            vec![
                (Ipv4Addr::new(10, 0, 0, 11), id(5)),
                (Ipv4Addr::new(10, 0, 0, 13), id(2))
            ]
        );
        direct.invariants(100).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_clock_set_forward_by_years_leaves_each_lease_its_time() {
        // Leased at 2001 by a flat RTC, 100 s left; then SNTP sets 2026.
        let (then, years) = (978_307_200u64, 25 * 365 * 86_400i64);
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, then).unwrap();
        p.bind(a, &id(1), mac(1), None, Some(then + 100));
        let b = p.choose(&id(2), mac(2), None, then).unwrap();
        p.hold_offer(b, &id(2), then);
        p.shift(years);
        let now = then.saturating_add_signed(years);
        assert!(p.expire(now + 99).is_empty(), "the lease ended at the clock step");
        assert_eq!(p.lease_at(a).and_then(|l| l.expiry()), Some(now + 100));
        // The offer to 2 is still held for it, and nobody else gets it.
        assert_ne!(p.choose(&id(3), mac(3), None, now), Some(b));
        assert_eq!(p.expire(now + 100).len(), 1);
        // Backwards (an RTC ahead of time): the same, the other way.
        let mut p = pool("");
        p.bind(a, &id(1), mac(1), None, Some(then + 100));
        p.shift(-years);
        let earlier = then.saturating_add_signed(-years);
        assert!(p.expire(earlier + 99).is_empty());
        assert_eq!(p.expire(earlier + 100).len(), 1);
        p.invariants(earlier + 100).unwrap();
    }

    #[test]
    fn a_new_client_gets_a_stable_address_and_keeps_it() {
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, 0).unwrap();
        assert!(p.in_ranges(a));
        // Without any lease, the same identity lands on the same address.
        assert_eq!(pool("").choose(&id(1), mac(1), None, 0), Some(a));
        p.bind(a, &id(1), mac(1), None, Some(100));
        assert_eq!(p.choose(&id(1), mac(1), None, 50), Some(a));
        // Another client never gets it while it is leased.
        for n in 2..=4 {
            let b = p.choose(&id(n), mac(n), Some(a), 50).unwrap();
            assert_ne!(b, a);
            p.bind(b, &id(n), mac(n), None, Some(100));
        }
        // The pool (4 addresses) is full now: no offer, no panic.
        assert_eq!(p.choose(&id(9), mac(9), None, 50), None);
        // After expiry the address is free for others.
        assert_eq!(p.expire(100).len(), 4);
        assert!(p.choose(&id(9), mac(9), None, 100).is_some());
    }

    #[test]
    fn static_hosts_get_their_address_and_nobody_else_does() {
        let p = pool("[[network.dhcp.host]]\nmac = \"52:54:00:00:00:07\"\nip = \"10.0.0.50\"\nname = \"web\"\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:08\"\nip = \"10.0.0.11\"\n");
        assert_eq!(
            p.choose(&id(7), mac(7), Some("10.0.0.10".parse().unwrap()), 0),
            Some("10.0.0.50".parse().unwrap())
        );
        // 10.0.0.11 is in the range but belongs to host 8.
        for n in 1..=5 {
            assert_ne!(
                p.choose(&id(n), mac(n), Some("10.0.0.11".parse().unwrap()), 0),
                Some("10.0.0.11".parse().unwrap())
            );
        }
        assert!(!p.available("10.0.0.50".parse().unwrap(), &id(1), mac(1), 0));
    }

    #[test]
    fn offers_hold_and_declines_rest() {
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, 0).unwrap();
        p.hold_offer(a, &id(1), 0);
        assert!(!p.available(a, &id(2), mac(2), 10));
        assert!(p.available(a, &id(2), mac(2), OFFER_HOLD_SECS + 1));
        p.bind(a, &id(1), mac(1), None, Some(1000));
        assert_eq!(p.decline(&id(2), a, 10), (None, false), "not its address");
        assert!(p.lease_of(&id(1)).is_some(), "the holder keeps it");
        assert!(p.decline(&id(1), a, 10).1);
        assert!(p.lease_of(&id(1)).is_none());
        assert!(!p.available(a, &id(1), mac(1), 20));
        assert!(p.available(a, &id(1), mac(1), 10 + DECLINE_SECS));
    }

    #[test]
    fn a_client_moving_on_keeps_the_hold_another_took_on_its_old_address() {
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, 0).unwrap();
        p.hold_offer(a, &id(1), 0);
        // Client 1's offer runs out; client 2 is offered the same address.
        let later = OFFER_HOLD_SECS + 1;
        assert!(p.available(a, &id(2), mac(2), later));
        p.hold_offer(a, &id(2), later);
        // Client 1 comes back and is offered another address...
        let b = p.choose(&id(1), mac(1), None, later).unwrap();
        assert_ne!(a, b);
        p.hold_offer(b, &id(1), later);
        // ...which must not free the address held for client 2.
        assert!(!p.available(a, &id(3), mac(3), later + 1));
        assert!(p.available(a, &id(2), mac(2), later + 1));
        // Client 1 binds its new address: client 2's hold still stands.
        p.bind(b, &id(1), mac(1), None, Some(later + 1000));
        assert!(!p.available(a, &id(3), mac(3), later + 2));
    }

    #[test]
    fn declines_touch_only_the_senders_own_address_and_are_bounded() {
        let mut p = pool("");
        // Outside the pool, or never offered: ignored, nothing grows.
        assert!(!p.decline(&id(1), "10.0.0.1".parse().unwrap(), 0).1);
        assert!(!p.decline(&id(1), "192.168.9.9".parse().unwrap(), 0).1);
        assert!(p.declined.is_empty());
        // Many invented clients, each declining its own offer: bounded.
        for n in 0..200u32 {
            let c = ClientId::new(&n.to_be_bytes());
            let Some(a) = p.choose(&c, mac(1), None, 0) else {
                break;
            };
            p.hold_offer(a, &c, 0);
            assert!(p.decline(&c, a, 0).1);
        }
        assert!(p.declined.len() <= MAX_DECLINED, "{}", p.declined.len());
    }

    #[test]
    fn an_admin_ends_the_leases_of_an_address_or_a_mac() {
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, 0).unwrap();
        p.bind(a, &id(1), mac(1), None, None);
        let b = p.choose(&id(2), mac(1), None, 0).unwrap();
        p.bind(b, &id(2), mac(1), None, None);
        let c = p.choose(&id(3), mac(3), None, 0).unwrap();
        p.bind(c, &id(3), mac(3), None, None);
        assert_eq!("52:54:00:00:00:01".parse::<Holder>(), Ok(Holder::Mac(mac(1))));
        assert_eq!(
            p.release_holder(&Holder::Mac(mac(1))).len(),
            2,
            "both client-ids of that MAC"
        );
        assert_eq!(p.release_holder(&Holder::Ip(c)).len(), 1);
        assert_eq!(p.leases().count(), 0);
        assert!("web".parse::<Holder>().is_err());
    }

    #[test]
    fn one_mac_cannot_hold_more_than_a_handful_of_leases() {
        let mut p = pool("");
        for n in 0..MAX_PER_MAC as u32 {
            let c = ClientId::new(&n.to_be_bytes());
            assert!(!p.mac_full(&c, mac(1)));
            let a = p.choose(&c, mac(1), None, 0).unwrap();
            p.bind(a, &c, mac(1), None, Some(100));
        }
        let extra = ClientId::new(&99u32.to_be_bytes());
        assert!(p.mac_full(&extra, mac(1)), "a fifth made-up client-id");
        assert!(
            !p.mac_full(&ClientId::new(&0u32.to_be_bytes()), mac(1)),
            "one it holds may renew"
        );
        assert!(!p.mac_full(&id(2), mac(2)), "another MAC is not affected");
        // Expired or released, the count goes down again.
        p.expire(1000);
        assert!(!p.mac_full(&extra, mac(1)));
        assert!(p.per_mac.is_empty());
    }

    #[test]
    fn release_needs_the_right_client() {
        let mut p = pool("");
        let a = p.choose(&id(1), mac(1), None, 0).unwrap();
        p.bind(a, &id(1), mac(1), Some("x".into()), None);
        assert!(p.release(&id(2), a).is_none());
        assert!(p.release(&id(1), a).is_some());
        assert_eq!(p.leases().count(), 0);
    }

    #[test]
    fn reconfigure_keeps_leases_that_still_fit() {
        let mut p = pool("");
        p.bind("10.0.0.10".parse().unwrap(), &id(1), mac(1), None, None);
        p.bind("10.0.0.13".parse().unwrap(), &id(2), mac(2), None, None);
        let narrower = pool("").cfg;
        let mut cfg = narrower.clone();
        cfg.ranges[0].end = "10.0.0.12".parse().unwrap();
        let dropped = p.reconfigure(cfg);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].ip, "10.0.0.13".parse::<Ipv4Addr>().unwrap());
        assert!(p.lease_of(&id(1)).is_some());
    }
}
