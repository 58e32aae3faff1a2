//! Root, network namespaces, QEMU (TCG): the appliance image booted for
//! real. The appliance VM runs inside an "outside" namespace; its uplink is a
//! tap there (dnsmasq gives it an address and serves a DNS zone). Its LAN
//! NIC is joined to a second VM, a busybox guest, by a socket netdev on the
//! namespace's loopback. Nothing leaves the namespaces: QEMU has no user
//! networking here.

#[path = "../../agent/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

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
        let _ = self.monitor_output(cmd);
    }

    /// What the screen (tty0 on VGA text mode, 0xb8000: character and
    /// attribute bytes) shows, read through the monitor; the kernel may
    /// scroll anywhere in the 32 KiB window, so all of it is read.
    fn screen_text(&self) -> String {
        let out = self.monitor_output("xp /32768xb 0xb8000");
        let bytes: Vec<u8> = out
            .lines()
            .filter_map(|l| l.split_once(": "))
            .flat_map(|(_, rest)| {
                rest.split_whitespace()
                    .filter_map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        bytes.iter().step_by(2).map(|&b| b as char).collect()
    }

    fn monitor_output(&self, cmd: &str) -> String {
        let Ok(mut s) = UnixStream::connect(&self.monitor) else {
            return String::new();
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
        String::from_utf8_lossy(&seen).into_owned()
    }

    /// Press the ACPI power button and wait for QEMU to exit.
    fn power_off(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.monitor("system_powerdown");
        self.wait_exit(limit)
    }

    /// Wait for QEMU to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
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
    /// The whole disk through OVMF (UEFI), as a bare-metal PC boots it,
    /// optionally with a second disk (a USB stick, say) on SCSI: `sda`,
    /// before the boot disk `vda` in name order.
    Uefi(&'a Path, Option<&'a Path>),
}

/// Where the appliance's LAN NIC goes.
enum Lan<'a> {
    /// A tap QEMU makes in the namespace.
    Tap(&'a str),
    /// A tap on an e1000 NIC at PCI slot 9, after the uplink's virtio NIC
    /// on the bus: its driver loads first, so it takes eth0.
    TapE1000(&'a str),
    /// A socket netdev connecting to a guest VM listening on this loopback
    /// port, on an e1000 NIC at PCI slot 9: the uplink's virtio NIC sits
    /// lower on the bus, but the e1000's driver loads first.
    Guest(u16),
}

fn accel() -> &'static str {
    // /dev/kvm exists here but hangs: TCG unless NETAGENT_KVM=1 (real hardware).
    if std::env::var_os("NETAGENT_KVM").is_some() {
        "kvm"
    } else {
        "tcg"
    }
}

/// The busybox guest VM from `make image`, listening for the appliance's
/// LAN NIC on 127.0.0.1:`port` in `ns`. Its init leases an address, resolves
/// `lookup` through the appliance and sends a line to the echo server at
/// `probe` (and over IPv6 to `probe6`, if given), and opens the status page
/// at `page` (its address, and the Basic credentials in base64), if given,
/// printing each result on its console.
/// The status page's password in the direct-boot test's config.
const PAGE_PASSWORD: &str = "qemutestpagepassword";

fn guest_vm(
    ns: &Netns,
    dir: &Path,
    port: u16,
    lookup: &str,
    probe: &str,
    probe6: Option<&str>,
    page: Option<(&str, &str)>,
) -> Vm {
    let console = dir.join("guest-console.log");
    let img = image_dir();
    let child = ns
        .cmd("qemu-system-x86_64")
        .args([
            "-accel",
            accel(),
            "-m",
            "128",
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
        ])
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(img.join("vmlinuz"))
        .arg("-initrd")
        .arg(img.join("guest-initramfs.img"))
        .args([
            "-append",
            &format!(
                "console=ttyS0 quiet lookup={lookup} probe={probe}{}{}",
                probe6.map(|p| format!(" probe6={p}")).unwrap_or_default(),
                page.map(|(p, auth)| format!(" page={p} auth={auth}"))
                    .unwrap_or_default()
            ),
            "-netdev",
            &format!("socket,id=lan,listen=127.0.0.1:{port}"),
            "-device",
            "virtio-net-pci,netdev=lan,mac=52:54:00:12:34:99",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (guest)");
    Vm {
        child,
        console,
        monitor: dir.join("guest-monitor.sock"),
    }
}

/// Start the appliance VM in `ns` with the uplink tap `up` (made by QEMU there).
fn boot(ns: &Netns, dir: &Path, boot: Boot<'_>, up: &str, lan: Lan<'_>) -> Vm {
    boot_with(ns, dir, boot, up, lan, &[])
}

/// `boot`, with more QEMU arguments.
fn boot_with(ns: &Netns, dir: &Path, boot: Boot<'_>, up: &str, lan: Lan<'_>, extra: &[&str]) -> Vm {
    let console = dir.join("console.log");
    let monitor = dir.join("monitor.sock");
    let img = image_dir();
    let mut c = ns.cmd("qemu-system-x86_64");
    let lan_device = match lan {
        Lan::TapE1000(_) | Lan::Guest(_) => "e1000,netdev=lan,addr=0x9",
        _ => "virtio-net-pci,netdev=lan",
    };
    let lan = match lan {
        Lan::Tap(name) | Lan::TapE1000(name) => format!("tap,id=lan,ifname={name},script=no,downscript=no"),
        Lan::Guest(port) => format!("socket,id=lan,connect=127.0.0.1:{port}"),
    };
    c.args([
        "-accel",
        accel(),
        // Two vCPUs, as a real box has several cores: the NICs' drivers
        // probe on one while the agent starts on the other.
        "-smp",
        "2",
        // Every feature the emulator has (RDRAND among them), as a
        // current board's CPU.
        "-cpu",
        "max",
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
    .args(["-netdev", &lan, "-device", lan_device])
    // Entropy from the host, as a real board's hardware RNG gives it.
    .args(["-device", "virtio-rng-pci"])
    .args(extra);
    match boot {
        Boot::Direct(disk) => {
            c.arg("-kernel")
                .arg(img.join("vmlinuz"))
                .arg("-initrd")
                .arg(img.join("initramfs.img"));
            c.args(["-append", "console=ttyS0 panic=-1 loglevel=4"]);
            // A screen, so the test can read what tty0 shows.
            c.args(["-vga", "std"]);
            if let Some(d) = disk {
                c.arg("-drive")
                    .arg(format!("file={},format=raw,if=virtio", d.display()));
            }
        }
        Boot::Uefi(disk, other) => {
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
            if let Some(o) = other {
                c.args(["-device", "virtio-scsi-pci,id=scsi"]);
                c.arg("-drive")
                    .arg(format!("file={},format=raw,if=none,id=stick", o.display()));
                c.args(["-device", "scsi-hd,drive=stick,bus=scsi.0"]);
            }
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
            .args(["link", "show", up])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(taps.is_some(), "QEMU made no taps:\n{}", vm.log());
    vm
}

/// The kernel-clock seconds a console line says, after `after`, on the
/// first line holding `line_has` (PID 1's start and DHCP serving say it).
fn since_boot(log: &str, line_has: &str, after: &str) -> Option<f64> {
    let l = log.lines().find(|l| l.contains(line_has))?;
    let rest = &l[l.find(after)? + after.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// The outside: the uplink tap gets 10.98.0.1/24 and dnsmasq hands the
/// appliance an address, a router and itself as resolver for upstream.test.
fn outside(ns: &Netns, dir: &Path, up: &str) -> Child {
    ns.ip(&["addr", "add", "10.98.0.1/24", "dev", up]);
    ns.ip(&["-6", "addr", "add", &format!("{OUTSIDE6}/64"), "dev", up, "nodad"]);
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
            // A time server (started by `time_server` where a test needs one).
            "--dhcp-option=42,10.98.0.1",
            // Router advertisements for the uplink's SLAAC (an ISP's
            // router, as far as the appliance can tell).
            "--enable-ra",
        ])
        .arg(format!("--dhcp-range=::,constructor:{up},ra-only,64"))
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

/// chrony on the outside's address as the appliance's time server: its own
/// clock as the reference (`local`), and never touching the machine's
/// clock (`-x`; the namespace shares it).
fn time_server(ns: &Netns, dir: &Path) -> Child {
    let conf = dir.join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "local stratum 8\nallow 10.98.0.0/24\nbindaddress 10.98.0.1\ncmdport 0\npidfile {d}/chronyd.pid\ndriftfile {d}/chrony.drift\n",
            d = dir.display()
        ),
    )
    .expect("chrony.conf");
    ns.cmd("chronyd")
        .args(["-x", "-d", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chronyd")
}

/// The outside's IPv6 address on the uplink's segment (dnsmasq advertises
/// its /64 there).
const OUTSIDE6: &str = "fd00:98::1";

/// A work directory with a copy of `netagent.img` that a test may change.
fn disk_copy() -> (PathBuf, PathBuf) {
    assert!(
        image_dir().join("netagent.img").exists(),
        "run `make image` first"
    );
    let dir = workdir();
    let disk = dir.join("disk.img");
    std::fs::copy(image_dir().join("netagent.img"), &disk).expect("copy image");
    (dir, disk)
}

fn workdir() -> PathBuf {
    let d = std::env::temp_dir().join(unique("netagent-qemu-"));
    std::fs::create_dir_all(&d).expect("work dir");
    d
}

#[test]
fn qemu_direct_boot_serves_a_guest_and_powers_off() {
    need_root!("qemu_direct_boot_serves_a_guest_and_powers_off");
    assert!(
        image_dir().join("initramfs.img").exists(),
        "run `make image` first"
    );
    // A disk whose config is the default network with an IPv6 prefix,
    // masqueraded: the appliance serves the embedded default at once and
    // reloads to this one when the disk appears.
    let (dir, disk) = disk_copy();
    let v6 = dir.join("v6.toml");
    let default =
        std::fs::read_to_string(common::repo_root().join("config/default.toml")).expect("default.toml");
    std::fs::write(
        &v6,
        format!(
            "{}
[network.nat]
ipv6 = true

[status]
listen = [\"192.168.122.1:9189\"]
password = \"{PAGE_PASSWORD}\"
",
            default.replace(
                "address = \"192.168.122.1/24\"\n",
                "address = \"192.168.122.1/24\"\naddress6 = \"fd00:122::1/64\"\n"
            )
        ),
    )
    .expect("write");
    ok(std::process::Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(&v6)
        .arg("::/netagent.toml"));
    let out = Netns::new("qo");
    let up = "qup0";
    // The guest VM listens; the appliance's LAN NIC connects to it.
    let port = 20000 + (std::process::id() % 20000) as u16;
    let probe6 = format!("{OUTSIDE6}:8080");
    // base64 of "netagent:" and the password, as HTTP Basic sends it.
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("netagent:{PAGE_PASSWORD}"))
    };
    let guest = guest_vm(
        &out,
        &dir,
        port,
        "www.upstream.test",
        "10.98.0.1:8080",
        Some(&probe6),
        Some(("192.168.122.1:9189", &auth)),
    );
    std::thread::sleep(Duration::from_millis(500));
    // The board's clock says 2001 (a flat RTC battery); the outside's
    // DHCP names its chrony as the time server (option 42).
    let mut vm = boot_with(
        &out,
        &dir,
        Boot::Direct(Some(&disk)),
        up,
        Lan::Guest(port),
        &["-rtc", "base=2001-01-01T00:00:00"],
    );
    let mut dns = outside(&out, &dir, up);
    let mut ntp = time_server(&out, &dir);
    let srv = TcpServer::start(&out.name, sa("10.98.0.1:8080"));
    let srv6 = TcpServer::start(&out.name, sa(&format!("[{OUTSIDE6}]:8080")));
    let booted = Instant::now();
    assert!(
        vm.wait_log("dhcp default: serving", Duration::from_secs(240)),
        "the appliance did not come up:\n{}",
        vm.log()
    );
    eprintln!("boot to serving DHCP: {:?} (TCG)", booted.elapsed());
    // From PID 1's start to DHCP serving, by the kernel's clock (both lines
    // say their time since boot).
    let log = vm.log();
    let secs = |line_has: &str, after: &str| since_boot(&log, line_has, after);
    let init = secs("starting as PID 1", "PID 1 (");
    let serving = secs("dhcp default: serving", "leases kept; ");
    match (init, serving) {
        (Some(i), Some(s)) => eprintln!(
            "kernel to PID 1: {i:.3} s; PID 1 to DHCP serving: {:.3} s (TCG)",
            s - i
        ),
        _ => panic!("no boot timings on the console:\n{log}"),
    }
    // The screen shows the log too (tty0), for a bare-metal box's monitor.
    let screen = vm.screen_text();
    assert!(
        screen.contains("starting as PID 1") && screen.contains("dhcp default: serving"),
        "tty0 does not show the log; the screen holds:\n{}",
        screen
            .split("  ")
            .filter(|p| !p.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(vm
        .log()
        .contains("network default: nat on virbr0 (192.168.122.1/24)"));
    // Port security's bridge table loads on Debian's kernel too (just
    // after the services start: the nft run is slow under TCG).
    assert!(
        vm.wait_log(
            "port security: table bridge netagent loaded",
            Duration::from_secs(60)
        ),
        "{}",
        vm.log()
    );

    // Mixed NICs: the guest sits behind the e1000 (slot 9, driver loaded
    // first); the uplink is the virtio NIC lower on the bus all the same.
    let virtio_uplink = wait_for(Duration::from_secs(60), || {
        vm.log()
            .lines()
            .any(|l| l.contains("virtio_net") && l.contains(" uplink"))
    });
    assert!(
        virtio_uplink.is_some(),
        "the uplink is not the virtio NIC:\n{}",
        vm.log()
    );
    assert!(
        vm.wait_log("0000:00:09.0   yes       port of virbr0", Duration::from_secs(60)),
        "the e1000 is not a port of virbr0:\n{}",
        vm.log()
    );

    // The guest VM gets a lease, resolves a name through the appliance, and
    // reaches a server outside, which sees the appliance's uplink address.
    assert!(
        guest.wait_log("guest: got 192.168.122.", Duration::from_secs(180)),
        "the guest VM got no lease:\n{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    assert!(
        guest
            .log()
            .contains("router 192.168.122.1 dns 192.168.122.1 from netagent"),
        "{}",
        guest.log()
    );
    // The clock: set by SNTP from the outside's chrony, about 25 years
    // forward, and the guest's lease keeps its time across the step (the
    // server moves lease times with the clock; none ends).
    assert!(
        vm.wait_log("clock: set from 10.98.0.1", Duration::from_secs(180)),
        "the appliance's clock was not set by SNTP:\n{}",
        vm.log()
    );
    let log = vm.log();
    let step = log
        .lines()
        .find(|l| l.contains("clock: set from 10.98.0.1"))
        .and_then(|l| l.rsplit(": ").next())
        .and_then(|s| {
            s.trim()
                .trim_end_matches(" s")
                .trim_start_matches('+')
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no step in the clock's line:\n{log}"));
    assert!(step > 20.0 * 365.0 * 86_400.0, "stepped {step} s:\n{log}");
    assert!(
        vm.wait_log("clock: RTC set", Duration::from_secs(30)),
        "the board's RTC was not set:\n{}",
        vm.log()
    );
    // The kernel tells the lease servers that the clock was set (a
    // timerfd cancelled on set): each moves its lease times by the step.
    assert!(
        vm.wait_log("dhcp default: the clock moved +", Duration::from_secs(30)),
        "the DHCP server did not move its lease times with the clock:\n{}",
        vm.log()
    );
    assert!(
        guest.wait_log("guest: www.upstream.test is", Duration::from_secs(150)),
        "{}",
        guest.log()
    );
    assert!(
        guest.log().contains("guest: www.upstream.test is 10.98.0.80"),
        "the guest could not resolve through the appliance:\n{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    assert!(
        guest.wait_log("guest: 10.98.0.1:8080 answered:", Duration::from_secs(150)),
        "{}",
        guest.log()
    );
    assert!(
        guest
            .log()
            .contains("guest: 10.98.0.1:8080 answered: hello from the guest"),
        "the guest could not reach the outside:\n{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    let peer = srv.peers()[0].ip().to_string();
    assert!(
        peer.starts_with("10.98.0.5") || peer.starts_with("10.98.0.6"),
        "the outside saw {peer}, not the appliance's uplink address"
    );
    // The status page, opened from the guest with the password: its lease
    // table lists the guest.
    assert!(
        guest.wait_log("guest: the status page lists", Duration::from_secs(150)),
        "{}",
        guest.log()
    );
    assert!(
        vm.log()
            .contains(&format!("user netagent, password {PAGE_PASSWORD}")),
        "the console does not show the status page's password:\n{}",
        vm.log()
    );
    assert!(
        guest
            .log()
            .contains("guest: the status page lists 52:54:00:12:34:99"),
        "the guest did not see itself on the status page:\n{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    // IPv6: the disk's config came in by a reload; the guest made its
    // address from the appliance's advertisement and reaches the outside
    // over IPv6, masqueraded to the uplink's own SLAAC address.
    assert!(
        guest.wait_log("answered over IPv6:", Duration::from_secs(240)),
        "{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    assert!(
        guest.log().contains("guest: IPv6 address fd00:122:")
            && guest
                .log()
                .contains(&format!("guest: {probe6} answered over IPv6: hello over IPv6")),
        "the guest did not reach the outside over IPv6:\n{}\nappliance:\n{}",
        guest.log(),
        vm.log()
    );
    let peer6 = srv6.peers()[0].ip().to_string();
    assert!(
        peer6.starts_with("fd00:98:"),
        "the outside saw {peer6}, not the uplink's address"
    );
    drop(guest);

    // A NIC plugged in while the appliance runs: its driver (8139too, not
    // loaded at boot) comes from the uevent's modalias, and the NIC joins
    // virbr0 as the default config's `@nics` says.
    vm.monitor("netdev_add tap,id=hp,ifname=qhp0,script=no,downscript=no");
    vm.monitor("device_add rtl8139,netdev=hp,id=hpnic");
    assert!(
        vm.wait_log("module 8139too loaded", Duration::from_secs(60)),
        "no driver loaded for the hot-plugged NIC:\n{}",
        vm.log()
    );
    assert!(
        vm.wait_log("bridge virbr0: port eth2 added", Duration::from_secs(60)),
        "the hot-plugged NIC did not join virbr0:\n{}",
        vm.log()
    );

    let status = vm.power_off(Duration::from_secs(90));
    assert!(
        status.is_some_and(|s| s.success()),
        "QEMU did not exit on the power button:\n{}",
        vm.log()
    );
    assert!(vm.log().contains("power button pressed"));
    let _ = ntp.kill();
    let _ = ntp.wait();
    let _ = dns.kill();
    let _ = dns.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qemu_broken_config_on_the_disk_falls_back_to_the_default() {
    need_root!("qemu_broken_config_on_the_disk_falls_back_to_the_default");
    let (dir, disk) = disk_copy();
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
    let mut vm = boot(&out, &dir, Boot::Direct(Some(&disk)), "qup1", Lan::Tap("qlan1"));
    assert!(
        vm.wait_log("dhcp default: serving", Duration::from_secs(240)),
        "{}",
        vm.log()
    );
    // Booted straight from the kernel, the appliance serves the default at
    // once and checks the disk's config as the disk appears.
    assert!(
        vm.wait_log("RUNNING THE EMBEDDED DEFAULT", Duration::from_secs(60)),
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
    // Ctrl-Alt-Del reaches PID 1 as SIGINT (the kernel's own reboot is
    // off): netagent stops, then reboots, which ends QEMU (-no-reboot).
    vm.monitor("sendkey ctrl-alt-delete");
    let ended = vm.wait_exit(Duration::from_secs(60));
    assert!(ended.is_some(), "Ctrl-Alt-Del did not reboot:\n{}", vm.log());
    assert!(
        vm.log().contains("netagent: Ctrl-Alt-Del: rebooting"),
        "{}",
        vm.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qemu_uefi_boot_applies_the_config_on_the_fat_partition() {
    need_root!("qemu_uefi_boot_applies_the_config_on_the_fat_partition");
    let (dir, disk) = disk_copy();
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
    // Then netagent.toml alone edited on the partition, as a user does on
    // another machine without set-config.sh: the boot copy (the second
    // initrd) still has the range above; the appliance serves that at
    // once, reads the partition once its disk appears and applies the
    // difference.
    let edited = dir.join("edited.toml");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&mine).expect("route.toml").replace(
            "192.168.100.128-192.168.100.254",
            "192.168.100.128-192.168.100.200",
        ),
    )
    .expect("write");
    ok(std::process::Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(&edited)
        .arg("::/netagent.toml"));
    // A second disk with a config of its own, first in name order (sda):
    // the config comes from the partition systemd-boot loaded from.
    let stick = dir.join("stick.img");
    std::fs::File::create(&stick)
        .and_then(|f| f.set_len(4 << 20))
        .expect("stick image");
    ok(std::process::Command::new("mkfs.fat").arg(&stick));
    ok(std::process::Command::new("mcopy")
        .arg("-i")
        .arg(&stick)
        .arg(common::repo_root().join("config/isolated.toml"))
        .arg("::/netagent.toml"));
    let out = Netns::new("qo");
    let mut vm = boot(
        &out,
        &dir,
        Boot::Uefi(&disk, Some(&stick)),
        "qup2",
        Lan::TapE1000("qlan2"),
    );
    let mut dns = outside(&out, &dir, "qup2");
    assert!(
        vm.wait_log("networks are up", Duration::from_secs(400)),
        "{}",
        vm.log()
    );
    assert!(
        vm.wait_log(
            "differs from the boot copy of netagent.toml: applying it",
            Duration::from_secs(120)
        ),
        "the partition's edited netagent.toml was not applied:\n{}",
        vm.log()
    );
    assert!(
        vm.wait_log(
            "192.168.100.128-192.168.100.254 -> 192.168.100.128-192.168.100.200",
            Duration::from_secs(60)
        ),
        "the reload did not change the range:\n{}",
        vm.log()
    );
    let log = vm.log();
    assert!(log.contains("serving the boot copy of netagent.toml"), "{log}");
    assert!(
        log.contains("booted from partition 4e455447-4147-454e-5400-000000000002")
            && log.contains("boot disk: /dev/vda1 has netagent.toml"),
        "{log}"
    );
    // Serving came before any disk driver: the disks' and FAT's drivers
    // load once the agent says it serves.
    let at = |what: &str| {
        log.find(what)
            .unwrap_or_else(|| panic!("no `{what}` on the console:\n{log}"))
    };
    for later in [
        "module virtio_blk loaded",
        "module vfat loaded",
        "boot disk: /dev/vda1",
    ] {
        assert!(
            at("dhcp routed: serving") < at(later),
            "`{later}` before serving:\n{log}"
        );
    }
    // PID 1 to serving by the kernel's clock (BENCHMARKS.md, appliance boot).
    let secs = |line_has: &str, after: &str| since_boot(&log, line_has, after);
    if let (Some(i), Some(s)) = (
        secs("starting as PID 1", "PID 1 ("),
        secs("dhcp routed: serving", "leases kept; "),
    ) {
        eprintln!(
            "UEFI from disk: PID 1 to DHCP serving: {:.3} s (TCG, 2 vCPUs)",
            s - i
        );
    }
    assert!(
        !log.contains("network isolated"),
        "the stick's config was applied:\n{log}"
    );
    // Mixed NICs: the e1000 on slot 9 loads first and may take eth0; `auto`
    // takes the virtio NIC on the lowest slot as the uplink all the same,
    // the NIC table says so, and the uplink gets its lease from outside.
    // (The table follows "networks are up" on the console: wait for it.)
    let row = |log: &str| {
        log.lines()
            .find(|l| l.contains("virtio_net") && l.contains(" uplink"))
            .unwrap_or_default()
            .to_string()
    };
    let _ = wait_for(Duration::from_secs(30), || !row(&vm.log()).is_empty());
    let log = vm.log();
    let uplink_row = row(&log);
    assert!(
        !uplink_row.is_empty(),
        "no NIC table with a virtio uplink:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("e1000") && l.contains("0000:00:09.0") && l.contains("unused")),
        "{log}"
    );
    eprintln!("NIC table, uplink row: {uplink_row}");
    assert!(
        vm.wait_log("leased 10.98.0.", Duration::from_secs(120)),
        "the uplink got no lease from outside:\n{}",
        vm.log()
    );
    assert!(
        log.contains("network routed: route on virbr1 (192.168.100.1/24)"),
        "{log}"
    );
    let status = vm.power_off(Duration::from_secs(90));
    assert!(status.is_some_and(|s| s.success()), "{}", vm.log());
    let _ = dns.kill();
    let _ = dns.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
