//! A real libvirt host for the drop-in tests: libvirtd 9 and virtlogd in a
//! network namespace of their own and a mount namespace of their own
//! (tmpfs over libvirt's directories: its configs, state, sockets and
//! hooks), so several tests run side by side and nothing of the host's is
//! touched. Domains are diskless QEMU guests under TCG whose iPXE ROM asks
//! for DHCP. Everything started in the namespaces is killed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::topo::wait_for;
use super::{ok, unique, Netns};

/// First line of every test that runs libvirt: skip (as a normal user, or
/// where libvirt is not installed) or go on.
#[macro_export]
macro_rules! need_libvirt {
    ($name:literal) => {
        if !common::have_root($name) || !common::libvirt::have_libvirt($name) {
            return;
        }
    };
}

/// Whether libvirt is here; as `have_root`: a skip with a word, or, under
/// NETAGENT_TESTS_NEED_ROOT, a failure.
pub fn have_libvirt(test: &str) -> bool {
    let found = [
        "/usr/sbin/libvirtd",
        "/usr/sbin/virtlogd",
        "/usr/bin/virsh",
        "/usr/bin/qemu-system-x86_64",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if found {
        return true;
    }
    assert!(
        std::env::var_os("NETAGENT_TESTS_NEED_ROOT").is_none(),
        "{test}: needs libvirt (libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients, qemu-system-x86; `make deps` installs them)"
    );
    eprintln!("{test}: skipped, libvirt is not installed");
    false
}

/// libvirt's directories, each a tmpfs of this host's own.
const PRIVATE: [&str; 5] = [
    "/etc/libvirt",
    "/var/lib/libvirt",
    "/run/libvirt",
    "/var/log/libvirt",
    "/var/cache/libvirt",
];

/// As the recipe has it, plus `namespaces = [ ]`: libvirt would
/// start each QEMU in a mount namespace of its own, out of the host's
/// sight at cleanup.
const QEMU_CONF: &str = "user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\ncgroup_controllers = [ ]\nstdio_handler = \"file\"\nnamespaces = [ ]\n";

pub struct LibvirtHost {
    pub ns: Netns,
    /// A process that holds the mount namespace (`sleep infinity`).
    holder: Child,
    pub dir: PathBuf,
}

impl LibvirtHost {
    /// A namespace with libvirtd running in it.
    pub fn start() -> LibvirtHost {
        let ns = Netns::new("lv");
        let mounts: String = PRIVATE
            .iter()
            .map(|d| format!("mkdir -p {d} && mount -t tmpfs -o mode=0755 libvirt-test {d} && "))
            .collect();
        let script = format!(
            "{mounts}printf '{}' > /etc/libvirt/qemu.conf && exec sleep infinity",
            QEMU_CONF.replace('\n', "\\n")
        );
        let holder = ns
            .cmd("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the mount namespace's holder");
        let dir = std::env::temp_dir().join(unique("netagent-libvirt-"));
        std::fs::create_dir_all(&dir).expect("test dir");
        let host = LibvirtHost { ns, holder, dir };
        let pid = host.holder.id();
        let ready = wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        });
        assert!(ready.is_some(), "the mount namespace did not come up");
        ok(host
            .cmd("virtlogd")
            .args(["-d", "-p", "/run/libvirt/virtlogd.pid"]));
        host.start_libvirtd();
        host
    }

    /// `prog` run inside this host's network and mount namespaces.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "-n", "--", prog]);
        c
    }

    pub fn virsh(&self, args: &[&str]) -> String {
        ok(self.cmd("virsh").arg("--quiet").args(args))
    }

    pub fn try_virsh(&self, args: &[&str]) -> Output {
        self.cmd("virsh")
            .arg("--quiet")
            .args(args)
            .output()
            .expect("run virsh")
    }

    pub fn start_libvirtd(&self) {
        ok(self
            .cmd("libvirtd")
            .args(["-d", "-p", "/run/libvirt/libvirtd.pid"]));
        let up = wait_for(Duration::from_secs(20), || {
            self.try_virsh(&["version"]).status.success()
        });
        assert!(up.is_some(), "libvirtd did not answer");
    }

    /// libvirtd's pid.
    pub fn libvirtd(&self) -> Option<i32> {
        self.procs()
            .into_iter()
            .find(|(_, c)| c.split('\0').next().is_some_and(|p| p.ends_with("libvirtd")))
            .map(|(p, _)| p)
    }

    /// The processes in this host's mount or network namespace (libvirt
    /// may give QEMU a mount namespace of its own): (pid, command line).
    pub fn procs(&self) -> Vec<(i32, String)> {
        let ns = |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
        let holder = self.holder.id().to_string();
        let (mnt, net) = (ns(&holder, "mnt"), ns(&holder, "net"));
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<i32>() else {
                continue;
            };
            if name == holder || (ns(&name, "mnt") != mnt && ns(&name, "net") != net) {
                continue;
            }
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            out.push((pid, cmdline));
        }
        out
    }

    /// Whether a dnsmasq of libvirt's serves network `name`.
    pub fn dnsmasq_of(&self, name: &str) -> bool {
        let conf = format!("/var/lib/libvirt/dnsmasq/{name}.conf");
        self.procs()
            .iter()
            .any(|(_, c)| c.contains("dnsmasq") && c.contains(&conf))
    }

    /// Write `body` to `path` inside the host (its private directories).
    pub fn write(&self, path: &str, body: &str) {
        let mut c = self.cmd("sh");
        c.args(["-c", "cat > \"$0\"", path]).stdin(Stdio::piped());
        let mut child = c.spawn().expect("spawn sh");
        {
            use std::io::Write;
            let mut i = child.stdin.take().expect("stdin");
            i.write_all(body.as_bytes()).expect("write");
        }
        assert!(child.wait().expect("wait").success(), "write {path}");
    }

    pub fn read(&self, path: &str) -> String {
        let out = self.cmd("cat").arg(path).output().expect("cat");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Define and start a NAT network libvirt runs.
    pub fn nat_network(&self, name: &str, bridge: &str, third: u8, extra: &str) {
        let xml = format!(
            "<network>\n  <name>{name}</name>\n  <forward mode='nat'/>\n  <bridge name='{bridge}' stp='on' delay='0'/>\n  <mac address='52:54:00:aa:{third:02x}:01'/>\n  <domain name='lab{third}'/>\n{extra}  <ip address='192.168.{third}.1' netmask='255.255.255.0'>\n    <dhcp>\n      <range start='192.168.{third}.2' end='192.168.{third}.254'/>\n    </dhcp>\n  </ip>\n</network>\n"
        );
        let path = format!("/run/libvirt/{name}.xml");
        self.write(&path, &xml);
        self.virsh(&["net-define", &path]);
        self.virsh(&["net-start", name]);
        self.virsh(&["net-autostart", name]);
    }

    /// Define a diskless domain on network `network` that boots from the
    /// network (iPXE asks for DHCP), with MAC `mac`.
    pub fn domain(&self, name: &str, network: &str, mac: &str) {
        let xml = format!(
            "<domain type='qemu'>\n  <name>{name}</name>\n  <memory unit='MiB'>96</memory>\n  <vcpu>1</vcpu>\n  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os>\n  <devices>\n    <interface type='network'>\n      <source network='{network}'/>\n      <mac address='{mac}'/>\n      <model type='virtio'/>\n    </interface>\n    <serial type='pty'/>\n  </devices>\n</domain>\n"
        );
        let path = format!("/run/libvirt/{name}.domain.xml");
        self.write(&path, &xml);
        self.virsh(&["define", &path]);
    }

    /// The address libvirt's lease file for `bridge` gives `mac`, if any.
    pub fn status_lease(&self, bridge: &str, mac: &str) -> Option<String> {
        let text = self.read(&format!("/var/lib/libvirt/dnsmasq/{bridge}.status"));
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.as_array()?
            .iter()
            .find(|l| l.get("mac-address").and_then(|m| m.as_str()) == Some(mac))
            .and_then(|l| l.get("ip-address")?.as_str().map(String::from))
    }

    /// The tap libvirt made for `domain`'s interface.
    pub fn tap_of(&self, domain: &str) -> String {
        let out = self.virsh(&["domiflist", domain]);
        out.lines()
            .filter_map(|l| l.split_whitespace().next())
            .find(|t| t.starts_with("vnet"))
            .unwrap_or_default()
            .to_string()
    }

    /// The bridge `link` is a port of.
    pub fn master_of(&self, link: &str) -> Option<String> {
        let out = self.ns.ip(&["-o", "link", "show", "dev", link]);
        let after = out.split(" master ").nth(1)?;
        after.split_whitespace().next().map(String::from)
    }

    /// The ruleset outside netagent's own table, as text.
    pub fn foreign_rules(&self) -> String {
        let out = ok(self.ns.cmd("nft").args(["-s", "list", "ruleset"]));
        let mut keep = String::new();
        let mut ours = false;
        for line in out.lines() {
            if line.starts_with("table ") {
                ours = line.starts_with("table inet netagent");
            }
            if !ours {
                keep.push_str(line);
                keep.push('\n');
            }
        }
        keep
    }
}

impl Drop for LibvirtHost {
    fn drop(&mut self) {
        // QEMU, dnsmasq, libvirtd, virtlogd: whatever runs in the
        // namespaces goes with them (again, should libvirtd have started
        // something while the first round was killed).
        for _ in 0..3 {
            let left = self.procs();
            if left.is_empty() {
                break;
            }
            for (pid, _) in left {
                let _ = nix_kill(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nix_kill(pid: i32) -> std::io::Result<()> {
    // SAFETY: sending SIGKILL to a process of this test's own namespaces.
    match unsafe { libc::kill(pid, libc::SIGKILL) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}
