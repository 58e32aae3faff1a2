//! DNS counters, after CoreDNS's (`coredns_dns_requests_total`,
//! `coredns_dns_responses_total`, `coredns_dns_request_duration_seconds`,
//! `coredns_cache_hits_total`...).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::{Lazy, NetworkLabel};

/// The query types counted by name; the rest are "other".
const QTYPES: [(u16, &str); 11] = [
    (1, "A"),
    (28, "AAAA"),
    (12, "PTR"),
    (33, "SRV"),
    (16, "TXT"),
    (6, "SOA"),
    (2, "NS"),
    (15, "MX"),
    (5, "CNAME"),
    (65, "HTTPS"),
    (255, "ANY"),
];
const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
/// The header's rcodes (RFC 1035 §4.1.1, RFC 2136), the rest "other".
const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];
const RESULTS: [&str; 2] = ["answered", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabel {
    pub network: String,
    pub transport: &'static str,
    pub r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RcodeLabel {
    pub network: String,
    pub rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub network: String,
    pub result: &'static str,
}

pub(crate) struct Families {
    requests: Family<RequestLabel, Counter>,
    responses: Family<RcodeLabel, Counter>,
    duration: Family<NetworkLabel, Histogram>,
    hits: Family<NetworkLabel, Counter>,
    misses: Family<NetworkLabel, Counter>,
    entries: Family<NetworkLabel, Gauge>,
    upstream: Family<ResultLabel, Counter>,
}

fn histogram() -> Histogram {
    // 100 µs to 1.6 s, four times apart: a cached answer, a local one, a
    // forwarded one, an upstream that fails over.
    Histogram::new(exponential_buckets(0.0001, 4.0, 8))
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Families {
        let f = Families {
            requests: Family::default(),
            responses: Family::default(),
            duration: Family::new_with_constructor(histogram),
            hits: Family::default(),
            misses: Family::default(),
            entries: Family::default(),
            upstream: Family::default(),
        };
        r.register(
            "dns_requests",
            "DNS queries received, by transport and query type",
            f.requests.clone(),
        );
        r.register("dns_responses", "DNS answers sent, by rcode", f.responses.clone());
        r.register_with_unit(
            "dns_request_duration",
            "Time from a query's receipt to its answer's send (a cached one: its batch's)",
            prometheus_client::registry::Unit::Seconds,
            f.duration.clone(),
        );
        r.register(
            "dns_cache_hits",
            "Queries answered from the answer cache",
            f.hits.clone(),
        );
        r.register(
            "dns_cache_misses",
            "Queries the answer cache could not answer",
            f.misses.clone(),
        );
        r.register("dns_cache_entries", "Answers in the cache now", f.entries.clone());
        r.register(
            "dns_upstream_requests",
            "Queries forwarded upstream, by result (answered, failed: no upstream answered)",
            f.upstream.clone(),
        );
        f
    }

    pub(super) fn forget(&self, network: &str) {
        let s = || network.to_string();
        for transport in TRANSPORTS {
            for r#type in QTYPES.iter().map(|(_, n)| *n).chain(["other"]) {
                self.requests.remove(&RequestLabel {
                    network: s(),
                    transport,
                    r#type,
                });
            }
        }
        for rcode in RCODES {
            self.responses.remove(&RcodeLabel { network: s(), rcode });
        }
        for result in RESULTS {
            self.upstream.remove(&ResultLabel { network: s(), result });
        }
        let n = NetworkLabel { network: s() };
        self.duration.remove(&n);
        self.hits.remove(&n);
        self.misses.remove(&n);
        self.entries.remove(&n);
    }
}

/// One network's DNS counters, taken when its server starts.
#[derive(Debug)]
pub struct Dns {
    network: String,
    /// By transport, then by `QTYPES` position (the last: other).
    requests: [[Lazy<Counter>; 12]; 2],
    responses: [Lazy<Counter>; 7],
    duration: Lazy<Histogram>,
    hits: Lazy<Counter>,
    misses: Lazy<Counter>,
    entries: Lazy<Gauge>,
    upstream: [Lazy<Counter>; 2],
}

impl Dns {
    pub fn of(network: &str) -> Dns {
        Dns {
            network: network.to_string(),
            requests: [super::lazies(), super::lazies()],
            responses: super::lazies(),
            duration: Lazy::default(),
            hits: Lazy::default(),
            misses: Lazy::default(),
            entries: Lazy::default(),
            upstream: super::lazies(),
        }
    }

    fn net(&self) -> NetworkLabel {
        NetworkLabel {
            network: self.network.clone(),
        }
    }

    /// A query of type `qtype` came in, over TCP when `tcp`.
    pub fn request(&self, tcp: bool, qtype: u16) {
        let i = QTYPES
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(QTYPES.len());
        let transport = TRANSPORTS[usize::from(tcp)];
        self.requests[usize::from(tcp)][i]
            .get(|f| {
                f.dns
                    .requests
                    .get_or_create(&RequestLabel {
                        network: self.network.clone(),
                        transport,
                        r#type: QTYPES.get(i).map_or("other", |(_, n)| *n),
                    })
                    .clone()
            })
            .inc();
    }

    /// An answer went out: counted by its header's rcode.
    pub fn response(&self, answer: &[u8]) {
        let rcode = answer.get(3).map_or(2, |b| b & 0x0f);
        let i = usize::from(rcode).min(RCODES.len() - 1);
        self.responses[i]
            .get(|f| {
                f.dns
                    .responses
                    .get_or_create(&RcodeLabel {
                        network: self.network.clone(),
                        rcode: RCODES[i],
                    })
                    .clone()
            })
            .inc();
    }

    pub fn cache(&self, hit: bool) {
        if hit {
            self.hits.get(|f| f.dns.hits.get_or_create(&self.net()).clone())
        } else {
            self.misses
                .get(|f| f.dns.misses.get_or_create(&self.net()).clone())
        }
        .inc();
    }

    pub fn cache_entries(&self, n: usize) {
        self.entries
            .get(|f| f.dns.entries.get_or_create(&self.net()).clone())
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A forwarded query ended: some upstream answered, or none did.
    pub fn upstream(&self, answered: bool) {
        let i = usize::from(!answered);
        self.upstream[i]
            .get(|f| {
                f.dns
                    .upstream
                    .get_or_create(&ResultLabel {
                        network: self.network.clone(),
                        result: RESULTS[i],
                    })
                    .clone()
            })
            .inc();
    }

    fn histogram(&self) -> &Histogram {
        self.duration
            .get(|f| f.dns.duration.get_or_create(&self.net()).clone())
    }

    /// A query answered the long way took `seconds`.
    pub fn duration(&self, seconds: f64) {
        self.histogram().observe(seconds);
    }

    /// `n` queries answered from the cache in one batch took `seconds`.
    pub fn durations(&self, n: usize, seconds: f64) {
        if n == 0 {
            return;
        }
        let h = self.histogram();
        for _ in 0..n {
            h.observe(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_land_in_their_series() {
        let d = Dns::of("dns-metrics-test");
        d.request(false, 1);
        d.request(true, 28);
        d.request(false, 4242);
        d.response(&[0, 0, 0x81, 0x83]);
        d.response(&[0, 0, 0x81, 0x0b]);
        d.upstream(false);
        let text = super::super::encode();
        for want in [
            "netagent_dns_requests_total{network=\"dns-metrics-test\",transport=\"udp\",type=\"A\"} 1",
            "netagent_dns_requests_total{network=\"dns-metrics-test\",transport=\"tcp\",type=\"AAAA\"} 1",
            "netagent_dns_requests_total{network=\"dns-metrics-test\",transport=\"udp\",type=\"other\"} 1",
            "netagent_dns_responses_total{network=\"dns-metrics-test\",rcode=\"NXDOMAIN\"} 1",
            "netagent_dns_responses_total{network=\"dns-metrics-test\",rcode=\"other\"} 1",
            "netagent_dns_upstream_requests_total{network=\"dns-metrics-test\",result=\"failed\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }
}
