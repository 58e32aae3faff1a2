//! `netagent doctor NETWORK`: which rule ate my packet. A probe packet of
//! the network (a TCP SYN from a guest's address to a target outside) is
//! sent into its bridge through a veth port made for the purpose, marked
//! for tracing by a table of its own (`inet netagent_probe`, at the
//! earliest prerouting priority), and `nft monitor trace` shows every
//! table's chain it passes and what each said. The port and the table are
//! removed afterwards, whatever happened.

pub mod frame;
pub mod trace;

use std::io::BufRead;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use crate::config::{Config, MacAddr};
use crate::links::Netlink;

/// The table that marks the probe for tracing; netagent's, like `netagent`.
const TABLE: &str = "netagent_probe";

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub network: String,
    pub bridge: String,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub port: u16,
}

/// The probe for `network`: from `from`, or the subnet's last host address
/// that is neither the bridge's nor a static host's, outside the DHCP
/// ranges when the subnet has room (a guest's address for a moment: a reply
/// must find no one, and a leased address would have its guest see it).
pub fn probe_for(
    cfg: &Config,
    network: &str,
    to: Ipv4Addr,
    port: u16,
    from: Option<Ipv4Addr>,
) -> Result<Probe, String> {
    let n = cfg.networks.iter().find(|n| n.name == network).ok_or_else(|| {
        let names: Vec<&str> = cfg.networks.iter().map(|n| n.name.as_str()).collect();
        format!(
            "no network \"{network}\" in the config (there are: {})",
            names.join(", ")
        )
    })?;
    let addr: Ipv4Net = n.address.ok_or_else(|| {
        format!("network \"{network}\" has no address: its guests are on the LAN, not behind netagent")
    })?;
    let taken: Vec<Ipv4Addr> = n
        .dhcp
        .iter()
        .flat_map(|d| d.hosts.iter().map(|h| h.ip))
        .chain([addr.addr()])
        .collect();
    let ranges: Vec<crate::config::Ipv4Range> = n.dhcp.iter().flat_map(|d| d.ranges.clone()).collect();
    let leasable = |a: &Ipv4Addr| ranges.iter().any(|r| r.contains(*a));
    let from = match from {
        Some(f) if addr.contains(&f) => f,
        Some(f) => {
            return Err(format!(
                "{f} is not in network \"{network}\"'s subnet {}",
                addr.trunc()
            ))
        }
        None => addr
            .hosts()
            .rev()
            .find(|a| !taken.contains(a) && !leasable(a))
            .or_else(|| addr.hosts().rev().find(|a| !taken.contains(a)))
            .ok_or_else(|| format!("network \"{network}\"'s subnet has no free address to send from"))?,
    };
    Ok(Probe {
        network: network.to_string(),
        bridge: n.bridge.clone(),
        from,
        to,
        port,
    })
}

/// What the probe met.
#[derive(Debug)]
pub struct Report {
    pub probe: Probe,
    pub steps: Vec<trace::Step>,
    pub verdicts: Vec<trace::Verdict>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.probe;
        writeln!(
            f,
            "probe: network {} ({}), TCP SYN {} -> {}:{}",
            p.network, p.bridge, p.from, p.to, p.port
        )?;
        if self.steps.is_empty() {
            return writeln!(
                f,
                "no trace: the packet met no table (is the bridge up, and does a route to {} exist?)",
                p.to
            );
        }
        writeln!(f, "\npath (nft monitor trace):")?;
        for s in self.steps.iter().filter(|s| s.table != format!("inet {TABLE}")) {
            writeln!(f, "  {} {}: {}", s.table, s.chain, s.what)?;
        }
        writeln!(f, "\nverdicts:")?;
        let mut dropped = None;
        for v in self
            .verdicts
            .iter()
            .filter(|v| v.table != format!("inet {TABLE}"))
        {
            writeln!(f, "  {} (chain {}): {} by {}", v.table, v.chain, v.verdict, v.by)?;
            if v.verdict == "drop" && dropped.is_none() {
                dropped = Some(v);
            }
        }
        match dropped {
            Some(v) => writeln!(f, "\nDROPPED by table {}, chain {} ({})", v.table, v.chain, v.by),
            None => writeln!(f, "\npassed every table"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0}")]
    Link(#[from] crate::links::LinkError),
    #[error("bridge {0} does not exist: is netagent running with this config?")]
    NoBridge(String),
    #[error("probe port {port}: {what}: {err}")]
    Io {
        port: String,
        what: &'static str,
        err: std::io::Error,
    },
    #[error("nftables: {0}")]
    Nft(String),
}

/// The probe port's name: short enough for the kernel (15 bytes), its
/// own per process.
fn port_name() -> String {
    format!("nadoc{}", std::process::id() % 100_000)
}

pub async fn run(p: &Probe) -> Result<Report, DoctorError> {
    let nl = Netlink::connect()?;
    let port = port_name();
    let peer = format!("{port}p");
    nl.create_veth(&port, &peer).await?;
    let result = traced(&nl, p, &port, &peer).await;
    // Whatever happened: the port and the table go.
    let _ = unmark();
    if let Ok(links) = nl.links().await {
        if let Some(l) = links.iter().find(|l| l.name == port) {
            let _ = nl.delete(l).await;
        }
    }
    result
}

async fn traced(nl: &Netlink, p: &Probe, port: &str, peer: &str) -> Result<Report, DoctorError> {
    let links = nl.links().await?;
    let find = |name: &str| links.iter().find(|l| l.name == name).cloned();
    let bridge = find(&p.bridge).ok_or_else(|| DoctorError::NoBridge(p.bridge.clone()))?;
    let (Some(a), Some(b)) = (find(port), find(peer)) else {
        return Err(DoctorError::Io {
            port: port.into(),
            what: "find it after creating it",
            err: std::io::ErrorKind::NotFound.into(),
        });
    };
    nl.enslave(&a, &bridge).await?;
    nl.set_up(&a).await?;
    nl.set_up(&b).await?;
    wait_forwarding(port).await;
    mark(p)?;
    let mut monitor = std::process::Command::new("nft")
        .args(["monitor", "trace"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| DoctorError::Nft(format!("nft monitor trace: {e}")))?;
    let out = monitor.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        if let Some(o) = out {
            for l in std::io::BufReader::new(o).lines() {
                match l {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
        }
        lines
    });
    // nft subscribes to the trace group as it starts; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let src_mac = b.mac.unwrap_or(MacAddr([2, 0, 0, 0, 0, 1]));
    let dst_mac = bridge.mac.unwrap_or(MacAddr([0xff; 6]));
    let f = frame::syn(
        src_mac,
        dst_mac,
        p.from,
        p.to,
        40000 + (std::process::id() % 20000) as u16,
        p.port,
    );
    let sent = send(b.index, &f);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = monitor.kill();
    let _ = monitor.wait();
    let lines = reader.join().unwrap_or_default();
    sent.map_err(|err| DoctorError::Io {
        port: peer.into(),
        what: "send the probe",
        err,
    })?;
    let steps = trace::of_probe(&lines, &p.from.to_string());
    let verdicts = trace::verdicts(&steps);
    Ok(Report {
        probe: p.clone(),
        steps,
        verdicts,
    })
}

/// A new bridge port forwards at once with STP off, after listening and
/// learning (4 s at least) with it on.
async fn wait_forwarding(port: &str) {
    let state = format!("/sys/class/net/{port}/brport/state");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        if std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == "3") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn nft(payload: &serde_json::Value) -> Result<(), DoctorError> {
    nftables::helper::apply_ruleset_raw(
        &payload.to_string(),
        nftables::helper::DEFAULT_NFT,
        nftables::helper::DEFAULT_ARGS,
    )
    .map(|_| ())
    .map_err(|e| DoctorError::Nft(e.to_string()))
}

/// `table inet netagent_probe { chain probe { type filter hook prerouting
/// priority -350; ip saddr FROM ip daddr TO meta nftrace set 1 } }`
fn mark(p: &Probe) -> Result<(), DoctorError> {
    let t = serde_json::json!({"family": "inet", "name": TABLE});
    let m = |field: &str, v: String| serde_json::json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": field}}, "right": v}});
    nft(&serde_json::json!({"nftables": [
        {"add": {"table": t}},
        {"delete": {"table": t}},
        {"add": {"table": t}},
        {"add": {"chain": {"family": "inet", "table": TABLE, "name": "probe", "type": "filter", "hook": "prerouting", "prio": -350, "policy": "accept"}}},
        {"add": {"rule": {"family": "inet", "table": TABLE, "chain": "probe", "expr": [
            m("saddr", p.from.to_string()),
            m("daddr", p.to.to_string()),
            {"mangle": {"key": {"meta": {"key": "nftrace"}}, "value": 1}}
        ]}}}
    ]}))
}

fn unmark() -> Result<(), DoctorError> {
    let t = serde_json::json!({"family": "inet", "name": TABLE});
    nft(&serde_json::json!({"nftables": [{"add": {"table": t}}, {"delete": {"table": t}}]}))
}

/// The frame out of `ifindex` as it is (an AF_PACKET socket: the veth's
/// peer, the bridge port, receives it as a guest's).
fn send(ifindex: u32, frame: &[u8]) -> std::io::Result<()> {
    use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let fd = socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, None)?;
    let mac: [u8; 6] = frame
        .get(..6)
        .and_then(|m| m.try_into().ok())
        .ok_or_else(|| std::io::Error::other("a frame shorter than its header"))?;
    // One probe: a frame on a local veth is not lost, and one path is
    // what the trace is read for.
    let to = crate::util::sys::link_addr(ifindex, libc::ETH_P_IP as u16, mac)?;
    sendto(fd.as_raw_fd(), frame, &to, MsgFlags::empty())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_comes_from_a_free_address_of_the_network() {
        let cfg = crate::config::parse(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.5.0.1/24\"\n[network.dhcp]\n[[network.dhcp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.5.0.254\"\n",
            "t.toml",
        )
        .unwrap_or_else(|p| panic!("{p}"));
        let to: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let p = probe_for(&cfg, "n", to, 443, None).expect("probe");
        // The whole subnet is the default range: the last free address.
        assert_eq!(
            (p.from, p.bridge.as_str()),
            ("10.5.0.253".parse().unwrap(), "virbr0")
        );
        let narrow = crate::config::parse(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"n\"\nbridge = \"virbr0\"\naddress = \"10.5.0.1/24\"\n[network.dhcp]\nranges = [\"10.5.0.100-10.5.0.254\"]\n",
            "t.toml",
        )
        .unwrap_or_else(|p| panic!("{p}"));
        let p = probe_for(&narrow, "n", to, 443, None).expect("probe");
        assert_eq!(
            p.from,
            "10.5.0.99".parse::<Ipv4Addr>().unwrap(),
            "outside the range"
        );
        assert!(probe_for(&cfg, "x", to, 443, None)
            .unwrap_err()
            .contains("there are: n"));
        assert!(probe_for(&cfg, "n", to, 443, Some("10.6.0.1".parse().unwrap()))
            .unwrap_err()
            .contains("not in network \"n\"'s subnet"));
    }
}
