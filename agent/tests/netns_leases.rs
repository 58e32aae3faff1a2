//! Root, network namespaces: the lease journal keeps every acknowledged
//! lease. A kill -9 in the middle of a stream of leases loses none that
//! was ACKed; a full disk withholds the ACK (the client retries), says so
//! in `status`, and serves again once there is room.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::dhcp::{mac, Outcome, RawClient};
use common::topo::*;

const T: Duration = Duration::from_secs(5);

/// One network with a pool of 60,000 addresses; the guest's own address
/// (for its raw client) is outside the pool. The guest speaks for
/// thousands of clients, as a relay or a load generator does: its port is
/// trusted (port security would give one port four leases).
fn config() -> String {
    with_uplink(
        "[[network]]\nname = \"big\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/16\"\nstp = false\nports = [\"vg*\"]\n\
         [network.dhcp]\nranges = [\"10.77.1.1-10.77.240.254\"]\n\
         [network.port_security]\ntrusted = [\"vg*\"]\n",
    )
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn netns_kill_9_in_a_stream_of_leases_loses_no_acked_lease() {
    need_root!("netns_kill_9_in_a_stream_of_leases_loses_no_acked_lease");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.200/16", "");
    let cfg = t.write_config("n.toml", &config());
    let agent = t.start(&cfg);
    let stop = Arc::new(AtomicBool::new(false));
    let ns = t.g(g).ns.name.clone();
    let flag = stop.clone();
    let clients = std::thread::spawn(move || {
        in_ns(&ns, move || {
            let c = RawClient::bind();
            let mut acked = Vec::new();
            let mut n = 0u32;
            while !flag.load(Ordering::SeqCst) && n < 100_000 {
                n += 1;
                if let Outcome::Acked(ip) = c.lease(n, &mac(n)) {
                    acked.push((mac(n), ip));
                }
            }
            acked
        })
    });
    // Under way: leases are being written when the agent is killed.
    let busy = wait_for(Duration::from_secs(10), || {
        std::fs::metadata(t.dir.join("leases/big.jsonl")).is_ok_and(|m| m.len() > 20_000)
    });
    assert!(busy.is_some(), "no stream of leases:\n{}", agent.log());
    let _ = agent.stop(libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::SeqCst);
    let acked = clients.join().expect("client thread");
    assert!(acked.len() >= 100, "only {} leases before the kill", acked.len());

    let _again = t.start(&cfg);
    let listed = text(&t.netagent(&["leases", "big"]));
    let missing: Vec<String> = acked
        .iter()
        .filter(|(m, ip)| {
            let m = m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            !listed
                .lines()
                .any(|l| l.contains(&format!(" {ip}/16 ")) && l.contains(&m))
        })
        .map(|(_, ip)| ip.to_string())
        .collect();
    eprintln!(
        "{} leases acknowledged before kill -9; {} missing after",
        acked.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged leases lost: {missing:?}");
}

#[test]
fn netns_a_full_disk_withholds_the_ack_and_says_so() {
    need_root!("netns_a_full_disk_withholds_the_ack_and_says_so");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.200/16", "");
    let cfg = t.write_config("n.toml", &config());
    let agent = t.start_on_small_disk(&cfg, 64);
    let leases = t.dir.join("leases");
    let pid = agent.pid().to_string();
    let in_agent_mounts = |args: &[&str]| {
        std::process::Command::new("nsenter")
            .args(["-t", &pid, "-m", "--"])
            .args(args)
            .output()
            .expect("nsenter")
    };
    let fill = leases.join("fill");
    let fill = fill.to_str().unwrap_or_default();
    in_agent_mounts(&["dd", "if=/dev/zero", &format!("of={fill}"), "bs=1k"]);

    // Each lease line takes room; the journal's last page fills soon.
    let ns = t.g(g).ns.name.clone();
    let stuck = in_ns(&ns, || {
        let c = RawClient::bind();
        (1..=500u32).find_map(|n| match c.lease(n, &mac(n)) {
            Outcome::OfferedOnly(ip) => Some((n, ip)),
            _ => None,
        })
    });
    let (n, ip) = stuck.expect("every lease was acknowledged on a full disk");
    let status = || text(&t.netagent(&["status"]));
    assert!(
        status().contains("dhcp big: lease file") && status().contains("No space left on device"),
        "{}",
        status()
    );
    let info = text(&t.netagent(&["info", "big"]));
    assert!(info.contains("not serving"), "{info}");

    // Room again: the client's retry is acknowledged, the error goes.
    in_agent_mounts(&["rm", "-f", fill]);
    let again = in_ns(&ns, move || {
        let c = RawClient::bind();
        let offer = c.offer(n, &mac(n)).expect("an offer after the disk has room");
        c.request(n, &mac(n), offer.yiaddr(), &offer)
    });
    assert_eq!(again, Outcome::Acked(ip));
    assert!(
        wait_for(T, || status().contains("Errors:         none")).is_some(),
        "{}",
        status()
    );
}
