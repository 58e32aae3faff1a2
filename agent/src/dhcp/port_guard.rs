//! Port security's part in the DHCP server (pure): a lease belongs to the
//! port it was leased on, and one port cannot take the whole pool.
//!
//! The bridge marks each DHCP request from a guest port with the port's
//! index (`firewall/guard.rs`); the daemon tells the server the MAC the
//! kernel pinned on each guest port. Then:
//! - a request from a port whose pinned MAC is not the request's chaddr is
//!   dropped: a guest speaks for its own MAC only;
//! - a RELEASE, DECLINE, INFORM or REQUEST about a lease bound on another
//!   port that still exists is ignored, as is one whose lease is another
//!   MAC's (a guest that really moved, as in a live migration, gets its
//!   lease with a fresh DISCOVER/REQUEST once its old port is gone);
//! - a port that holds `leases_per_port` leases gets no offer for another
//!   client, said once per port.
//!
//! Requests without a mark (a trusted port, a relay, an unguarded
//! network) pass as before.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use dhcproto::v4::{Message, MessageType};

use super::lease::ClientId;
use super::pool::Pool;
use crate::config::MacAddr;

/// What the server knows of its guest ports.
#[derive(Debug, Default)]
pub struct Ports {
    /// Each guest port's pinned MAC; a port missing here exists but has
    /// not been read yet (it spoke a moment ago).
    pins: HashMap<u32, MacAddr>,
    /// The guest ports that exist now.
    live: HashSet<u32>,
    /// The port each client's lease was bound on...
    bound: HashMap<ClientId, u32>,
    /// ...and how many each port holds (a count, not a walk: a port may
    /// be a trusted nested hypervisor's with thousands).
    per_port: HashMap<u32, usize>,
    /// Ports told they are full, so it is said once per port.
    said_full: HashSet<u32>,
}

/// Why a request from a guest port is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its chaddr is not the MAC pinned on its port.
    OtherMac {
        port: u32,
        chaddr: MacAddr,
        pinned: MacAddr,
    },
    /// It is about a lease another port holds.
    OtherPort { port: u32, holder: u32 },
    /// It is about a lease of another MAC.
    OtherLease,
    /// The port holds as many leases as it may; `first` is true the first
    /// time (to be said once).
    Full { port: u32, leases: usize, first: bool },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OtherMac { port, chaddr, pinned } => write!(
                f,
                "port security: a request for {chaddr} from port #{port}, whose guest is {pinned}"
            ),
            Refusal::OtherPort { port, holder } => write!(
                f,
                "port security: port #{port} asked about a lease of port #{holder}'s"
            ),
            Refusal::OtherLease => f.write_str("port security: a request about another MAC's lease"),
            Refusal::Full { port, leases, .. } => write!(
                f,
                "port security: port #{port} holds {leases} leases, as many as one port may (leases_per_port); no more for it"
            ),
        }
    }
}

fn kind(m: &Message) -> Option<MessageType> {
    m.opts().msg_type()
}

impl Ports {
    /// The daemon's word on the guest ports: which exist, and their pins.
    /// A lease bound on a port that is gone is free to move.
    pub fn set(&mut self, live: HashSet<u32>, pins: HashMap<u32, MacAddr>) {
        self.bound.retain(|_, p| live.contains(p));
        self.per_port.retain(|p, _| live.contains(p));
        self.said_full.retain(|p| live.contains(p));
        self.live = live;
        self.pins = pins;
    }

    /// A lease was bound (from `port`, if marked) or is gone.
    pub fn bound(&mut self, client: &ClientId, port: Option<u32>) {
        self.gone(client);
        if let Some(p) = port {
            self.bound.insert(client.clone(), p);
            *self.per_port.entry(p).or_default() += 1;
        }
    }

    /// A client's lease is gone (released, declined, expired).
    pub fn gone(&mut self, client: &ClientId) {
        let Some(p) = self.bound.remove(client) else {
            return;
        };
        if let Some(n) = self.per_port.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                self.per_port.remove(&p);
                self.said_full.remove(&p);
            }
        }
    }

    /// Whether request `m` (from client `client` with chaddr `mac`) that
    /// came in on `port` may be served; `cap` is leases_per_port.
    pub fn check(
        &mut self,
        pool: &Pool,
        m: &Message,
        client: &ClientId,
        mac: MacAddr,
        port: Option<u32>,
        cap: u32,
    ) -> Result<(), Refusal> {
        let Some(port) = port else { return Ok(()) };
        if let Some(pinned) = self.pins.get(&port) {
            if *pinned != mac {
                return Err(Refusal::OtherMac {
                    port,
                    chaddr: mac,
                    pinned: *pinned,
                });
            }
        }
        let about: Option<Ipv4Addr> = match kind(m) {
            Some(MessageType::Release | MessageType::Inform) => Some(m.ciaddr()),
            Some(MessageType::Decline) => requested(m),
            Some(MessageType::Request) if !m.ciaddr().is_unspecified() => Some(m.ciaddr()),
            Some(MessageType::Request) => requested(m),
            _ => None,
        };
        // The lease the message is about: the client's own, or whoever's
        // holds the address it names.
        let lease = pool
            .lease_of(client)
            .or_else(|| about.and_then(|ip| pool.lease_at(ip)));
        if let Some(l) = lease.filter(|l| about.is_none_or(|ip| l.ip == ip)) {
            if l.mac != mac && !matches!(kind(m), Some(MessageType::Discover)) {
                return Err(Refusal::OtherLease);
            }
            if let Some(holder) = self.bound.get(&l.client).copied() {
                if holder != port && self.live.contains(&holder) {
                    return Err(Refusal::OtherPort { port, holder });
                }
            }
        }
        if matches!(kind(m), Some(MessageType::Discover | MessageType::Request)) {
            let n = self.per_port.get(&port).copied().unwrap_or(0);
            let mine = self.bound.get(client) == Some(&port);
            if !mine && n >= cap as usize {
                let first = self.said_full.insert(port);
                return Err(Refusal::Full {
                    port,
                    leases: n,
                    first,
                });
            }
        }
        Ok(())
    }
}

fn requested(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(dhcproto::v4::OptionCode::RequestedIpAddress) {
        Some(dhcproto::v4::DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use dhcproto::v4::{DhcpOption, Flags, Opcode};

    use super::*;
    use crate::dhcp::lease::Lease;

    fn mac(n: u8) -> MacAddr {
        MacAddr([0x52, 0x54, 0, 0, 0, n])
    }

    fn msg(kind: MessageType, chaddr: MacAddr, ciaddr: Ipv4Addr) -> Message {
        let mut m = Message::default();
        m.set_opcode(Opcode::BootRequest)
            .set_chaddr(&chaddr.0)
            .set_ciaddr(ciaddr)
            .set_flags(Flags::default());
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m
    }

    fn pool_with(leases: &[(u8, &str)]) -> Pool {
        let mut p = crate::dhcp::pool::tests::pool("");
        let now = 1000;
        p.load(
            leases.iter().map(|(n, ip)| Lease {
                ip: ip.parse().unwrap(),
                client: ClientId::from_mac(mac(*n)),
                mac: mac(*n),
                hostname: None,
                expires: crate::dhcp::lease::at(now + 3600),
            }),
            now,
        );
        p
    }

    fn ports(pins: &[(u32, u8)]) -> Ports {
        let mut p = Ports::default();
        p.set(
            pins.iter().map(|(port, _)| *port).collect(),
            pins.iter().map(|(port, n)| (*port, mac(*n))).collect(),
        );
        p
    }

    #[test]
    fn a_forged_release_from_another_port_is_ignored() {
        let pool = pool_with(&[(2, "10.0.0.12")]);
        let mut p = ports(&[(11, 1), (12, 2)]);
        let victim = ClientId::from_mac(mac(2));
        p.bound(&victim, Some(12));
        // A (port 11) releases B's lease in B's name: its chaddr is not A's.
        let forged = msg(MessageType::Release, mac(2), "10.0.0.12".parse().unwrap());
        assert!(matches!(
            p.check(&pool, &forged, &victim, mac(2), Some(11), 4),
            Err(Refusal::OtherMac { port: 11, .. })
        ));
        // Even before A's pin is known, the lease is port 12's.
        let mut fresh = ports(&[(12, 2)]);
        fresh.set([11, 12].into(), [(12, mac(2))].into());
        fresh.bound(&victim, Some(12));
        assert!(matches!(
            fresh.check(&pool, &forged, &victim, mac(2), Some(11), 4),
            Err(Refusal::OtherPort { port: 11, holder: 12 })
        ));
        // With its own chaddr, A cannot release B's address either.
        let own = msg(MessageType::Release, mac(1), "10.0.0.12".parse().unwrap());
        assert_eq!(
            p.check(&pool, &own, &ClientId::from_mac(mac(1)), mac(1), Some(11), 4),
            Err(Refusal::OtherLease)
        );
        // B releases its own.
        assert_eq!(p.check(&pool, &forged, &victim, mac(2), Some(12), 4), Ok(()));
        // Unmarked (a trusted port): as before.
        assert_eq!(p.check(&pool, &forged, &victim, mac(2), None, 4), Ok(()));
    }

    #[test]
    fn a_lease_follows_its_guest_once_the_old_port_is_gone() {
        let pool = pool_with(&[(2, "10.0.0.12")]);
        let mut p = ports(&[(12, 2), (13, 2)]);
        let c = ClientId::from_mac(mac(2));
        p.bound(&c, Some(12));
        let renew = msg(MessageType::Request, mac(2), "10.0.0.12".parse().unwrap());
        assert!(matches!(
            p.check(&pool, &renew, &c, mac(2), Some(13), 4),
            Err(Refusal::OtherPort { .. })
        ));
        // Port 12 is gone (the guest migrated): 13 may have it.
        p.set([13].into(), [(13, mac(2))].into());
        assert_eq!(p.check(&pool, &renew, &c, mac(2), Some(13), 4), Ok(()));
    }

    #[test]
    fn a_port_gets_at_most_its_share_of_the_pool_and_says_so_once() {
        let pool = pool_with(&[(1, "10.0.0.11"), (3, "10.0.0.13")]);
        let mut p = Ports::default();
        p.set([11].into(), HashMap::new());
        for n in [1, 3] {
            p.bound(&ClientId::from_mac(mac(n)), Some(11));
        }
        let d = |n: u8| msg(MessageType::Discover, mac(n), Ipv4Addr::UNSPECIFIED);
        let c5 = ClientId::from_mac(mac(5));
        assert!(matches!(
            p.check(&pool, &d(5), &c5, mac(5), Some(11), 2),
            Err(Refusal::Full {
                first: true,
                leases: 2,
                ..
            })
        ));
        assert!(matches!(
            p.check(&pool, &d(5), &c5, mac(5), Some(11), 2),
            Err(Refusal::Full { first: false, .. })
        ));
        // A client that holds one of the port's leases renews as ever.
        let c1 = ClientId::from_mac(mac(1));
        assert_eq!(p.check(&pool, &d(1), &c1, mac(1), Some(11), 2), Ok(()));
        // Another port is not touched.
        assert_eq!(p.check(&pool, &d(5), &c5, mac(5), Some(12), 2), Ok(()));
    }
}
