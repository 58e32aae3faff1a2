//! DHCPv6's counters (Kea's `pkt6-received`, `pkt6-reply-sent`...) and the
//! router advertisements sent.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::dhcp4::TypeLabel;
use super::{Lazy, NetworkLabel};

/// Message types by their number (RFC 8415 §7.3).
const TYPES: [&str; 14] = [
    "other",
    "solicit",
    "advertise",
    "request",
    "confirm",
    "renew",
    "rebind",
    "reply",
    "release",
    "decline",
    "reconfigure",
    "information_request",
    "relay_forw",
    "relay_repl",
];

pub(crate) struct Families {
    received: Family<TypeLabel, Counter>,
    sent: Family<TypeLabel, Counter>,
    dropped: Family<NetworkLabel, Counter>,
    addresses: Family<NetworkLabel, Gauge>,
    assigned: Family<NetworkLabel, Gauge>,
    declined: Family<NetworkLabel, Gauge>,
    ra_sent: Family<NetworkLabel, Counter>,
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
            ra_sent: Family::default(),
        };
        r.register(
            "dhcp6_packets_received",
            "DHCPv6 packets received, by message type",
            f.received.clone(),
        );
        r.register(
            "dhcp6_packets_sent",
            "DHCPv6 packets sent, by message type",
            f.sent.clone(),
        );
        r.register(
            "dhcp6_packets_dropped",
            "DHCPv6 packets dropped unanswered (malformed or refused)",
            f.dropped.clone(),
        );
        r.register(
            "dhcp6_addresses",
            "Addresses in the network's DHCPv6 ranges (at most 2^63 - 1)",
            f.addresses.clone(),
        );
        r.register(
            "dhcp6_addresses_assigned",
            "DHCPv6 addresses leased to guests now",
            f.assigned.clone(),
        );
        r.register(
            "dhcp6_addresses_declined",
            "DHCPv6 addresses a guest declined, held back now",
            f.declined.clone(),
        );
        r.register("ra_sent", "Router advertisements sent", f.ra_sent.clone());
        f
    }

    pub(super) fn forget(&self, network: &str) {
        for t in TYPES {
            let l = TypeLabel {
                network: network.to_string(),
                r#type: t,
            };
            self.received.remove(&l);
            self.sent.remove(&l);
        }
        let n = NetworkLabel {
            network: network.to_string(),
        };
        self.dropped.remove(&n);
        self.addresses.remove(&n);
        self.assigned.remove(&n);
        self.declined.remove(&n);
        self.ra_sent.remove(&n);
    }
}

/// One network's DHCPv6 counters, taken when its server starts.
#[derive(Debug)]
pub struct Dhcp6 {
    network: String,
    received: [Lazy<Counter>; 14],
    sent: [Lazy<Counter>; 14],
    dropped: Lazy<Counter>,
    /// The pool's size, leases and declined addresses.
    gauges: [Lazy<Gauge>; 3],
}

impl Dhcp6 {
    pub fn of(network: &str) -> Dhcp6 {
        Dhcp6 {
            network: network.to_string(),
            received: super::lazies(),
            sent: super::lazies(),
            dropped: Lazy::default(),
            gauges: super::lazies(),
        }
    }

    fn typed(&self, sent: bool, first: Option<u8>) -> &Counter {
        let i = first.map_or(0, usize::from);
        let i = if i < TYPES.len() { i } else { 0 };
        let lazy = if sent { &self.sent[i] } else { &self.received[i] };
        lazy.get(|f| {
            let fam = if sent { &f.ipv6.sent } else { &f.ipv6.received };
            fam.get_or_create(&TypeLabel {
                network: self.network.clone(),
                r#type: TYPES[i],
            })
            .clone()
        })
    }

    /// A message came in; `first` is its first byte (the type).
    pub fn received(&self, first: Option<u8>) {
        self.typed(false, first).inc();
    }

    pub fn sent(&self, first: Option<u8>) {
        self.typed(true, first).inc();
    }

    /// The pool's size, and how many of its addresses are leased and
    /// declined now.
    pub fn pool(&self, (size, assigned, declined): (u64, u64, u64)) {
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (i, v) in [size, assigned, declined].into_iter().enumerate() {
            self.gauges[i]
                .get(|f| {
                    let fam = [&f.ipv6.addresses, &f.ipv6.assigned, &f.ipv6.declined][i];
                    fam.get_or_create(&NetworkLabel {
                        network: self.network.clone(),
                    })
                    .clone()
                })
                .set(g(v));
        }
    }

    pub fn dropped(&self) {
        self.dropped
            .get(|f| {
                f.ipv6
                    .dropped
                    .get_or_create(&NetworkLabel {
                        network: self.network.clone(),
                    })
                    .clone()
            })
            .inc();
    }
}

/// A router advertisement went out on `network`'s bridge.
pub fn ra_sent(network: &str) {
    super::with(|f| {
        f.ipv6
            .ra_sent
            .get_or_create(&NetworkLabel {
                network: network.to_string(),
            })
            .inc();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_land_in_their_types_and_advertisements_are_counted() {
        let d = Dhcp6::of("v6-metrics-test");
        d.received(Some(1));
        d.received(Some(200));
        d.received(None);
        d.sent(Some(7));
        d.pool((u64::MAX, 2, 1));
        ra_sent("v6-metrics-test");
        let text = super::super::encode();
        for want in [
            "netagent_dhcp6_packets_received_total{network=\"v6-metrics-test\",type=\"solicit\"} 1",
            "netagent_dhcp6_packets_received_total{network=\"v6-metrics-test\",type=\"other\"} 2",
            "netagent_dhcp6_packets_sent_total{network=\"v6-metrics-test\",type=\"reply\"} 1",
            "netagent_ra_sent_total{network=\"v6-metrics-test\"} 1",
            "netagent_dhcp6_addresses{network=\"v6-metrics-test\"} 9223372036854775807",
            "netagent_dhcp6_addresses_assigned{network=\"v6-metrics-test\"} 2",
            "netagent_dhcp6_addresses_declined{network=\"v6-metrics-test\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }
}
