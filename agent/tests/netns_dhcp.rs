//! Root, network namespaces: netagent's DHCP server against real clients —
//! busybox udhcpc, ISC dhclient and dhcpcd — on a netagent bridge.

mod common;

use std::time::Duration;

use common::clients::{events, isc_script, sh, wait_event, Udhcpc};
use common::topo::*;

const T: Duration = Duration::from_secs(15);

fn config(kind: &str, extra: &str) -> String {
    let uplink = if kind == "isolated" {
        ""
    } else {
        "[uplink]\ninterface = \"up0\"\naddress = \"10.99.0.2/24\"\n"
    };
    format!(
        "{uplink}[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"virbr0\"\naddress = \"10.77.0.1/24\"\nstp = false\nports = [\"vg*\"]\n\
         [network.dhcp]\nranges = [\"10.77.0.100-10.77.0.150\"]\nlease_time = \"2m\"\n{extra}"
    )
}

fn in_pool(ip: &str) -> bool {
    ip.strip_prefix("10.77.0.")
        .and_then(|h| h.parse::<u8>().ok())
        .is_some_and(|h| (100..=150).contains(&h))
}

#[test]
fn netns_udhcpc_obtains_renews_and_releases() {
    need_root!("netns_udhcpc_obtains_renews_and_releases");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let agent = t.start(&cfg);
    let c = Udhcpc::start(&t.g(g).ns, &t.dir, "web");
    let bound = wait_event(&c.events, 0, &["bound"], T).expect("udhcpc got no lease");
    assert!(in_pool(&bound.ip), "{bound:?}");
    assert_eq!(
        (bound.router.as_str(), bound.dns.as_str()),
        ("10.77.0.1", "10.77.0.1"),
        "NAT: router and DNS are the bridge"
    );
    assert!(ping(&t.g(g).ns, "10.77.0.1"), "the leased address works");
    let listed = t.netagent(&["leases", "-c", cfg.to_str().unwrap_or_default()]);
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table.contains(&format!("{}/24", bound.ip)) && table.contains("web"),
        "{table}"
    );

    // Renew (RENEWING: unicast REQUEST with ciaddr).
    let n = events(&c.events).len();
    c.signal(libc::SIGUSR1);
    let renewed = wait_event(&c.events, n, &["renew", "bound"], T).expect("no renewal");
    assert_eq!(renewed.ip, bound.ip);

    // Restart the agent: the client renews and keeps its address.
    let _ = agent.stop(libc::SIGTERM);
    let _agent = t.start(&cfg);
    let n = events(&c.events).len();
    c.signal(libc::SIGUSR1);
    let again = wait_event(&c.events, n, &["renew", "bound"], T).expect("no renewal after restart");
    assert_eq!(again.ip, bound.ip, "the address changed across an agent restart");

    // Release: the lease is gone from the server.
    c.signal(libc::SIGUSR2);
    let gone = wait_for(T, || {
        let o = t.netagent(&["leases", "--json", "-c", cfg.to_str().unwrap_or_default()]);
        !String::from_utf8_lossy(&o.stdout).contains(&bound.ip)
    });
    assert!(gone.is_some(), "the release was not honoured");
}

/// Options set by hand reach a real client: busybox udhcpc asks for NTP
/// servers and the search list (-O) and gets them typed; the forced WPAD
/// URL comes unasked.
#[test]
fn netns_udhcpc_gets_the_options_set_by_hand() {
    need_root!("netns_udhcpc_gets_the_options_set_by_hand");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let extra = "[[network.dhcp.option]]\nname = \"ntp-servers\"\nvalue = \"10.77.0.1, 10.77.0.2\"\n\
                 [[network.dhcp.option]]\nname = \"domain-search\"\nvalue = \"lab, example.org\"\n\
                 [[network.dhcp.option]]\ncode = 252\nvalue = \"http://wpad.lab/wpad.dat\"\nforce = true\n";
    let cfg = t.write_config("n.toml", &config("nat", extra));
    let _agent = t.start(&cfg);
    let c = Udhcpc::start_with(&t.g(g).ns, &t.dir, &["-O", "ntpsrv", "-O", "search"]);
    wait_event(&c.events, 0, &["bound"], T).expect("udhcpc got no lease");
    let line = std::fs::read_to_string(&c.events).unwrap_or_default();
    assert!(line.contains("ntpsrv=10.77.0.1,10.77.0.2"), "{line}");
    assert!(line.contains("search=lab,example.org"), "{line}");
    assert!(line.contains("wpad=http://wpad.lab/wpad.dat"), "{line}");
}

#[test]
fn netns_isolated_network_hands_out_no_router() {
    need_root!("netns_isolated_network_hands_out_no_router");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("isolated", ""));
    let _agent = t.start(&cfg);
    let c = Udhcpc::start(&t.g(g).ns, &t.dir, "iso");
    let bound = wait_event(&c.events, 0, &["bound"], T).expect("no lease");
    assert!(in_pool(&bound.ip));
    assert_eq!(bound.router, "", "an isolated network must not hand out a router");
    assert_eq!(bound.dns, "10.77.0.1");
}

#[test]
fn netns_dhclient_obtains_reboots_and_releases() {
    need_root!("netns_dhclient_obtains_reboots_and_releases");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let _agent = t.start(&cfg);
    let ns = &t.g(g).ns;
    let (s, ev) = isc_script(&t.dir, ns);
    let conf = t.write_config("dhclient.conf", "send host-name \"db\";\n");
    let args = format!(
        "-cf {} -sf {} -lf {} -pf {}",
        conf.display(),
        s.display(),
        t.dir.join("dhclient.lease").display(),
        t.dir.join("dhclient.pid").display()
    );
    // Obtain; stop without releasing; start again (INIT-REBOOT renews the
    // same address); then release.
    let out = sh(ns, &format!("dhclient -1 -v {args} eth0 && dhclient -x {args} eth0 && dhclient -1 -v {args} eth0 && dhclient -r -v {args} eth0"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let e = events(&ev);
    let bound: Vec<_> = e
        .iter()
        .filter(|e| e.reason == "BOUND" || e.reason == "REBOOT")
        .collect();
    assert!(bound.len() >= 2, "{e:?}\n{log}");
    assert!(
        in_pool(&bound[0].ip) && bound[0].router == "10.77.0.1" && bound[0].dns == "10.77.0.1",
        "{e:?}"
    );
    assert_eq!(
        bound[1].ip, bound[0].ip,
        "the second start did not keep the address"
    );
    assert!(e.iter().any(|e| e.reason == "RELEASE"), "{e:?}");
    assert!(log.contains("DHCPRELEASE"), "{log}");
    std::thread::sleep(Duration::from_millis(300));
    let o = t.netagent(&["leases", "--json", "-c", cfg.to_str().unwrap_or_default()]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(&bound[0].ip),
        "released lease still listed:\n{}\n{}\n{log}",
        String::from_utf8_lossy(&o.stdout),
        _agent.log()
    );
}

#[test]
fn netns_dhcpcd_obtains_renews_and_releases() {
    need_root!("netns_dhcpcd_obtains_renews_and_releases");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let _agent = t.start(&cfg);
    let ns = &t.g(g).ns;
    let (s, ev) = isc_script(&t.dir, ns);
    let out = sh(
        ns,
        &format!(
            "dhcpcd -4 -c {s} -h cache -t 15 -w eth0 || exit 1\n\
             dhcpcd -4 -n eth0; sleep 3\n\
             dhcpcd -4 -k eth0; sleep 1",
            s = s.display()
        ),
    );
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    let e = events(&ev);
    let bound: Vec<_> = e
        .iter()
        .filter(|e| matches!(e.reason.as_str(), "BOUND" | "RENEW" | "REBIND" | "REBOOT"))
        .collect();
    assert!(bound.len() >= 2, "no renewal: {e:?}\n{log}");
    assert!(
        in_pool(&bound[0].ip) && bound[0].router == "10.77.0.1" && bound[0].dns == "10.77.0.1",
        "{e:?}"
    );
    assert!(bound.iter().all(|b| b.ip == bound[0].ip), "{e:?}");
    let o = t.netagent(&["leases", "--json", "-c", cfg.to_str().unwrap_or_default()]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(&bound[0].ip),
        "dhcpcd release not honoured:\n{}\n{log}",
        _agent.log()
    );
}

#[test]
fn netns_static_hosts_and_distinct_addresses() {
    need_root!("netns_static_hosts_and_distinct_addresses");
    let mut t = Topo::new();
    let s = t.guest("vg1", "0.0.0.0/32", "");
    t.g(s)
        .ns
        .ip(&["link", "set", "eth0", "address", "52:54:00:00:00:10"]);
    let others: Vec<usize> = (2..=4)
        .map(|i| t.guest(&format!("vg{i}"), "0.0.0.0/32", ""))
        .collect();
    let cfg = t.write_config(
        "n.toml",
        &config(
            "nat",
            "[[network.dhcp.host]]\nmac = \"52:54:00:00:00:10\"\nip = \"10.77.0.10\"\nname = \"fixed\"\n",
        ),
    );
    let _agent = t.start(&cfg);
    let fixed = Udhcpc::start(&t.g(s).ns, &t.dir, "whatever");
    let clients: Vec<Udhcpc> = others
        .iter()
        .map(|&i| Udhcpc::start(&t.g(i).ns, &t.dir, &format!("g{i}")))
        .collect();
    let got = wait_event(&fixed.events, 0, &["bound"], T).expect("static host got no lease");
    assert_eq!(got.ip, "10.77.0.10", "the static host must get its fixed address");
    let mut ips: Vec<String> = clients
        .iter()
        .map(|c| wait_event(&c.events, 0, &["bound"], T).expect("lease").ip)
        .collect();
    assert!(ips.iter().all(|ip| in_pool(ip)), "{ips:?}");
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "two clients share an address");
}

#[test]
fn netns_a_client_from_another_subnet_is_naked_and_recovers() {
    need_root!("netns_a_client_from_another_subnet_is_naked_and_recovers");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let _agent = t.start(&cfg);
    let ns = &t.g(g).ns;
    let (s, ev) = isc_script(&t.dir, ns);
    // The client remembers a lease from the network it was on before.
    let lease = t.write_config(
        "old.lease",
        "lease {\n  interface \"eth0\";\n  fixed-address 192.168.200.5;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 192.168.200.1;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  expire 4 2037/01/01 00:00:00;\n}\n",
    );
    let out = sh(
        ns,
        &format!(
            "dhclient -1 -v -sf {} -lf {} -pf {} eth0; dhclient -x -pf {} eth0",
            s.display(),
            lease.display(),
            t.dir.join("p.pid").display(),
            t.dir.join("p.pid").display()
        ),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("DHCPREQUEST for 192.168.200.5"), "{log}");
    assert!(
        log.contains("DHCPNAK from 10.77.0.1"),
        "the wrong address was not NAKed:\n{log}"
    );
    let e = events(&ev);
    let last = e
        .iter()
        .rev()
        .find(|e| e.reason == "BOUND")
        .expect("no lease after the NAK");
    assert!(in_pool(&last.ip), "{e:?}");
}

#[test]
fn netns_hostile_packets_are_dropped_and_service_goes_on() {
    need_root!("netns_hostile_packets_are_dropped_and_service_goes_on");
    let mut t = Topo::new();
    let bad = t.guest("vg1", "10.77.0.200/24", "");
    let good = t.guest("vg2", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let agent = t.start(&cfg);
    let mut header = vec![0u8; 240];
    header[0] = 1; // BOOTREQUEST
    header[1] = 1;
    header[2] = 6;
    header[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let mut huge = header.clone();
    huge.extend_from_slice(&[53, 255, 1]); // option length past the end
    let mut reply_op = header.clone();
    reply_op[0] = 2; // a BOOTREPLY sent to the server
    reply_op.extend_from_slice(&[53, 1, 1, 255]);
    let mut no_type = header.clone();
    no_type.extend_from_slice(&[12, 3, b'a', b'b', b'c', 255]);
    let junk: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
    // Longer than the server takes (two fragments on the wire): it arrives
    // cut short, its options running past the cut.
    let mut oversize = header.clone();
    oversize.extend_from_slice(&[53, 1, 1]);
    for _ in 0..12 {
        oversize.extend_from_slice(&[43, 255]);
        oversize.extend_from_slice(&[b'v'; 255]);
    }
    oversize.push(255);
    let packets = vec![
        vec![1u8, 2, 3],
        header[..100].to_vec(),
        huge,
        reply_op,
        no_type,
        junk,
        oversize,
    ];
    let sent = in_ns(&t.g(bad).ns.name, move || {
        let s = std::net::UdpSocket::bind("10.77.0.200:68").expect("bind");
        s.set_broadcast(true).expect("broadcast");
        let mut n = 0;
        for _ in 0..50 {
            for p in &packets {
                for to in ["10.77.0.1:67", "255.255.255.255:67"] {
                    if s.send_to(p, to).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        n
    });
    assert!(sent >= 600);
    // The server still serves a real client.
    let c = Udhcpc::start(&t.g(good).ns, &t.dir, "after");
    let bound = wait_event(&c.events, 0, &["bound"], T).expect("no lease after the junk");
    assert!(in_pool(&bound.ip));
    let log = agent.log();
    let lines = log.lines().filter(|l| l.contains("dropped")).count();
    assert!(lines >= 1, "drops are not logged:\n{log}");
    assert!(
        lines <= 5,
        "drop logging is not rate-limited ({lines} lines for {sent} packets)"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// A guest that sends DISCOVERs under many MACs (broadcast bit clear) is
/// offered an address per MAC, each framed to that MAC; none of it may
/// land in the kernel's neighbour table, which every namespace of the
/// host shares and a flood would fill (with SIOCSARP it held an entry per
/// offer).
#[test]
fn netns_offers_to_many_macs_leave_the_neighbour_table_alone() {
    need_root!("netns_offers_to_many_macs_leave_the_neighbour_table_alone");
    let mut t = Topo::new();
    let g = t.guest("vg1", "10.77.0.200/24", "");
    // Thirty clients behind one port: trusted, or port security would give
    // it four leases (and fewer offers, once the server knows the port).
    let cfg = t.write_config(
        "n.toml",
        &config("nat", "[network.port_security]\ntrusted = [\"vg*\"]\n"),
    );
    let agent = t.start(&cfg);
    const MACS: u8 = 30;
    let offers = in_ns(&t.g(g).ns.name, || {
        // The offers go to MACs nobody has: the bridge floods them to every
        // port, and a packet socket on the guest's side sees them pass.
        // SAFETY: plain socket calls on a descriptor this closure owns.
        let cap = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM,
                i32::from((libc::ETH_P_IP as u16).to_be()),
            )
        };
        assert!(cap >= 0, "packet socket: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: as above; the timeval lives for the call.
        unsafe {
            libc::setsockopt(
                cap,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        let s = std::net::UdpSocket::bind("10.77.0.200:68").expect("bind");
        s.set_broadcast(true).expect("broadcast");
        for i in 0..MACS {
            let mut d = vec![0u8; 240];
            d[..3].copy_from_slice(&[1, 1, 6]);
            d[4..8].copy_from_slice(&[0x51, 0xa5, 0, i]);
            d[28..34].copy_from_slice(&[2, 0, 0, 0x5e, 0, i]);
            d[236..240].copy_from_slice(&[99, 130, 83, 99]);
            d.extend_from_slice(&[53, 1, 1, 255]);
            s.send_to(&d, "255.255.255.255:67").expect("send");
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: the buffer lives for the call, with its length.
            let n = unsafe { libc::recv(cap, buf.as_mut_ptr().cast(), buf.len(), 0) };
            let Ok(n) = usize::try_from(n) else { break };
            // IPv4 without options, UDP 67 -> 68, a BOOTREPLY for our xids,
            // sent to the address offered (yiaddr), not broadcast.
            let p = &buf[..n];
            if n > 28 + 240
                && p[9] == 17
                && p[20..24] == [0, 67, 0, 68]
                && p[28] == 2
                && p[32..35] == [0x51, 0xa5, 0]
                && p[16..20] == p[44..48]
            {
                seen.insert(p[35]);
            }
            if seen.len() == usize::from(MACS) {
                break;
            }
        }
        // SAFETY: closing the descriptor opened above, once.
        unsafe { libc::close(cap) };
        seen.len()
    });
    assert_eq!(
        offers,
        usize::from(MACS),
        "not every MAC got its offer:\n{}",
        agent.log()
    );
    let neigh = t.app.ip(&["neigh", "show", "dev", "virbr0"]);
    let written = neigh.lines().filter(|l| l.contains("02:00:00:5e:00:")).count();
    assert_eq!(written, 0, "offers wrote neighbour entries:\n{neigh}");
    let log = agent.log();
    assert!(
        !log.contains("broadcasting"),
        "a direct reply fell back to broadcast:\n{log}"
    );
}

/// A bridge deleted by hand comes back with a new interface index: the DHCP
/// and DNS servers bound to the old one must serve again on the new one,
/// without a restart of the agent, and `info` must say so.
#[test]
fn netns_dhcp_and_dns_serve_again_after_their_bridge_is_recreated() {
    need_root!("netns_dhcp_and_dns_serve_again_after_their_bridge_is_recreated");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let agent = t.start(&cfg);
    let c = Udhcpc::start(&t.g(g).ns, &t.dir, "web");
    wait_event(&c.events, 0, &["bound"], T).expect("udhcpc got no lease");
    drop(c);
    let before = t.ifindex("virbr0");

    t.app.ip(&["link", "del", "virbr0"]);
    let back = wait_for(T, || {
        t.ifindex("virbr0").is_some_and(|i| Some(&i) != before.as_ref())
            && t.master_of("vg1").as_deref() == Some("virbr0")
    });
    assert!(back.is_some(), "the bridge did not come back:\n{}", agent.log());

    let c = Udhcpc::start(&t.g(g).ns, &t.dir, "web");
    let bound = wait_event(&c.events, 0, &["bound"], T);
    let bound = bound.unwrap_or_else(|| panic!("no lease on the re-created bridge:\n{}", agent.log()));
    assert!(in_pool(&bound.ip), "{bound:?}");
    let answered = wait_for(Duration::from_secs(5), || {
        let out = t
            .g(g)
            .ns
            .cmd("dig")
            .args(["+time=1", "+tries=1", "+short", "@10.77.0.1", "web"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        out == bound.ip
    });
    assert!(
        answered.is_some(),
        "DNS did not answer on the re-created bridge:\n{}",
        agent.log()
    );
    let info = String::from_utf8_lossy(&t.netagent(&["info", "n"]).stdout).into_owned();
    assert!(info.contains("DHCP:           serving"), "{info}");
    assert!(info.contains("DNS:            serving on 10.77.0.1:53"), "{info}");
    // Sockets for many networks and TCP clients: the open-file limit was raised.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.pid())).unwrap_or_default();
    let files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| l.split_whitespace().skip(3).take(2).collect())
        .unwrap_or_default();
    assert!(
        files.len() == 2 && files[0] == files[1],
        "soft limit not raised: {limits}"
    );
}

/// `netagent leases --release IP|MAC`: the admin ends a lease (a pool
/// filled by a runaway guest), and the address is free again.
#[test]
fn netns_an_admin_releases_a_lease_by_address_or_mac() {
    need_root!("netns_an_admin_releases_a_lease_by_address_or_mac");
    let mut t = Topo::new();
    let g = t.guest("vg1", "0.0.0.0/32", "");
    let cfg = t.write_config("n.toml", &config("nat", ""));
    let agent = t.start(&cfg);
    let c = Udhcpc::start(&t.g(g).ns, &t.dir, "web");
    let bound = wait_event(&c.events, 0, &["bound"], T).expect("udhcpc got no lease");
    drop(c);
    let listed = |t: &Topo| String::from_utf8_lossy(&t.netagent(&["leases", "--json"]).stdout).into_owned();
    assert!(listed(&t).contains(&bound.ip), "{}", listed(&t));

    let out = t.netagent(&["leases", "--release", &bound.ip]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains(&bound.ip),
        "{text}\n{}",
        agent.log()
    );
    assert!(!listed(&t).contains(&bound.ip), "still leased: {}", listed(&t));
    assert!(agent.log().contains("ended by the admin"), "{}", agent.log());

    // Nothing left to release, or nonsense: refused with the reason (exit 2).
    let again = t.netagent(&["leases", "--release", &bound.ip]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no lease of"));
    let junk = t.netagent(&["leases", "--release", "not-an-address"]);
    assert_eq!(junk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&junk.stderr).contains("neither an IPv4 address nor a MAC"));
}

/// RFC 4702: clients that name themselves only in option 81 — busybox
/// udhcpc -F (ASCII, E=0) and dhclient's `send fqdn.fqdn` (wire format) —
/// get their names in `netagent leases` and in the network's DNS.
#[test]
fn netns_names_sent_as_client_fqdn_are_registered() {
    need_root!("netns_names_sent_as_client_fqdn_are_registered");
    let mut t = Topo::new();
    let a = t.guest("vg1", "0.0.0.0/32", "");
    let b = t.guest("vg2", "0.0.0.0/32", "");
    let asker = t.guest("vg3", "10.77.0.60/24", "");
    let cfg = t.write_config(
        "n.toml",
        &config("nat", "domain = \"lab\"\n[network.dns]\ndomain = \"lab\"\n"),
    );
    let _agent = t.start(&cfg);
    let c = Udhcpc::start_with(&t.g(a).ns, &t.dir, &["-F", "laptop"]);
    let got = wait_event(&c.events, 0, &["bound"], T).expect("udhcpc got no lease");
    let ns = &t.g(b).ns;
    let (s, _ev) = isc_script(&t.dir, ns);
    let conf = t.write_config(
        "dhclient.conf",
        "send fqdn.fqdn \"desk.lab.\";\nsend fqdn.encoded on;\n",
    );
    let out = sh(
        ns,
        &format!(
            "dhclient -1 -v -cf {} -sf {} -lf {} -pf {} eth0",
            conf.display(),
            s.display(),
            t.dir.join("fq.lease").display(),
            t.dir.join("fq.pid").display()
        ),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let leases = String::from_utf8_lossy(&t.netagent(&["leases", "n"]).stdout).into_owned();
    assert!(leases.contains("laptop") && leases.contains("desk"), "{leases}");
    let dig = |name: &str| common::clients::short(&t.g(asker).ns, "10.77.0.1", &[name]);
    assert!(
        wait_for(T, || dig("laptop.lab") == got.ip).is_some(),
        "{}",
        dig("laptop.lab")
    );
    assert!(wait_for(T, || !dig("desk.lab").is_empty()).is_some());
    let _ = sh(
        ns,
        &format!("dhclient -x -pf {} eth0", t.dir.join("fq.pid").display()),
    );
}
