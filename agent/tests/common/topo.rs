//! The test topology: an appliance namespace where netagent runs, guest
//! namespaces joined to it by veth pairs (their appliance ends are the
//! ports), and an "outside" namespace on the uplink. Plus small TCP/UDP
//! servers and clients that run inside a namespace by entering it on their
//! own thread (setns), so no extra tools are needed and nothing leaves the
//! namespaces.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{ok, unique, Netns};

fn enter(ns: &str) {
    let path = format!("/var/run/netns/{ns}");
    let f = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: setns on a valid namespace fd only changes this thread's netns.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// Run `f` on a thread inside namespace `ns` and return its result.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

/// A TCP echo server that records the peer address of every connection.
pub struct TcpServer {
    pub addr: SocketAddr,
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    pub fn start(ns: &str, addr: SocketAddr) -> TcpServer {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let listener = in_ns(ns, move || {
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        });
        listener.set_nonblocking(true).expect("nonblocking");
        let (p, s) = (peers.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        p.lock().unwrap().push(peer);
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = conn.read(&mut buf) {
                                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TcpServer {
            addr,
            peers,
            stop,
            thread: Some(thread),
        }
    }

    /// The peers so far, waiting up to a second for at least one: accept
    /// runs on the server's own thread, a moment after the client connects.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.wait_count(1)
    }

    pub fn wait_count(&self, n: usize) -> Vec<SocketAddr> {
        wait_for(Duration::from_secs(1), || self.peers.lock().unwrap().len() >= n);
        self.peers.lock().unwrap().clone()
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP server that records the source of every datagram.
pub struct UdpServer {
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpServer {
    pub fn start(ns: &str, addr: SocketAddr) -> UdpServer {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sock = in_ns(ns, move || {
            UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        });
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let (p, s) = (peers.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::SeqCst) {
                if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                    p.lock().unwrap().push(peer);
                }
            }
        });
        UdpServer {
            peers,
            stop,
            thread: Some(thread),
        }
    }

    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap().clone()
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connect from inside `ns`, optionally from a given source address/port.
pub fn tcp_connect(ns: &str, from: Option<SocketAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    in_ns(ns, move || {
        let sock = socket2::Socket::new(socket2::Domain::for_address(to), socket2::Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        if let Some(f) = from {
            sock.bind(&f.into())?;
        }
        sock.connect_timeout(&to.into(), Duration::from_secs(2))?;
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(s)
    })
}

/// Send one message over `s` and expect it echoed back.
pub fn echo(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    s.write_all(msg)?;
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf)?;
    assert_eq!(buf, msg);
    Ok(())
}

pub fn udp_send(ns: &str, from: SocketAddr, to: SocketAddr) {
    in_ns(ns, move || {
        let s = UdpSocket::bind(from).unwrap_or_else(|e| panic!("bind {from}: {e}"));
        for _ in 0..3 {
            let _ = s.send_to(b"probe", to);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

pub fn ping(ns: &Netns, to: &str) -> bool {
    ns.cmd("ping")
        .args(["-c", "1", "-W", "1", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Poll `f` every 50 ms until it holds or `limit` passes; returns the time taken.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A guest: its own namespace with `eth0` joined to the appliance by a veth
/// whose appliance end is `port`.
pub struct Guest {
    pub ns: Netns,
    pub addr: String,
}

/// A running netagent, killed on drop.
pub struct Agent {
    pub child: Child,
    pub log: PathBuf,
}

impl Agent {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stop with `sig` and wait for the process to end.
    pub fn stop(mut self, sig: i32) -> std::process::ExitStatus {
        self.signal(sig);
        self.child.wait().expect("wait for netagent")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Appliance + outside + guests, all removed on drop.
pub struct Topo {
    pub app: Netns,
    pub out: Netns,
    pub dir: PathBuf,
    pub guests: Vec<Guest>,
}

pub const UPLINK: &str = "up0";
pub const OUTSIDE_IP: &str = "10.99.0.1";
pub const UPLINK_IP: &str = "10.99.0.2";

/// A config for this topology: the uplink `up0` at 10.99.0.2/24 with the
/// outside as its gateway, then `networks`.
pub fn with_uplink(networks: &str) -> String {
    format!(
        "[uplink]\ninterface = \"{UPLINK}\"\naddress = \"{UPLINK_IP}/24\"\ngateway = \"{OUTSIDE_IP}\"\n\n{}",
        networks.trim_start()
    )
}

impl Topo {
    /// The appliance's uplink `up0` faces the outside's `out0` (10.99.0.1/24).
    pub fn new() -> Topo {
        let app = Netns::new("na");
        let out = Netns::new("no");
        ok(Command::new("ip").args([
            "link", "add", UPLINK, "netns", &app.name, "type", "veth", "peer", "name", "out0", "netns",
            &out.name,
        ]));
        out.ip(&["addr", "add", &format!("{OUTSIDE_IP}/24"), "dev", "out0"]);
        out.ip(&["link", "set", "out0", "up"]);
        let dir = std::env::temp_dir().join(unique("netagent-test-"));
        std::fs::create_dir_all(&dir).expect("test dir");
        Topo {
            app,
            out,
            dir,
            guests: Vec::new(),
        }
    }

    /// An appliance namespace with no uplink yet (the caller wires it, as
    /// the span tests do onto a shared underlay); `out` is an empty namespace.
    pub fn bare() -> Topo {
        let dir = std::env::temp_dir().join(unique("netagent-test-"));
        std::fs::create_dir_all(&dir).expect("test dir");
        Topo {
            app: Netns::new("na"),
            out: Netns::new("no"),
            dir,
            guests: Vec::new(),
        }
    }

    /// A guest behind appliance port `port` with no address: it asks DHCP.
    pub fn dhcp_guest(&mut self, port: &str) -> usize {
        let ns = Netns::new("ng");
        super::veth(port, &self.app, "eth0", &ns);
        ns.ip(&["link", "set", "eth0", "up"]);
        self.guests.push(Guest {
            ns,
            addr: String::new(),
        });
        self.guests.len() - 1
    }

    /// Give the outside a route back to `subnet` through the appliance.
    pub fn route_back(&self, subnet: &str) {
        self.out.ip(&["route", "add", subnet, "via", UPLINK_IP]);
    }

    /// A guest at `addr` (with prefix) behind appliance port `port`, its
    /// default route via `gw` (none if empty).
    pub fn guest(&mut self, port: &str, addr: &str, gw: &str) -> usize {
        let i = self.dhcp_guest(port);
        let g = &mut self.guests[i];
        g.ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        if !gw.is_empty() {
            g.ns.ip(&["route", "add", "default", "via", gw]);
        }
        g.addr = addr.split('/').next().unwrap_or(addr).to_string();
        i
    }

    pub fn g(&self, i: usize) -> &Guest {
        &self.guests[i]
    }

    pub fn write_config(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, body).expect("write config");
        p
    }

    fn agent_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.app.cmd(env!("CARGO_BIN_EXE_netagent"));
        c.args(args);
        let sub = args.first().copied().unwrap_or_default();
        if matches!(
            sub,
            "run" | "down" | "leases" | "list" | "info" | "status" | "reload" | "diff"
        ) {
            c.arg("--state-dir").arg(self.dir.join("state"));
        }
        if matches!(sub, "run" | "leases") {
            c.arg("--lease-dir").arg(self.dir.join("leases"));
        }
        c
    }

    /// Start `netagent run -c config` and wait until it says its networks are up.
    pub fn start(&self, config: &std::path::Path) -> Agent {
        self.start_with_env(config, &[])
    }

    /// `start` with extra environment variables for the agent.
    pub fn start_with_env(&self, config: &std::path::Path, env: &[(&str, &str)]) -> Agent {
        let mut cmd = self.agent_cmd(&["run", "-c", config.to_str().unwrap_or_default()]);
        cmd.envs(env.iter().copied());
        self.spawn(cmd)
    }

    /// `start`, with the lease directory on a tmpfs of `kib` KiB that only
    /// the agent sees (its own mount namespace): a disk that can fill up.
    pub fn start_on_small_disk(&self, config: &std::path::Path, kib: u32) -> Agent {
        let leases = self.dir.join("leases");
        std::fs::create_dir_all(&leases).expect("lease dir");
        let mut cmd = self.app.cmd("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={kib}k,mode=0700 netagent-test \"$0\" && exec \"$@\""
            ))
            .arg(&leases)
            .arg(env!("CARGO_BIN_EXE_netagent"))
            .args(["run", "-c", config.to_str().unwrap_or_default(), "--state-dir"])
            .arg(self.dir.join("state"))
            .arg("--lease-dir")
            .arg(&leases);
        self.spawn(cmd)
    }

    /// Run `cmd` (a `netagent run`) with its log in the test directory, and
    /// wait until it says its networks are up.
    fn spawn(&self, mut cmd: Command) -> Agent {
        let log = self.dir.join(format!("agent-{}.log", unique("")));
        let f = File::create(&log).expect("log file");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("spawn netagent");
        let agent = Agent { child, log };
        let up = wait_for(Duration::from_secs(10), || {
            agent.log().contains("networks are up")
        });
        assert!(up.is_some(), "netagent did not come up:\n{}", agent.log());
        agent
    }

    /// `netagent ARGS` run to completion in the appliance.
    pub fn netagent(&self, args: &[&str]) -> std::process::Output {
        self.agent_cmd(args).output().expect("run netagent")
    }

    pub fn nft_table(&self) -> Option<String> {
        let o = self
            .app
            .cmd("nft")
            .args(["list", "table", "inet", "netagent"])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// The bridge `port` is enslaved to, if any.
    pub fn master_of(&self, port: &str) -> Option<String> {
        let out = self
            .app
            .cmd("ip")
            .args(["-o", "link", "show", "dev", port])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout);
        let after = s.split(" master ").nth(1)?;
        after.split_whitespace().next().map(String::from)
    }

    pub fn has_link(&self, name: &str) -> bool {
        self.app
            .cmd("ip")
            .args(["link", "show", "dev", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    pub fn ifindex(&self, name: &str) -> Option<String> {
        let out = self
            .app
            .cmd("cat")
            .arg(format!("/sys/class/net/{name}/ifindex"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A DNS query for `name` A IN with the given ID, as it goes on the wire.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}
