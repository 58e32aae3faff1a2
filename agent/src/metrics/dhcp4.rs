//! DHCPv4's counters, after Kea's statistics (`pkt4-received`,
//! `pkt4-offer-sent`, `assigned-addresses`, `declined-addresses`...).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::NetworkLabel;

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
#[derive(Debug, Clone)]
pub struct Dhcp4 {
    received: [Counter; 9],
    sent: [Counter; 9],
    dropped: [Counter; 4],
    addresses: Gauge,
    assigned: Gauge,
    declined: Gauge,
    failures: Counter,
}

impl Dhcp4 {
    pub fn of(network: &str) -> Dhcp4 {
        super::with(|f| {
            let f = &f.dhcp4;
            let typed = |fam: &Family<TypeLabel, Counter>| {
                TYPES.map(|t| {
                    fam.get_or_create(&TypeLabel {
                        network: network.to_string(),
                        r#type: t,
                    })
                    .clone()
                })
            };
            let net = NetworkLabel {
                network: network.to_string(),
            };
            Dhcp4 {
                received: typed(&f.received),
                sent: typed(&f.sent),
                dropped: DROP_REASONS.map(|reason| {
                    f.dropped
                        .get_or_create(&ReasonLabel {
                            network: network.to_string(),
                            reason,
                        })
                        .clone()
                }),
                addresses: f.addresses.get_or_create(&net).clone(),
                assigned: f.assigned.get_or_create(&net).clone(),
                declined: f.declined.get_or_create(&net).clone(),
                failures: f.failures.get_or_create(&net).clone(),
            }
        })
    }

    /// A packet of message type `t` (option 53) came in.
    pub fn received(&self, t: u8) {
        self.received
            .get(usize::from(t))
            .unwrap_or(&self.received[0])
            .inc();
    }

    /// A packet of message type `t` went out.
    pub fn sent(&self, t: u8) {
        self.sent.get(usize::from(t)).unwrap_or(&self.sent[0]).inc();
    }

    /// A packet was dropped for `reason` (one of `DROP_REASONS`).
    pub fn dropped(&self, reason: usize) {
        if let Some(c) = self.dropped.get(reason) {
            c.inc();
        }
    }

    pub fn allocation_failed(&self) {
        self.failures.inc();
    }

    /// The pool's size, and how many of its addresses are leased and
    /// declined now.
    pub fn pool(&self, size: u64, assigned: u64, declined: u64) {
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.addresses.set(g(size));
        self.assigned.set(g(assigned));
        self.declined.set(g(declined));
    }
}
