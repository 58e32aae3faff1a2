//! DHCPv4's counters, after Kea's statistics (`pkt4-received`,
//! `pkt4-offer-sent`, `assigned-addresses`, `declined-addresses`...).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Lazy, NetworkLabel};

/// Message types by their option 53 number (RFC 2132 §9.6).
const TYPES: [&str; 9] = [
    "other", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform",
];

/// Why a packet got no answer, beyond the ones that are not for us.
pub(super) const DROP_REASONS: [&str; 4] = ["malformed", "port_security", "overload", "refused"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TypeLabel {
    pub network: String,
    pub r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub network: String,
    pub reason: &'static str,
}

pub(crate) struct Families {
    received: Family<TypeLabel, Counter>,
    sent: Family<TypeLabel, Counter>,
    dropped: Family<ReasonLabel, Counter>,
    addresses: Family<NetworkLabel, Gauge>,
    assigned: Family<NetworkLabel, Gauge>,
    declined: Family<NetworkLabel, Gauge>,
    failures: Family<NetworkLabel, Counter>,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Families {
        let f = Families {
            received: Family::default(),
            sent: Family::default(),
            dropped: Family::default(),
            addresses: Family::default(),
            assigned: Family::default(),
            declined: Family::default(),
            failures: Family::default(),
        };
        r.register(
            "dhcp4_packets_received",
            "DHCPv4 packets received, by message type",
            f.received.clone(),
        );
        r.register(
            "dhcp4_packets_sent",
            "DHCPv4 packets sent, by message type",
            f.sent.clone(),
        );
        r.register(
            "dhcp4_packets_dropped",
            "DHCPv4 packets dropped unanswered, by reason",
            f.dropped.clone(),
        );
        r.register(
            "dhcp4_addresses",
            "Addresses in the network's pool",
            f.addresses.clone(),
        );
        r.register(
            "dhcp4_addresses_assigned",
            "Addresses leased to guests now",
            f.assigned.clone(),
        );
        r.register(
            "dhcp4_addresses_declined",
            "Addresses a guest declined (in use by another), held back now",
            f.declined.clone(),
        );
        r.register(
            "dhcp4_allocation_failures",
            "DISCOVERs and REQUESTs that found no free address",
            f.failures.clone(),
        );
        f
    }

    pub(super) fn forget(&self, network: &str) {
        let n = |network: &str| NetworkLabel {
            network: network.to_string(),
        };
        for t in TYPES {
            let l = TypeLabel {
                network: network.to_string(),
                r#type: t,
            };
            self.received.remove(&l);
            self.sent.remove(&l);
        }
        for reason in DROP_REASONS {
            self.dropped.remove(&ReasonLabel {
                network: network.to_string(),
                reason,
            });
        }
        for g in [&self.addresses, &self.assigned, &self.declined] {
            g.remove(&n(network));
        }
        self.failures.remove(&n(network));
    }
}

/// One network's DHCPv4 counters, taken when its server starts.
#[derive(Debug)]
pub struct Dhcp4 {
    network: String,
    received: [Lazy<Counter>; 9],
    sent: [Lazy<Counter>; 9],
    dropped: [Lazy<Counter>; 4],
    addresses: Lazy<Gauge>,
    assigned: Lazy<Gauge>,
    declined: Lazy<Gauge>,
    failures: Lazy<Counter>,
}

impl Dhcp4 {
    pub fn of(network: &str) -> Dhcp4 {
        Dhcp4 {
            network: network.to_string(),
            received: super::lazies(),
            sent: super::lazies(),
            dropped: super::lazies(),
            addresses: Lazy::default(),
            assigned: Lazy::default(),
            declined: Lazy::default(),
            failures: Lazy::default(),
        }
    }

    fn typed(&self, sent: bool, t: u8) -> &Counter {
        let i = if usize::from(t) < TYPES.len() {
            usize::from(t)
        } else {
            0
        };
        let lazy = if sent { &self.sent[i] } else { &self.received[i] };
        lazy.get(|f| {
            let fam = if sent { &f.dhcp4.sent } else { &f.dhcp4.received };
            fam.get_or_create(&TypeLabel {
                network: self.network.clone(),
                r#type: TYPES[i],
            })
            .clone()
        })
    }

    fn net(&self) -> NetworkLabel {
        NetworkLabel {
            network: self.network.clone(),
        }
    }

    /// A packet of message type `t` (option 53) came in.
    pub fn received(&self, t: u8) {
        self.typed(false, t).inc();
    }

    /// A packet of message type `t` went out.
    pub fn sent(&self, t: u8) {
        self.typed(true, t).inc();
    }

    /// A packet was dropped for `reason` (one of `DROP_REASONS`).
    pub fn dropped(&self, reason: usize) {
        let (Some(lazy), Some(&reason)) = (self.dropped.get(reason), DROP_REASONS.get(reason)) else {
            return;
        };
        lazy.get(|f| {
            f.dhcp4
                .dropped
                .get_or_create(&ReasonLabel {
                    network: self.network.clone(),
                    reason,
                })
                .clone()
        })
        .inc();
    }

    pub fn allocation_failed(&self) {
        self.failures
            .get(|f| f.dhcp4.failures.get_or_create(&self.net()).clone())
            .inc();
    }

    /// The pool's size, and how many of its addresses are leased and
    /// declined now.
    pub fn pool(&self, size: u64, assigned: u64, declined: u64) {
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.addresses
            .get(|f| f.dhcp4.addresses.get_or_create(&self.net()).clone())
            .set(g(size));
        self.assigned
            .get(|f| f.dhcp4.assigned.get_or_create(&self.net()).clone())
            .set(g(assigned));
        self.declined
            .get(|f| f.dhcp4.declined.get_or_create(&self.net()).clone())
            .set(g(declined));
    }
}
