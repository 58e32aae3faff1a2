//! What netagent counts, in the Prometheus text format (the
//! `prometheus-client` crate). Names follow Kea's statistics and CoreDNS's
//! metrics under Prometheus' rules: a `netagent_` prefix, `_total` only on
//! counters, base units. Labels are bounded: a network's name, a message
//! type, an rcode, a transport, a result; never a MAC or an address.
//!
//! Servers count through handles they take when they start (`Dhcp4`,
//! `Dns`, `Dhcp6`). Each series in a handle is made the first time it
//! counts (`Lazy`), so a network no guest talks on costs no series (memory
//! follows guests: at 200 networks, made at start they were 2.5 MiB);
//! after that an increment is one atomic add, with no label lookup on the
//! packet path.

mod dhcp4;
mod dns;
mod ipv6;

use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use dhcp4::Dhcp4;
pub use dns::Dns;
pub use ipv6::{ra_sent, Dhcp6};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NetworkLabel {
    pub network: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VersionLabel {
    pub version: &'static str,
}

/// A series of one network, made (registered in its family) the first
/// time it is used.
#[derive(Debug)]
pub(crate) struct Lazy<M>(std::sync::OnceLock<M>);

impl<M> Default for Lazy<M> {
    fn default() -> Self {
        Lazy(std::sync::OnceLock::new())
    }
}

impl<M: Clone> Lazy<M> {
    /// The series, made by `make` from the families if it is not yet.
    pub(crate) fn get(&self, make: impl FnOnce(&Families) -> M) -> &M {
        self.0.get_or_init(|| with(make))
    }
}

/// `N` lazy series.
pub(crate) fn lazies<M, const N: usize>() -> [Lazy<M>; N] {
    std::array::from_fn(|_| Lazy::default())
}

/// Every family, registered once.
pub(crate) struct Families {
    pub dhcp4: dhcp4::Families,
    pub dns: dns::Families,
    pub ipv6: ipv6::Families,
    pub network_up: Family<NetworkLabel, Gauge>,
    pub reloads: Family<ResultLabel, Counter>,
}

struct Metrics {
    registry: Registry,
    families: Families,
}

static METRICS: LazyLock<Mutex<Metrics>> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("netagent");
    let build = Family::<VersionLabel, Gauge>::default();
    build
        .get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    registry.register("build_info", "netagent's version (always 1)", build);
    let network_up = Family::<NetworkLabel, Gauge>::default();
    registry.register(
        "network_up",
        "1 while the network's bridge is up and its services serve, else 0",
        network_up.clone(),
    );
    let reloads = Family::<ResultLabel, Counter>::default();
    registry.register(
        "config_reloads",
        "Config reloads, by result (applied, unchanged, refused)",
        reloads.clone(),
    );
    let families = Families {
        dhcp4: dhcp4::Families::register(&mut registry),
        dns: dns::Families::register(&mut registry),
        ipv6: ipv6::Families::register(&mut registry),
        network_up,
        reloads,
    };
    Mutex::new(Metrics { registry, families })
});

/// The families, to take handles from or to set (off the packet path).
pub(crate) fn with<R>(f: impl FnOnce(&Families) -> R) -> R {
    let m = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    f(&m.families)
}

/// Every metric, as Prometheus reads them (OpenMetrics text).
pub fn encode() -> String {
    let m = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &m.registry);
    out
}

/// A reload ended with `result`.
pub fn reloaded(result: &'static str) {
    with(|f| f.reloads.get_or_create(&ResultLabel { result }).inc());
}

/// Whether `network` serves now.
pub fn set_up(network: &str, up: bool) {
    with(|f| {
        f.network_up
            .get_or_create(&NetworkLabel {
                network: network.to_string(),
            })
            .set(i64::from(up));
    });
}

/// A network is gone from the config: its series go with it.
pub fn forget(network: &str) {
    let label = NetworkLabel {
        network: network.to_string(),
    };
    with(|f| {
        f.network_up.remove(&label);
        f.dhcp4.forget(network);
        f.dns.forget(network);
        f.ipv6.forget(network);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_family_with_its_prefix_and_units() {
        let d = Dhcp4::of("metrics-test");
        d.received(1);
        d.sent(2);
        Dns::of("metrics-test").duration(0.002);
        set_up("metrics-test", true);
        let text = encode();
        for want in [
            "netagent_build_info{version=",
            "netagent_dhcp4_packets_received_total{network=\"metrics-test\",type=\"discover\"} 1",
            "netagent_dhcp4_packets_sent_total{network=\"metrics-test\",type=\"offer\"} 1",
            "netagent_network_up{network=\"metrics-test\"} 1",
            "# TYPE netagent_dns_request_duration_seconds histogram",
            "netagent_dns_request_duration_seconds_bucket{le=\"0.0064\",network=\"metrics-test\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        // A series is made when it first counts: none for what never did.
        assert!(!text.contains("network=\"metrics-test\",type=\"inform\""));
        forget("metrics-test");
        assert!(!encode().contains("network=\"metrics-test\""));
    }
}
