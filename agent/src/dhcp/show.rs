//! `netagent leases`: the leases as `virsh net-dhcp-leases` shows them, or
//! as JSON for scripts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::{path_for, path_for6, replay};
use super::lease::Lease;
use crate::config::Config;
use crate::dhcp6::lease::Lease6;
use crate::util::grid::grid;
use crate::util::time::format_time;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    pub network: String,
    /// `2026-11-28 01:00:00` (UTC), or `never` for an infinite lease.
    pub expiry: String,
    pub mac: String,
    pub protocol: String,
    pub address: String,
    pub hostname: Option<String>,
    pub client_id: String,
    /// Unix seconds of `expiry` (for a remaining time); None: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

/// The live leases of `network` (or all networks with DHCP) from `dir`.
pub fn rows(cfg: &Config, network: Option<&str>, dir: &Path, now: u64) -> Result<Vec<Row>, String> {
    if let Some(n) = network {
        if !cfg.networks.iter().any(|x| x.name == n) {
            return Err(format!("no network named \"{n}\" in the config"));
        }
    }
    let mut out = Vec::new();
    for n in cfg
        .networks
        .iter()
        .filter(|n| n.dhcp.is_some() && network.is_none_or(|w| w == n.name))
    {
        let prefix = n.address.map(|a| a.prefix_len()).unwrap_or(32);
        let (leases, _) = replay::<Lease>(&path_for(dir, &n.name));
        out.extend(
            leases
                .into_iter()
                .filter(|l| !l.expired(now))
                .map(|l| row(&n.name, &l, prefix)),
        );
    }
    for n in cfg
        .networks
        .iter()
        .filter(|n| n.dhcp6.is_some() && network.is_none_or(|w| w == n.name))
    {
        let prefix = n.address6.map(|a| a.prefix_len()).unwrap_or(128);
        let (leases, _) = replay::<Lease6>(&path_for6(dir, &n.name));
        out.extend(
            leases
                .into_iter()
                .filter(|l| !l.expired(now))
                .map(|l| row6(&n.name, &l, prefix)),
        );
    }
    Ok(out)
}

pub fn row6(network: &str, l: &Lease6, prefix: u8) -> Row {
    Row {
        network: network.to_string(),
        expiry: l.expires.map(format_time).unwrap_or_else(|| "never".into()),
        mac: l.mac.clone().unwrap_or_else(|| "-".into()),
        protocol: "ipv6".into(),
        address: format!("{}/{prefix}", l.ip),
        hostname: l.hostname.clone(),
        // As virsh shows a DHCPv6 client: its IAID and DUID.
        client_id: format!("{}:{}", l.iaid, l.duid.to_hex()),
        expires: l.expires,
    }
}

pub fn row(network: &str, l: &Lease, prefix: u8) -> Row {
    Row {
        network: network.to_string(),
        expiry: l.expiry().map(format_time).unwrap_or_else(|| "never".into()),
        mac: l.mac.to_string(),
        protocol: "ipv4".into(),
        address: format!("{}/{prefix}", l.ip),
        hostname: l.hostname.as_deref().map(String::from),
        client_id: l.client.to_hex(),
        expires: l.expiry(),
    }
}

/// A warning when the pool's ranges are more than 90 % leased: new guests
/// will soon get no address (`netagent leases --release` frees some).
pub(crate) fn fullness(pool: &crate::plan::DhcpPool, leases: &[Lease]) -> Option<String> {
    let size: u64 = pool.ranges.iter().map(|r| r.len()).sum();
    let used = leases
        .iter()
        .filter(|l| pool.ranges.iter().any(|r| r.contains(l.ip)))
        .count() as u64;
    (size > 0 && used * 10 > size * 9).then(|| {
        format!(
            "dhcp {}: pool {} % full ({used} of {size} addresses leased): new guests will soon get none; widen the ranges or release leases",
            pool.network,
            used * 100 / size
        )
    })
}

pub fn table(rows: &[Row]) -> String {
    let head = [
        " Expiry Time",
        "MAC address",
        "Protocol",
        "IP address",
        "Hostname",
        "Client ID or DUID",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!(" {}", r.expiry),
                r.mac.clone(),
                r.protocol.to_string(),
                r.address.clone(),
                r.hostname.clone().unwrap_or_else(|| "-".into()),
                r.client_id.clone(),
            ]
        })
        .collect();
    grid(&head, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_virsh() {
        let rows = vec![Row {
            network: "default".into(),
            expiry: "2026-11-28 01:00:00".into(),
            mac: "52:54:00:aa:bb:cc".into(),
            protocol: "ipv4".into(),
            address: "192.168.122.45/24".into(),
            hostname: Some("web".into()),
            client_id: "01:52:54:00:aa:bb:cc".into(),
            expires: None,
        }];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with(" Expiry Time"));
        assert!(lines[1].starts_with("-----"));
        assert!(
            lines[2].contains("2026-11-28 01:00:00   52:54:00:aa:bb:cc   ipv4       192.168.122.45/24   web"),
            "{t}"
        );
    }

    #[test]
    fn a_pool_over_90_percent_full_is_a_warning() {
        let src =
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"b0\"\naddress = \"10.0.0.1/24\"\n\
                   [network.dhcp]\nranges = [\"10.0.0.10-10.0.0.19\"]\n";
        let cfg = crate::config::parse(src, "t").unwrap_or_else(|p| panic!("{p}"));
        let pool = crate::plan::plan(&cfg).dhcp.remove(0);
        let lease = |n: u8| {
            let mac = crate::config::MacAddr([0x52, 0x54, 0, 0, 0, n]);
            Lease {
                ip: std::net::Ipv4Addr::new(10, 0, 0, n),
                client: crate::dhcp::ClientId::from_mac(mac),
                mac,
                hostname: None,
                expires: None,
            }
        };
        let nine: Vec<Lease> = (10..19).map(lease).collect();
        assert_eq!(fullness(&pool, &nine), None, "90 % is not over 90 %");
        let mut ten = nine.clone();
        ten.push(lease(19));
        let w = fullness(&pool, &ten).unwrap_or_default();
        assert!(
            w.starts_with("dhcp n: pool 100 % full (10 of 10 addresses leased)"),
            "{w}"
        );
        // A static host's address outside the ranges does not count.
        let mut outside = nine;
        outside.push(lease(200));
        assert_eq!(fullness(&pool, &outside), None);
    }
}
