//! Helpers shared by the integration tests: the example configs, and
//! network namespaces that remove themselves when a test ends, even by panic.

#![allow(dead_code)]

pub mod clients;
pub mod dhcp;
pub mod libvirt;
pub mod span;
pub mod topo;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether this test may make network namespaces. As a normal user the
/// namespace tests skip with a word instead of failing; `make test` sets
/// NETAGENT_TESTS_NEED_ROOT=1, so there a skip is a failure.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var_os("NETAGENT_TESTS_NEED_ROOT").is_none(),
        "{test}: needs root (network namespaces), and NETAGENT_TESTS_NEED_ROOT is set"
    );
    eprintln!("{test}: skipped, needs root (network namespaces)");
    false
}

/// First line of every test that needs root: skip (as a normal user) or go on.
#[macro_export]
macro_rules! need_root {
    ($name:literal) => {
        if !common::have_root($name) {
            return;
        }
    };
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every example config under config/, sorted, as (stem, path).
pub fn example_configs() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(repo_root().join("config"))
        .expect("config/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            (
                p.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
                p,
            )
        })
        .collect();
    out.sort();
    out
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    out
}

/// Run and insist on success, showing stderr when it fails.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A veth pair: `a` in namespace `ns_a`, `b` in `ns_b`.
pub fn veth(a: &str, ns_a: &Netns, b: &str, ns_b: &Netns) {
    ok(Command::new("ip").args([
        "link", "add", a, "netns", &ns_a.name, "type", "veth", "peer", "name", b, "netns", &ns_b.name,
    ]));
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short name: tests run in parallel and interface names have 15 bytes.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}x{n}", std::process::id() % 100000)
}

/// A network namespace deleted on drop, with everything in it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        ok(Command::new("ip").args(["netns", "add", &name]));
        // `ip netns exec` mounts this over /etc/resolv.conf: DHCP clients
        // run in the namespace write here, never to the host's file.
        let etc = format!("/etc/netns/{name}");
        let _ = std::fs::create_dir_all(&etc);
        let _ = std::fs::write(format!("{etc}/resolv.conf"), "");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) -> String {
        ok(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command run inside the namespace.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, prog]);
        c
    }

    /// Run `prog args` in the namespace with `input` on stdin.
    pub fn exec_stdin(&self, prog: &str, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
        if let Some(mut i) = child.stdin.take() {
            i.write_all(input).expect("write stdin");
        }
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}
