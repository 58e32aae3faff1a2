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

/// FRR's zebra and bgpd in a host's namespace, under a path space of
/// their own (`-N`, the namespace's name), with an empty config: netagent
/// configures them. Stopped, and their directories removed, on drop.
pub struct Frr {
    pub pathspace: String,
    daemons: Vec<std::process::Child>,
}

impl Frr {
    pub fn start(ns: &Netns) -> Frr {
        let ps = ns.name.clone();
        for d in [format!("/var/run/frr/{ps}"), format!("/etc/frr/{ps}")] {
            std::fs::create_dir_all(&d).expect("FRR directory");
            ok(Command::new("chown").args(["frr:frr", &d]));
        }
        let conf = format!("/etc/frr/{ps}/frr.conf");
        std::fs::write(&conf, "").expect("FRR config");
        // In the foreground, as the test's children: killed and reaped on drop.
        let mut daemons = Vec::new();
        for daemon in ["zebra", "bgpd"] {
            let child = ns
                .cmd(&format!("/usr/lib/frr/{daemon}"))
                .args(["-N", &ps, "-u", "frr", "-g", "frr", "-f", &conf])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start FRR");
            daemons.push(child);
            let vty = format!("/var/run/frr/{ps}/{daemon}.vty");
            let ready = super::topo::wait_for(std::time::Duration::from_secs(10), || {
                std::path::Path::new(&vty).exists()
            });
            assert!(ready.is_some(), "FRR's {daemon} did not start");
        }
        Frr {
            pathspace: ps,
            daemons,
        }
    }

    /// `vtysh -N PS -c CMD`: its output.
    pub fn vtysh(&self, cmd: &str) -> String {
        let o = Command::new("vtysh")
            .args(["-N", &self.pathspace, "-c", cmd])
            .output()
            .expect("vtysh");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        // `ip netns exec` execs the daemon: the child is the daemon itself.
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = std::fs::remove_dir_all(format!("/var/run/frr/{}", self.pathspace));
        let _ = std::fs::remove_dir_all(format!("/etc/frr/{}", self.pathspace));
    }
}

/// The `[evpn]` section for a host: AS 65000, the other hosts as
/// neighbours, FRR's path space.
pub fn evpn(neighbors: &[&str], pathspace: &str) -> String {
    let q: Vec<String> = neighbors.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[evpn]\nasn = 65000\nneighbors = [{}]\npathspace = \"{pathspace}\"\n",
        q.join(", ")
    )
}
