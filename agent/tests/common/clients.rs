//! Real DHCP clients nobody here wrote — busybox udhcpc, ISC dhclient and
//! dhcpcd — run inside guest namespaces. Each reports through a script that
//! appends one line per event to a file (`REASON ip=.. router=.. dns=..`)
//! and configures nothing outside its namespace.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::topo::wait_for;
use super::Netns;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: String,
    pub ip: String,
    pub router: String,
    pub dns: String,
}

pub fn events(file: &Path) -> Vec<Event> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut e = Event {
                reason: String::new(),
                ip: String::new(),
                router: String::new(),
                dns: String::new(),
            };
            for (i, w) in l.split_whitespace().enumerate() {
                match (i, w.split_once('=')) {
                    (0, _) => e.reason = w.to_string(),
                    (_, Some(("ip", v))) => e.ip = v.to_string(),
                    (_, Some(("router", v))) => e.router = v.to_string(),
                    (_, Some(("dns", v))) => e.dns = v.to_string(),
                    _ => {}
                }
            }
            e
        })
        .collect()
}

/// Wait for an event whose reason is one of `reasons` after the first `skip`.
pub fn wait_event(file: &Path, skip: usize, reasons: &[&str], limit: Duration) -> Option<Event> {
    let mut found = None;
    wait_for(limit, || {
        found = events(file)
            .into_iter()
            .skip(skip)
            .find(|e| reasons.contains(&e.reason.as_str()));
        found.is_some()
    });
    found
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
    p
}

/// busybox udhcpc in the foreground; SIGUSR1 renews, SIGUSR2 releases.
pub struct Udhcpc {
    pub child: Child,
    pub events: PathBuf,
}

impl Udhcpc {
    pub fn start(ns: &Netns, dir: &Path, hostname: &str) -> Udhcpc {
        Self::start_with(ns, dir, &["-x", &format!("hostname:{hostname}")])
    }

    /// udhcpc with `args` in place of the hostname option.
    pub fn start_with(ns: &Netns, dir: &Path, args: &[&str]) -> Udhcpc {
        let events = dir.join(format!("udhcpc-{}.events", ns.name));
        let s = script(
            dir,
            &format!("udhcpc-{}.sh", ns.name),
            // The event is written once the address is in place: a test that
            // reads "bound" may use the address at once.
            &format!(
                "case \"$1\" in bound|renew) ip addr flush dev $interface; ip addr add $ip/$mask dev $interface;\n\
                 [ -n \"$router\" ] && ip route replace default via $router dev $interface;; esac\n\
                 echo \"$1 ip=$ip router=$router dns=$(echo $dns | tr ' ' ,) ntpsrv=$(echo $ntpsrv | tr ' ' ,) search=$(echo $search | tr ' ' ,) wpad=$wpad\" >> {ev}; exit 0",
                ev = events.display()
            ),
        );
        let child = ns
            .cmd("busybox")
            .args([
                "udhcpc", "-f", "-R", "-i", "eth0", "-t", "10", "-T", "1", "-A", "1", "-s",
            ])
            .arg(&s)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("udhcpc");
        Udhcpc { child, events }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Udhcpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a shell script in `ns` to completion, with the clients' state
/// directories on tmpfs in the script's own mount namespace (`ip netns exec`
/// gives each command one), so parallel tests share nothing.
pub fn sh(ns: &Netns, body: &str) -> std::process::Output {
    let full = format!(
        "mkdir -p /var/lib/dhcpcd /run/dhcpcd; mount -t tmpfs none /var/lib/dhcpcd; mount -t tmpfs none /run/dhcpcd\n{body}"
    );
    ns.cmd("sh").args(["-c", &full]).output().expect("sh")
}

/// The event script shared by dhclient and dhcpcd (both pass `$reason`
/// and `new_*` variables).
pub fn isc_script(dir: &Path, ns: &Netns) -> (PathBuf, PathBuf) {
    let events = dir.join(format!("isc-{}.events", ns.name));
    let s = script(
        dir,
        &format!("isc-{}.sh", ns.name),
        &format!(
            "echo \"$reason ip=$new_ip_address router=$new_routers dns=$(echo $new_domain_name_servers | tr ' ' ,)\" >> {}\n\
             # dhclient leaves addressing to its script (dhcpcd does its own):\n\
             # configure the guest's interface like dhclient-script would.\n\
             case \"$reason\" in BOUND|RENEW|REBIND|REBOOT) [ -n \"$new_subnet_mask\" ] && ip addr replace $new_ip_address/$new_subnet_mask dev $interface;;\n\
             EXPIRE|FAIL|RELEASE|STOP) [ -n \"$old_ip_address\" ] && [ -n \"$new_subnet_mask$old_subnet_mask\" ] && ip addr del $old_ip_address/$old_subnet_mask dev $interface;; esac\nexit 0",
            events.display()
        ),
    );
    (s, events)
}

/// `dig @server ARGS` from `ns` (2 s, one try): its whole output.
pub fn dig(ns: &Netns, server: &str, args: &[&str]) -> String {
    let out = ns
        .cmd("dig")
        .args(["+time=2", "+tries=1", &format!("@{server}")])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig +short`: the answers alone, trimmed.
pub fn short(ns: &Netns, server: &str, args: &[&str]) -> String {
    let mut a = vec!["+short"];
    a.extend_from_slice(args);
    dig(ns, server, &a).trim().to_string()
}

/// A server nobody here wrote (dnsmasq, Kea) running in a namespace for a
/// test, killed when the test is done with it.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq in `ns` in the foreground, with no config file, pid file,
/// resolv.conf or hosts file of the machine's, and then `args`.
pub fn dnsmasq(ns: &Netns, args: &[&str]) -> Peer {
    let c = ns
        .cmd("dnsmasq")
        .args([
            "-k",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq");
    Peer(c)
}
