//! libvirt's lease file for a network's bridge,
//! `/var/lib/libvirt/dnsmasq/<bridge>.status`: a JSON array of leases that
//! libvirt's dnsmasq keeps through its lease helper, and that libvirt reads
//! for `virsh net-dhcp-leases`, `virsh domifaddr --source lease` and
//! virt-manager's address column, whatever the network's forward mode.
//!
//! Both ways, pure: the leases of an adopted network are read from it once
//! (every guest keeps its address), written to it while netagent serves the
//! network (virsh keeps seeing them), and left in it on `--undo`, where
//! dnsmasq's lease helper reads them back at its start.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dhcp::lease::{at, ClientId, Lease};
use crate::dhcp6::lease::Lease6;

/// Where libvirt keeps its dnsmasq files (its build's localstatedir).
pub const DNSMASQ_DIR: &str = "/var/lib/libvirt/dnsmasq";

/// The lease file libvirt reads for the network on `bridge`.
pub fn status_path(dir: &Path, bridge: &str) -> PathBuf {
    dir.join(format!("{bridge}.status"))
}

/// libvirt's map of which domain holds which MACs on `bridge` (kept for
/// the networks whose dnsmasq it ran): the names of the guests that were
/// running when a network was adopted.
pub fn macs_path(dir: &Path, bridge: &str) -> PathBuf {
    dir.join(format!("{bridge}.macs"))
}

/// One entry as libvirt's lease helper writes it (src/util/virlease.c).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// DHCPv6 only: the identity association, in decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iaid: Option<String>,
    #[serde(rename = "ip-address")]
    ip: String,
    #[serde(rename = "mac-address", default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    /// Option 61 (IPv4) or the client's DUID (IPv6), as hex pairs and colons.
    #[serde(rename = "client-id", default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(rename = "server-duid", default, skip_serializing_if = "Option::is_none")]
    server_duid: Option<String>,
    /// Unix seconds; 0 for a lease that never ends (libvirt lists those).
    #[serde(rename = "expiry-time", default)]
    expiry: Option<i64>,
}

/// The leases read from a `.status` file, and the entries that could not
/// be carried, each with why.
#[derive(Debug, Default, PartialEq)]
pub struct Carried {
    pub v4: Vec<Lease>,
    pub v6: Vec<Lease6>,
    pub skipped: Vec<String>,
}

/// `01:52:54:00:10:00:01` as bytes; None if it is not hex pairs.
fn hex_pairs(s: &str) -> Option<Vec<u8>> {
    let v: Option<Vec<u8>> = s
        .split(':')
        .map(|p| (p.len() <= 2 && !p.is_empty()).then(|| u8::from_str_radix(p, 16).ok())?)
        .collect();
    v.filter(|b| !b.is_empty())
}

fn colons(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// The leases of a `.status` file's text. An empty file holds none; a file
/// that is not a JSON array is an error (nothing is carried from it). An
/// entry that cannot be read (no MAC, an address that is not one) is
/// skipped and named; an expired one is carried as it is (the servers
/// drop it).
pub fn read(text: &str) -> Result<Carried, String> {
    let mut out = Carried::default();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let entries: Vec<Entry> = serde_json::from_str(text)
        .map_err(|e| format!("not the JSON array of leases libvirt writes: {e}"))?;
    for e in entries {
        let Some(mac) = e
            .mac
            .as_deref()
            .and_then(|m| m.parse::<crate::config::MacAddr>().ok())
        else {
            out.skipped.push(format!("{}: no MAC address", e.ip));
            continue;
        };
        let expires = match e.expiry {
            None => {
                out.skipped.push(format!("{}: no expiry-time", e.ip));
                continue;
            }
            Some(t) if t <= 0 => None,
            Some(t) => at(t as u64),
        };
        let hostname = e
            .hostname
            .as_deref()
            .and_then(crate::dhcp::reply::label)
            .map(|h| h.into_boxed_str());
        match e.ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                let client = e
                    .client_id
                    .as_deref()
                    .and_then(hex_pairs)
                    .map(|b| ClientId::new(&b))
                    .unwrap_or_else(|| ClientId::from_mac(mac));
                out.v4.push(Lease {
                    ip,
                    client,
                    mac,
                    hostname,
                    expires,
                });
            }
            Ok(IpAddr::V6(ip)) => {
                let (Some(duid), Some(iaid)) = (
                    e.client_id.as_deref().and_then(hex_pairs),
                    e.iaid.as_deref().and_then(|i| i.parse::<u32>().ok()),
                ) else {
                    out.skipped.push(format!("{ip}: no client DUID or IAID"));
                    continue;
                };
                out.v6.push(Lease6 {
                    ip,
                    duid: ClientId::new(&duid),
                    iaid,
                    mac: Some(mac.to_string()),
                    hostname: hostname.map(String::from),
                    expires: expires.map(|e| e.get()),
                });
            }
            Err(_) => out.skipped.push(format!("{}: not an IP address", e.ip)),
        }
    }
    Ok(out)
}

/// The `.status` text for these leases, as libvirt's lease helper writes
/// it. A DHCPv6 lease without a MAC is left out (libvirt's helper records
/// none either: it lists leases by MAC). `server_duid` is the DHCPv6
/// server's DUID, which dnsmasq takes back on `--undo`.
pub fn write(v4: &[Lease], v6: &[Lease6], server_duid: Option<&[u8]>) -> String {
    let mut entries: Vec<Entry> = v4
        .iter()
        .map(|l| Entry {
            ip: l.ip.to_string(),
            mac: Some(l.mac.to_string()),
            hostname: l.hostname.as_deref().map(String::from),
            client_id: Some(colons(&l.client.0)),
            expiry: Some(l.expiry().map(|t| t as i64).unwrap_or(0)),
            ..Entry::default()
        })
        .collect();
    entries.extend(v6.iter().filter_map(|l| {
        Some(Entry {
            iaid: Some(l.iaid.to_string()),
            ip: l.ip.to_string(),
            mac: Some(l.mac()?.to_string()),
            hostname: l.hostname.clone(),
            client_id: Some(colons(&l.duid.0)),
            server_duid: server_duid.map(colons),
            expiry: Some(l.expires.map(|t| t as i64).unwrap_or(0)),
        })
    }));
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// libvirt's `<bridge>.macs`: which domain holds which MACs, as
/// (MAC, domain name) pairs. Unreadable text holds none.
pub fn read_macs(text: &str) -> Vec<(crate::config::MacAddr, String)> {
    #[derive(Deserialize)]
    struct Domain {
        domain: String,
        #[serde(default)]
        macs: Vec<String>,
    }
    let Ok(domains) = serde_json::from_str::<Vec<Domain>>(text) else {
        return Vec::new();
    };
    domains
        .into_iter()
        .flat_map(|d| {
            let name = d.domain;
            d.macs
                .into_iter()
                .filter_map(move |m| Some((m.parse().ok()?, name.clone())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What libvirt 9.0's dnsmasq left for a guest booted by iPXE, one
    /// named by dhclient without option 61, and a DHCPv6 lease.
    const LIBVIRT: &str = r#"[
  {
    "ip-address": "192.168.133.209",
    "mac-address": "52:54:00:10:00:01",
    "client-id": "01:52:54:00:10:00:01",
    "expiry-time": 1796668307
  },
  {
    "ip-address": "192.168.133.17",
    "mac-address": "52:54:00:10:00:02",
    "hostname": "Web_01",
    "expiry-time": 1796668400
  },
  {
    "iaid": "1193046",
    "ip-address": "fd00:133::1a2",
    "mac-address": "52:54:00:10:00:02",
    "client-id": "00:01:00:01:2a:3b:4c:5d:52:54:00:10:00:02",
    "server-duid": "00:01:00:01:2e:00:00:01:52:54:00:aa:bb:01",
    "expiry-time": 1796668401
  },
  { "ip-address": "192.168.133.30", "expiry-time": 1796668400 }
]"#;

    #[test]
    fn libvirts_leases_are_carried_with_their_clients_and_names() {
        let c = read(LIBVIRT).unwrap();
        assert_eq!(c.v4.len(), 2, "{c:?}");
        let ipxe = &c.v4[0];
        assert_eq!(ipxe.ip.to_string(), "192.168.133.209");
        // Option 61 as the guest sends it: the same client asking again.
        assert_eq!(ipxe.client.to_hex(), "01:52:54:00:10:00:01");
        assert_eq!(ipxe.expiry(), Some(1796668307));
        // No option 61: the hardware type and address, as netagent names
        // such a client; the name reduced to a DNS label.
        let named = &c.v4[1];
        assert_eq!(named.client, ClientId::from_mac(named.mac));
        assert_eq!(named.hostname.as_deref(), Some("web01"));
        assert_eq!(c.v6.len(), 1);
        assert_eq!(c.v6[0].iaid, 1193046);
        assert_eq!(c.v6[0].mac(), Some(named.mac));
        assert_eq!(c.skipped, ["192.168.133.30: no MAC address"]);
    }

    #[test]
    fn an_empty_file_holds_no_leases_and_garbage_is_refused() {
        assert_eq!(read("").unwrap(), Carried::default());
        assert!(read("{\"ip-address\": 1}").is_err());
    }

    #[test]
    fn written_leases_read_back_as_they_were() {
        let c = read(LIBVIRT).unwrap();
        let duid = [0u8, 3, 0, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 1];
        let text = write(&c.v4, &c.v6, Some(&duid));
        let back = read(&text).unwrap();
        assert_eq!(back.v4, c.v4);
        assert_eq!(back.v6, c.v6);
        assert!(back.skipped.is_empty());
        // libvirt's own field names and forms.
        assert!(text.contains("\"client-id\": \"01:52:54:00:10:00:01\""), "{text}");
        assert!(
            text.contains("\"server-duid\": \"00:03:00:01:52:54:00:aa:bb:01\""),
            "{text}"
        );
        assert!(text.contains("\"iaid\": \"1193046\""), "{text}");
        // A lease that never ends is 0, which libvirt lists and dnsmasq
        // reads as infinite.
        let mut forever = c.v4[0].clone();
        forever.expires = None;
        let text = write(&[forever], &[], None);
        assert!(text.contains("\"expiry-time\": 0"), "{text}");
        assert_eq!(read(&text).unwrap().v4[0].expires, None);
    }

    #[test]
    fn the_mac_map_names_each_domains_macs() {
        let text =
            r#"[{"domain": "vm1", "macs": ["52:54:00:10:00:01", "bad"]}, {"domain": "db", "macs": []}]"#;
        let m = read_macs(text);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0.to_string(), "52:54:00:10:00:01");
        assert_eq!(m[0].1, "vm1");
        assert!(read_macs("not json").is_empty());
    }
}
