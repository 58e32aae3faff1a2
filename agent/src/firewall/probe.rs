//! Before touching anything at start, `nft -c` proves that nft runs and the
//! kernel has every nf_tables feature netagent's rules use. A small ruleset
//! that uses each of them (NAT with masquerade and port forwards, routed,
//! isolated) proves it as well as the host's whole ruleset does, in a few
//! milliseconds instead of a dry run of thousands of rules.

use nftables::schema::Nftables;

use crate::config;

/// Every kind of rule the ruleset builder makes, in three small networks.
const PROBE: &str = r#"
[uplink]
interface = "eth0"
address = "dhcp"

[[network]]
name = "nat"
bridge = "naprobe0"
address = "10.255.0.1/24"
[network.dhcp]
[[network.forward]]
port = 80
to = "10.255.0.2"
from = ["10.254.0.0/24"]
[[network.forward]]
protocol = "udp"
port = "5000-5001"
to = "10.255.0.3"

[[network]]
name = "routed"
kind = "route"
bridge = "naprobe1"
address = "10.255.1.1/24"

[[network]]
name = "isolated"
kind = "isolated"
bridge = "naprobe2"
address = "10.255.2.1/24"
"#;

/// The probe's ruleset; None only if the probe config itself were broken
/// (a unit test keeps it whole), and then the caller checks the real one.
pub(crate) fn ruleset() -> Option<Nftables<'static>> {
    let cfg = config::parse(PROBE, "probe").ok()?;
    Some(crate::plan::plan(&cfg).ruleset.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::render;

    #[test]
    fn the_probe_uses_every_kind_of_statement() {
        let cfg = config::parse(PROBE, "probe").unwrap_or_else(|p| panic!("{p}"));
        let text = render::render(&crate::plan::plan(&cfg).ruleset);
        for needle in [
            "masquerade",
            "dnat ip to",
            "reject",
            "ct state",
            "ct status dnat",
            "l4proto udp",
            "saddr {",
        ] {
            assert!(text.contains(needle), "the probe has no {needle}:\n{text}");
        }
    }
}
