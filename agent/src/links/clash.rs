//! An uplink address inside a guest network: the appliance booted inside
//! libvirt's own 192.168.122.0/24, or the host's DHCP server handed out an
//! address in a subnet a network uses. The kernel then has two routes for
//! one subnet and guests or the LAN become unreachable; netagent cannot fix
//! it (the address is not its to choose) and says so loudly instead.

use ipnet::Ipv4Net;

use crate::config::Kind;
use crate::plan::BridgePlan;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("uplink {uplink}: address {address} overlaps network \"{network}\" ({subnet}): guests and the uplink's LAN cannot both be reached; give the network a subnet the LAN does not use")]
pub(crate) struct UplinkClash {
    pub(crate) uplink: String,
    pub(crate) address: Ipv4Net,
    pub(crate) network: String,
    pub(crate) subnet: Ipv4Net,
}

/// The uplink's addresses that overlap a guest network's subnet.
pub(crate) fn uplink_clashes(uplink: &str, addrs: &[Ipv4Net], bridges: &[BridgePlan]) -> Vec<UplinkClash> {
    let mut out = Vec::new();
    // A `bridge` network shares the uplink's LAN on purpose.
    for b in bridges
        .iter()
        .filter(|b| b.kind != Kind::Bridge && b.name != uplink)
    {
        let Some(subnet) = b.address.map(|a| a.trunc()) else {
            continue;
        };
        for a in addrs {
            if a.trunc().contains(&subnet.network()) || subnet.contains(&a.network()) {
                out.push(UplinkClash {
                    uplink: uplink.to_string(),
                    address: *a,
                    network: b.network.clone(),
                    subnet,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_config;
    use crate::plan::plan;

    #[test]
    fn a_lease_inside_the_default_network_is_named() {
        let p = plan(&default_config());
        let got = uplink_clashes("eth0", &["192.168.122.57/24".parse().unwrap()], &p.bridges);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to_string().split(':').next(), Some("uplink eth0"));
        assert!(got[0]
            .to_string()
            .contains("address 192.168.122.57/24 overlaps network \"default\" (192.168.122.0/24)"));
        // A wider uplink subnet that holds the network clashes too; a separate one does not.
        assert_eq!(
            uplink_clashes("eth0", &["192.168.0.9/16".parse().unwrap()], &p.bridges).len(),
            1
        );
        assert!(uplink_clashes("eth0", &["10.0.2.15/24".parse().unwrap()], &p.bridges).is_empty());
    }
}
