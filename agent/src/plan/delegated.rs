//! Networks whose IPv6 prefix is delegated (`address6 = "pd"`): the /64 of
//! the uplink's delegated prefix each takes, decided here, so the rest of
//! the plan sees an ordinary address6.

use ipnet::Ipv6Net;

use crate::config::{Config, Delegated};

/// `cfg` with each delegated network's address6 filled in from `prefix`:
/// subnet N's ::1/64, "pd" networks taking the lowest free subnets in
/// config order. Without a prefix (none delegated yet), or with one too
/// small for the subnet, such a network has no IPv6 for now.
pub fn with_prefix(cfg: &Config, prefix: Option<Ipv6Net>) -> Config {
    let mut out = cfg.clone();
    let taken: Vec<u16> = cfg
        .networks
        .iter()
        .filter_map(|n| match n.delegated {
            Some(Delegated::Subnet(i)) => Some(i),
            _ => None,
        })
        .collect();
    let mut free = (0..=u16::MAX).filter(|i| !taken.contains(i));
    for n in out.networks.iter_mut() {
        let index = match n.delegated {
            None => continue,
            Some(Delegated::Subnet(i)) => i,
            Some(Delegated::Auto) => free.next().unwrap_or(u16::MAX),
        };
        n.address6 = prefix.and_then(|p| subnet(p, index));
    }
    out
}

/// Subnet `index` (a /64) of `p`, with the bridge at ::1; None if `p` has
/// no such subnet.
pub fn subnet(p: Ipv6Net, index: u16) -> Option<Ipv6Net> {
    let bits = 64u8.checked_sub(p.prefix_len())?;
    if bits < 16 && u32::from(index) >= 1u32 << bits {
        return None;
    }
    let base = u128::from(p.network()) | (u128::from(index) << 64);
    Ipv6Net::new((base | 1).into(), 64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::config::parse(
            "[uplink]\ninterface = \"eth0\"\n\
             [[network]]\nname = \"a\"\nbridge = \"b0\"\naddress = \"10.0.0.1/24\"\naddress6 = \"pd\"\n\
             [[network]]\nname = \"b\"\nbridge = \"b1\"\naddress = \"10.0.1.1/24\"\naddress6 = \"pd:0\"\n\
             [[network]]\nname = \"c\"\nbridge = \"b2\"\naddress = \"10.0.2.1/24\"\naddress6 = \"pd\"\n",
            "t.toml",
        )
        .unwrap_or_else(|p| panic!("{p}"))
    }

    #[test]
    fn each_network_takes_its_64_of_the_delegated_prefix() {
        let c = cfg();
        assert!(with_prefix(&c, None)
            .networks
            .iter()
            .all(|n| n.address6.is_none()));
        let p: Ipv6Net = "2001:db8:8800:ab00::/56".parse().unwrap();
        let got: Vec<String> = with_prefix(&c, Some(p))
            .networks
            .iter()
            .map(|n| n.address6.map(|a| a.to_string()).unwrap_or_default())
            .collect();
        // b asked for subnet 0; a and c take 1 and 2, in config order.
        assert_eq!(
            got,
            vec![
                "2001:db8:8800:ab01::1/64",
                "2001:db8:8800:ab00::1/64",
                "2001:db8:8800:ab02::1/64"
            ]
        );
        // A /63 has two subnets: the third network waits for a larger one.
        let small: Ipv6Net = "2001:db8::/63".parse().unwrap();
        let got: Vec<bool> = with_prefix(&c, Some(small))
            .networks
            .iter()
            .map(|n| n.address6.is_some())
            .collect();
        assert_eq!(got, vec![true, true, false]);
        assert_eq!(
            subnet("2001:db8::/64".parse().unwrap(), 0).map(|a| a.to_string()),
            Some("2001:db8::1/64".into())
        );
        assert_eq!(subnet("2001:db8::/64".parse().unwrap(), 1), None);
        assert_eq!(
            subnet("2001:db8::/72".parse().unwrap(), 0),
            None,
            "smaller than a /64"
        );
    }
}
