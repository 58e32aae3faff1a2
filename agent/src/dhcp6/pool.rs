//! The addresses of one network's DHCPv6: fixed ones by client, the rest
//! from the ranges, one per identity association. A client's address is
//! picked by a hash of its DUID and IAID, so it gets the same one again
//! even after the lease file is lost (as dnsmasq does).

use std::collections::HashMap;
use std::net::Ipv6Addr;

use super::lease::{Holder6, Lease6};
use crate::config::{Dhcp6Client, LeaseTime, MacAddr};
use crate::plan::Dhcp6Pool;

/// How long an address offered in an ADVERTISE is held for its client.
const OFFER_HOLD: u64 = 60;
/// How long an address a client declined (someone else uses it) rests.
const DECLINE_HOLD: u64 = 600;
/// At most this many addresses are tried for a new client: a full range
/// answers NoAddrsAvail quickly instead of scanning a /64.
const PROBES: u128 = 4096;

#[derive(Debug)]
pub struct Pool6 {
    pub cfg: Dhcp6Pool,
    leases: HashMap<Ipv6Addr, Lease6>,
    by_holder: HashMap<Holder6, Ipv6Addr>,
    offers: HashMap<Ipv6Addr, (Holder6, u64)>,
    declined: HashMap<Ipv6Addr, u64>,
}

/// FNV-1a over the holder: stable across versions and restarts.
fn hash(h: &Holder6) -> u128 {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in h.0 .0.iter().chain(h.1.to_be_bytes().iter()) {
        x ^= u64::from(*b);
        x = x.wrapping_mul(0x0100_0000_01b3);
    }
    u128::from(x)
}

impl Pool6 {
    pub fn new(cfg: Dhcp6Pool) -> Pool6 {
        Pool6 {
            cfg,
            leases: HashMap::new(),
            by_holder: HashMap::new(),
            offers: HashMap::new(),
            declined: HashMap::new(),
        }
    }

    /// The fixed host entry for this client, by DUID or by MAC.
    fn fixed(&self, duid: &[u8], mac: Option<MacAddr>) -> Option<Ipv6Addr> {
        self.cfg
            .hosts
            .iter()
            .find(|h| match &h.client {
                Dhcp6Client::Duid(d) => d == duid,
                Dhcp6Client::Mac(m) => Some(*m) == mac,
            })
            .map(|h| h.ip)
    }

    fn reserved(&self, ip: Ipv6Addr) -> bool {
        ip == self.cfg.server || self.cfg.hosts.iter().any(|h| h.ip == ip)
    }

    /// Whether `ip` may be this client's: its fixed address, or a range
    /// address nobody else's fixed one.
    pub(crate) fn fits(&self, ip: Ipv6Addr, duid: &[u8], mac: Option<MacAddr>) -> bool {
        match self.fixed(duid, mac) {
            Some(f) => f == ip,
            None => !self.reserved(ip) && self.cfg.ranges.iter().any(|r| r.contains(ip)),
        }
    }

    fn free(&self, ip: Ipv6Addr, holder: &Holder6, now: u64) -> bool {
        let leased = self
            .leases
            .get(&ip)
            .is_some_and(|l| &l.holder() != holder && !l.expired(now));
        let offered = self
            .offers
            .get(&ip)
            .is_some_and(|(h, until)| h != holder && *until > now);
        let declined = self.declined.get(&ip).is_some_and(|until| *until > now);
        !leased && !offered && !declined
    }

    /// The address for this identity association: what it holds or was
    /// offered, its fixed one, or a free one from the ranges.
    pub(crate) fn choose(&self, holder: &Holder6, mac: Option<MacAddr>, now: u64) -> Option<Ipv6Addr> {
        let duid = &holder.0 .0;
        if let Some(f) = self.fixed(duid, mac) {
            return self.free(f, holder, now).then_some(f);
        }
        if let Some(ip) = self.by_holder.get(holder) {
            if self.fits(*ip, duid, mac) {
                return Some(*ip);
            }
        }
        if let Some((ip, _)) = self
            .offers
            .iter()
            .find(|(_, (h, until))| h == holder && *until > now)
        {
            return Some(*ip);
        }
        let sizes: Vec<u128> = self
            .cfg
            .ranges
            .iter()
            .map(|r| u128::from(r.end) - u128::from(r.start) + 1)
            .collect();
        let total = sizes.iter().fold(0u128, |a, s| a.saturating_add(*s));
        if total == 0 {
            return None;
        }
        let start = hash(holder) % total;
        (0..PROBES.min(total)).find_map(|i| {
            let mut n = (start + i) % total;
            let ip = self.cfg.ranges.iter().zip(&sizes).find_map(|(r, s)| {
                if n < *s {
                    Some(Ipv6Addr::from(u128::from(r.start) + n))
                } else {
                    n -= s;
                    None
                }
            })?;
            (!self.reserved(ip) && self.free(ip, holder, now)).then_some(ip)
        })
    }

    pub(crate) fn offer(&mut self, holder: &Holder6, ip: Ipv6Addr, now: u64) {
        self.offers.insert(ip, (holder.clone(), now + OFFER_HOLD));
    }

    /// Bind `ip` to the holder: the lease, and the one it replaces (a
    /// client moved to another address), if any.
    pub(crate) fn bind(
        &mut self,
        holder: &Holder6,
        ip: Ipv6Addr,
        mac: Option<MacAddr>,
        hostname: Option<String>,
        now: u64,
    ) -> (Lease6, Option<Lease6>) {
        self.offers.remove(&ip);
        let old = match self.by_holder.insert(holder.clone(), ip) {
            Some(o) if o != ip => self.leases.remove(&o),
            _ => None,
        };
        let lease = Lease6 {
            ip,
            duid: holder.0.clone(),
            iaid: holder.1,
            mac: mac.map(|m| m.to_string()),
            hostname,
            expires: match self.cfg.lease_time {
                LeaseTime::Infinite => None,
                LeaseTime::Seconds(s) => Some(now + u64::from(s)),
            },
        };
        self.leases.insert(ip, lease.clone());
        (lease, old)
    }

    /// The lease this identity association holds, if it still fits.
    pub(crate) fn held(&self, holder: &Holder6, now: u64) -> Option<&Lease6> {
        let ip = self.by_holder.get(holder)?;
        self.leases
            .get(ip)
            .filter(|l| !l.expired(now) && self.fits(l.ip, &holder.0 .0, l.mac()))
    }

    /// End the holder's lease of `ip`.
    pub(crate) fn release(&mut self, holder: &Holder6, ip: Ipv6Addr) -> Option<Lease6> {
        if self.leases.get(&ip).is_none_or(|l| &l.holder() != holder) {
            return None;
        }
        self.by_holder.remove(holder);
        self.leases.remove(&ip)
    }

    /// The client found `ip` in use by someone else: it rests a while.
    pub(crate) fn decline(&mut self, holder: &Holder6, ip: Ipv6Addr, now: u64) -> Option<Lease6> {
        let gone = self.release(holder, ip)?;
        self.declined.insert(ip, now + DECLINE_HOLD);
        Some(gone)
    }

    /// Leases kept from the lease file: those unexpired that still fit.
    pub(crate) fn load(&mut self, leases: Vec<Lease6>, now: u64) {
        for l in leases {
            if !l.expired(now) && self.fits(l.ip, &l.duid.0, l.mac()) {
                self.by_holder.insert(l.holder(), l.ip);
                self.leases.insert(l.ip, l);
            }
        }
    }

    /// New settings: the leases that no longer fit end.
    pub(crate) fn reconfigure(&mut self, cfg: Dhcp6Pool) -> Vec<Lease6> {
        self.cfg = cfg;
        self.offers.clear();
        let gone: Vec<Ipv6Addr> = self
            .leases
            .values()
            .filter(|l| !self.fits(l.ip, &l.duid.0, l.mac()))
            .map(|l| l.ip)
            .collect();
        gone.into_iter().filter_map(|ip| self.drop_lease(ip)).collect()
    }

    fn drop_lease(&mut self, ip: Ipv6Addr) -> Option<Lease6> {
        let l = self.leases.remove(&ip)?;
        self.by_holder.remove(&l.holder());
        Some(l)
    }

    /// The wall clock was moved by `by` seconds: move every time held
    /// with it (see the DHCPv4 pool's `shift`).
    pub fn shift(&mut self, by: i64) {
        let mv = |t: u64| t.saturating_add_signed(by);
        for l in self.leases.values_mut() {
            l.expires = l.expires.map(mv);
        }
        for (_, t) in self.offers.values_mut() {
            *t = mv(*t);
        }
        for t in self.declined.values_mut() {
            *t = mv(*t);
        }
    }

    /// End the leases that expired; forget old offers and declines.
    pub fn expire(&mut self, now: u64) -> Vec<Lease6> {
        self.offers.retain(|_, (_, until)| *until > now);
        self.declined.retain(|_, until| *until > now);
        let gone: Vec<Ipv6Addr> = self
            .leases
            .values()
            .filter(|l| l.expired(now))
            .map(|l| l.ip)
            .collect();
        gone.into_iter().filter_map(|ip| self.drop_lease(ip)).collect()
    }

    pub(crate) fn leases(&self) -> impl Iterator<Item = &Lease6> {
        self.leases.values()
    }

    /// The pool's size (saturating), its leases and its declined
    /// addresses now, for the metrics.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let size = self
            .cfg
            .ranges
            .iter()
            .fold(0u64, |n, r| n.saturating_add(r.len()));
        (size, self.leases.len() as u64, self.declined.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::lease::ClientId;

    fn pool(ranges: &[&str]) -> Pool6 {
        Pool6::new(Dhcp6Pool {
            network: "n".into(),
            interface: "br0".into(),
            server: "fd00::1".parse().unwrap(),
            prefix: "fd00::/64".parse().unwrap(),
            ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            lease_time: LeaseTime::Seconds(3600),
            hosts: vec![crate::config::Dhcp6Host {
                client: Dhcp6Client::Mac(MacAddr([0x52, 0x54, 0, 0, 0, 9])),
                ip: "fd00::9".parse().unwrap(),
                name: Some("db".into()),
            }],
            dns_servers: Vec::new(),
            domain: None,
        })
    }

    fn holder(n: u8, iaid: u32) -> Holder6 {
        (ClientId::new(&[0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, n]), iaid)
    }

    #[test]
    fn the_same_client_gets_the_same_address_and_two_ias_get_two() {
        let mut p = pool(&["fd00::1000-fd00::ffff"]);
        let a = p.choose(&holder(1, 1), None, 0).unwrap();
        assert_eq!(
            Pool6::new(p.cfg.clone()).choose(&holder(1, 1), None, 0),
            Some(a),
            "by hash, stateless"
        );
        p.bind(&holder(1, 1), a, None, None, 0);
        let b = p.choose(&holder(1, 2), None, 0).unwrap();
        assert_ne!(a, b);
        assert!(p.cfg.ranges[0].contains(a) && p.cfg.ranges[0].contains(b));
    }

    #[test]
    fn fixed_hosts_ranges_offers_and_declines() {
        let mut p = pool(&["fd00::8-fd00::b"]);
        let mac = Some(MacAddr([0x52, 0x54, 0, 0, 0, 9]));
        assert_eq!(p.choose(&holder(9, 1), mac, 0), "fd00::9".parse().ok());
        // The range without the fixed address: 8, a, b.
        let mut got = Vec::new();
        for n in 1..=4u8 {
            let h = holder(n, 1);
            if let Some(ip) = p.choose(&h, None, 0) {
                p.offer(&h, ip, 0);
                got.push(ip);
            }
        }
        got.sort();
        let want: Vec<Ipv6Addr> = ["fd00::8", "fd00::a", "fd00::b"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want, "the fourth client finds none free");
        // Offers lapse; a declined address rests.
        let h = holder(4, 1);
        let ip = p.choose(&h, None, OFFER_HOLD + 1).unwrap();
        p.bind(&h, ip, None, None, OFFER_HOLD + 1);
        assert!(p.decline(&h, ip, OFFER_HOLD + 1).is_some());
        assert_ne!(p.choose(&h, None, OFFER_HOLD + 2), Some(ip));
    }

    #[test]
    fn leases_that_no_longer_fit_end_on_reconfigure_and_expire() {
        let mut p = pool(&["fd00::1000-fd00::1fff"]);
        let h = holder(1, 1);
        let ip = p.choose(&h, None, 0).unwrap();
        p.bind(&h, ip, None, Some("web".into()), 0);
        assert_eq!(p.held(&h, 10).map(|l| l.ip), Some(ip));
        let mut cfg = p.cfg.clone();
        cfg.ranges = vec!["fd00::2000-fd00::2fff".parse().unwrap()];
        assert_eq!(p.reconfigure(cfg).len(), 1);
        assert!(p.held(&h, 10).is_none());
        let ip = p.choose(&h, None, 0).unwrap();
        p.bind(&h, ip, None, None, 0);
        assert_eq!(p.expire(3599).len(), 0);
        assert_eq!(p.expire(3600).len(), 1);
    }
}
