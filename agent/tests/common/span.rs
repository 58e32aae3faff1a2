//! Several netagent hosts on one underlay segment, for spanned networks:
//! the underlay is a namespace with a bridge (`ul`, 10.98.0.254/24, also
//! "the outside" the home's NAT leads to); each host is a `Topo` whose
//! uplink `up0` is a port of it.

#![allow(dead_code)]

use std::process::Command;

use super::topo::Topo;
use super::{ok, Netns};

pub const UNDERLAY_GW: &str = "10.98.0.254";

pub struct Underlay {
    pub ns: Netns,
    hosts: u8,
}

impl Underlay {
    pub fn new() -> Underlay {
        let ns = Netns::new("nu");
        ns.ip(&["link", "add", "ul", "type", "bridge"]);
        ns.ip(&["addr", "add", &format!("{UNDERLAY_GW}/24"), "dev", "ul"]);
        ns.ip(&["link", "set", "ul", "up"]);
        Underlay { ns, hosts: 0 }
    }

    /// A host at 10.98.0.N on the underlay (N counts from 1).
    pub fn host(&mut self) -> (Topo, String) {
        self.hosts += 1;
        let t = Topo::bare();
        let port = format!("h{}", self.hosts);
        ok(Command::new("ip").args([
            "link",
            "add",
            "up0",
            "netns",
            &t.app.name,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.ns.name,
        ]));
        self.ns.ip(&["link", "set", &port, "master", "ul", "up"]);
        (t, format!("10.98.0.{}", self.hosts))
    }
}

/// A host's config: the uplink on the underlay, the spanned network
/// `span` (VNI 150, home 10.98.0.1, bridge `brs`, guests on `gs*`) with
/// `flood` as its span's way to the other hosts (`peers = [...]` or
/// `evpn = true`), and `extra` after it.
pub fn config(me: &str, flood: &str, extra: &str) -> String {
    format!(
        r#"[uplink]
interface = "up0"
address = "{me}/24"
gateway = "{UNDERLAY_GW}"

[[network]]
name = "span"
bridge = "brs"
address = "192.168.150.1/24"
ports = ["gs*"]

[network.dhcp]
ranges = ["192.168.150.10-192.168.150.99"]

[network.dns]
domain = "span"

[network.span]
vni = 150
home = "10.98.0.1"
{flood}

{extra}"#
    )
}

/// `peers = ["a", "b"]`
pub fn peers(list: &[&str]) -> String {
    let q: Vec<String> = list.iter().map(|p| format!("\"{p}\"")).collect();
    format!("peers = [{}]", q.join(", "))
}
