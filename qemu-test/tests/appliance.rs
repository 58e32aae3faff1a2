//! Root, network namespaces, QEMU (TCG): the appliance image booted for
//! real. The appliance VM runs inside an "outside" namespace; its uplink is a
//! tap there (dnsmasq gives it an address and serves a DNS zone), its LAN NIC
//! a tap moved into a guest namespace where busybox udhcpc plays the guest.
//! Nothing leaves the namespaces: QEMU has no user networking here.

#[path = "../../agent/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::clients::{wait_event, Udhcpc};
use common::topo::{sa, wait_for, TcpServer};
use common::{ok, unique, Netns};

fn image_dir() -> PathBuf {
    common::repo_root().join("build/image")
}

struct Vm {
    child: Child,
    console: PathBuf,
    monitor: PathBuf,
}

impl Vm {
    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    fn wait_log(&self, what: &str, limit: Duration) -> bool {
        wait_for(limit, || self.log().contains(what)).is_some()
    }

    /// Send one monitor command and wait until QEMU has run it (its prompt
    /// comes back); closing the socket earlier drops the command.
    fn monitor(&self, cmd: &str) {
        let Ok(mut s) = UnixStream::connect(&self.monitor) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(format!("{cmd}\n").as_bytes());
        let mut seen = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&seen).contains("\r\n(qemu)") {
                break;
            }
        }
    }

    /// Press the ACPI power button and wait for QEMU to exit.
    fn power_off(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.monitor("system_powerdown");
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Boot<'a> {
    /// -kernel/-initrd, optionally with a disk attached.
    Direct(Option<&'a Path>),
    /// The whole disk through OVMF (UEFI), as a bare-metal PC boots it.
    Uefi(&'a Path),
}

/// Start the appliance VM in `ns` with taps `up` and `lan` (made by QEMU there).
fn boot(ns: &Netns, dir: &Path, boot: Boot<'_>, up: &str, lan: &str) -> Vm {
    let console = dir.join("console.log");
    let monitor = dir.join("monitor.sock");
    let img = image_dir();
    let mut c = ns.cmd("qemu-system-x86_64");
    // /dev/kvm exists here but hangs: TCG unless NETAGENT_KVM=1 (real hardware).
    let accel = if std::env::var_os("NETAGENT_KVM").is_some() {
        "kvm"
    } else {
        "tcg"
    };
    c.args([
        "-accel",
        accel,
        "-m",
        "512",
        "-nographic",
        "-no-reboot",
        "-nodefaults",
        "-serial",
    ])
    .arg(format!("file:{}", console.display()))
    .arg("-monitor")
    .arg(format!("unix:{},server,nowait", monitor.display()))
    .args([
        "-netdev",
        &format!("tap,id=up,ifname={up},script=no,downscript=no"),
        "-device",
        "virtio-net-pci,netdev=up",
    ])
    .args([
        "-netdev",
        &format!("tap,id=lan,ifname={lan},script=no,downscript=no"),
        "-device",
        "virtio-net-pci,netdev=lan",
    ]);
    match boot {
        Boot::Direct(disk) => {
            c.arg("-kernel")
                .arg(img.join("vmlinuz"))
                .arg("-initrd")
                .arg(img.join("initramfs.img"));
            c.args(["-append", "console=ttyS0 panic=-1 loglevel=4"]);
            if let Some(d) = disk {
                c.arg("-drive")
                    .arg(format!("file={},format=raw,if=virtio", d.display()));
            }
        }
        Boot::Uefi(disk) => {
            let vars = dir.join("OVMF_VARS.fd");
            std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).expect("OVMF vars");
            c.args([
                "-drive",
                "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
            ]);
            c.arg("-drive")
                .arg(format!("if=pflash,format=raw,file={}", vars.display()));
            c.arg("-drive")
                .arg(format!("file={},format=raw,if=virtio", disk.display()));
        }
    }
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let vm = Vm {
        child,
        console,
        monitor,
    };
    let taps = wait_for(Duration::from_secs(20), || {
        ns.cmd("ip")
            .args(["link", "show", lan])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(taps.is_some(), "QEMU made no taps:\n{}", vm.log());
    vm
}

/// The outside: the uplink tap gets 10.98.0.1/24 and dnsmasq hands the
/// appliance an address, a router and itself as resolver for upstream.test.
fn outside(ns: &Netns, dir: &Path, up: &str) -> Child {
    ns.ip(&["addr", "add", "10.98.0.1/24", "dev", up]);
    ns.ip(&["link", "set", up, "up"]);
    ns.cmd("dnsmasq")
        .args([
            "-k",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
        ])
        .arg(format!("--interface={up}"))
        .args([
            "--dhcp-range=10.98.0.50,10.98.0.60,255.255.255.0,1h",
            "--dhcp-option=3,10.98.0.1",
            "--dhcp-option=6,10.98.0.1",
        ])
        .args([
            "--address=/www.upstream.test/10.98.0.80",
            "--local=/upstream.test/",
        ])
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.join("outside.leases").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq")
}

fn workdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique("netagent-qemu-"));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

#[test]
fn qemu_direct_boot_serves_a_guest_and_powers_off() {
    assert!(
        image_dir().join("initramfs.img").exists(),
        "run `make image` first"
    );
    let dir = workdir();
    let out = Netns::new("qo");
    let guest = Netns::new("qg");
    let (up, lan) = ("qup0", "qlan0");
    let mut vm = boot(&out, &dir, Boot::Direct(None), up, lan);
    let mut dns = outside(&out, &dir, up);
    // The LAN tap goes to the guest: the guest is now on virbr0's segment.
    ok(std::process::Command::new("ip").args(["-n", &out.name, "link", "set", lan, "netns", &guest.name]));
    guest.ip(&["link", "set", lan, "name", "eth0"]);
    guest.ip(&["link", "set", "eth0", "up"]);
    let booted = Instant::now();
    assert!(
        vm.wait_log("dhcp default: serving", Duration::from_secs(240)),
        "the appliance did not come up:\n{}",
        vm.log()
    );
    eprintln!("boot to serving DHCP: {:?} (TCG)", booted.elapsed());
    assert!(vm
        .log()
        .contains("network default: nat on virbr0 (192.168.122.1/24)"));

    // A guest gets a lease, resolves names through the appliance, and
    // reaches a server outside, which sees the appliance's uplink address.
    let c = Udhcpc::start(&guest, &dir, "vmguest");
    let lease = wait_event(&c.events, 0, &["bound"], Duration::from_secs(90))
        .unwrap_or_else(|| panic!("no lease:\n{}", vm.log()));
    assert!(
        lease.ip.starts_with("192.168.122.")
            && lease.router == "192.168.122.1"
            && lease.dns == "192.168.122.1",
        "{lease:?}"
    );
    assert!(
        vm.wait_log("uplink eth0: leased 10.98.0.", Duration::from_secs(60)),
        "{}",
        vm.log()
    );
    let resolved = wait_for(Duration::from_secs(30), || {
        let o = guest
            .cmd("dig")
            .args([
                "+short",
                "+time=2",
                "+tries=1",
                "@192.168.122.1",
                "www.upstream.test",
            ])
            .output();
        o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "10.98.0.80")
    });
    assert!(
        resolved.is_some(),
        "the guest could not resolve through the appliance:\n{}",
        vm.log()
    );
    let srv = TcpServer::start(&out.name, sa("10.98.0.1:8080"));
    let conn = wait_for(Duration::from_secs(30), || {
        common::topo::tcp_connect(&guest.name, None, sa("10.98.0.1:8080")).is_ok()
    });
    assert!(
        conn.is_some(),
        "the guest could not reach the outside:\n{}",
        vm.log()
    );
    let peer = srv.peers()[0].ip().to_string();
    assert!(
        peer.starts_with("10.98.0.5") || peer.starts_with("10.98.0.6"),
        "the outside saw {peer}, not the appliance's uplink address"
    );

    let status = vm.power_off(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "QEMU did not exit on the power button:\n{}",
        vm.log()
    );
    assert!(vm.log().contains("power button pressed"));
    let _ = dns.kill();
    let _ = dns.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qemu_broken_config_on_the_disk_falls_back_to_the_default() {
    assert!(
        image_dir().join("netagent.img").exists(),
        "run `make image` first"
    );
    let dir = workdir();
    let disk = dir.join("disk.img");
    std::fs::copy(image_dir().join("netagent.img"), &disk).expect("copy image");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[network]]\nname = \"x\"\nbridge = \"br0\"\naddress = \"10.1.0.300/24\"\n",
    )
    .expect("write");
    ok(std::process::Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(&bad)
        .arg("::/netagent.toml"));
    let out = Netns::new("qo");
    let mut vm = boot(&out, &dir, Boot::Direct(Some(&disk)), "qup1", "qlan1");
    assert!(
        vm.wait_log("dhcp default: serving", Duration::from_secs(240)),
        "{}",
        vm.log()
    );
    let log = vm.log();
    assert!(log.contains("FAILS THE CHECK"), "{log}");
    assert!(
        log.contains("netagent.toml:4:11"),
        "the error does not name line and column:\n{log}"
    );
    assert!(log.contains("RUNNING THE EMBEDDED DEFAULT"), "{log}");
    let _ = vm.power_off(Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qemu_uefi_boot_applies_the_config_on_the_fat_partition() {
    assert!(
        image_dir().join("netagent.img").exists(),
        "run `make image` first"
    );
    let dir = workdir();
    let disk = dir.join("disk.img");
    std::fs::copy(image_dir().join("netagent.img"), &disk).expect("copy image");
    // A routed network instead of the default, put in place the way users do.
    let cfg = common::repo_root().join("config/route.toml");
    let routed = std::fs::read_to_string(&cfg)
        .expect("route.toml")
        .replace("interface = \"eth0\"", "interface = \"auto\"");
    let mine = dir.join("route.toml");
    std::fs::write(&mine, routed).expect("write");
    ok(
        std::process::Command::new(common::repo_root().join("image/set-config.sh"))
            .arg(&disk)
            .arg(&mine)
            .arg(env!("CARGO_BIN_EXE_netagent")),
    );
    let out = Netns::new("qo");
    let mut vm = boot(&out, &dir, Boot::Uefi(&disk), "qup2", "qlan2");
    assert!(
        vm.wait_log("networks are up", Duration::from_secs(400)),
        "{}",
        vm.log()
    );
    let log = vm.log();
    assert!(log.contains("starting with /boot/netagent.toml"), "{log}");
    assert!(
        log.contains("network routed: route on virbr1 (192.168.100.1/24)"),
        "{log}"
    );
    let status = vm.power_off(Duration::from_secs(90));
    assert!(status.is_some_and(|s| s.success()), "{}", vm.log());
    let _ = std::fs::remove_dir_all(&dir);
}
