//! libvirt through `virsh` (a C library's API, from a static binary: its
//! own client program is the stable way in). Each call names the network
//! and the step that failed, with virsh's own words.

use std::io::Write;
use std::process::{Command, Stdio};

use super::judge::Found;

#[derive(Debug, Clone)]
pub struct Virsh {
    /// `--connect URI`, as virsh takes it; None: virsh's default.
    pub uri: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VirshError {
    #[error("virsh cannot be run ({0}): install libvirt's client (Debian: libvirt-clients)")]
    Missing(std::io::Error),
    #[error("virsh {what}: {stderr}")]
    Failed { what: String, stderr: String },
}

impl Virsh {
    fn cmd(&self) -> Command {
        let mut c = Command::new("virsh");
        c.arg("--quiet");
        if let Some(u) = &self.uri {
            c.args(["--connect", u]);
        }
        c
    }

    /// Run `virsh ARGS` (with `input` on stdin) and return its stdout.
    fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, VirshError> {
        let mut c = self.cmd();
        c.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(VirshError::Missing)?;
        if let (Some(text), Some(mut i)) = (input, child.stdin.take()) {
            let _ = i.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(VirshError::Missing)?;
        if !out.status.success() {
            return Err(VirshError::Failed {
                what: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().replace('\n', " "),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every network libvirt knows, active or only defined.
    pub fn networks(&self) -> Result<Vec<Found>, VirshError> {
        let names = self.run(&["net-list", "--all", "--name"], None)?;
        let mut out = Vec::new();
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            out.push(self.network(name)?);
        }
        Ok(out)
    }

    /// One network: its definition and whether it runs, persists, starts
    /// at boot.
    pub fn network(&self, name: &str) -> Result<Found, VirshError> {
        let xml = self.run(&["net-dumpxml", "--inactive", name], None)?;
        let info = self.run(&["net-info", name], None)?;
        let flag = |key: &str| {
            info.lines()
                .filter_map(|l| l.split_once(':'))
                .any(|(k, v)| k.trim() == key && v.trim() == "yes")
        };
        Ok(Found {
            name: name.to_string(),
            xml,
            active: flag("Active"),
            autostart: flag("Autostart"),
            persistent: flag("Persistent"),
        })
    }

    /// Define (or redefine, same name and UUID) a network from its XML.
    pub fn define(&self, xml_file: &std::path::Path) -> Result<(), VirshError> {
        self.run(&["net-define", &xml_file.to_string_lossy()], None)
            .map(drop)
    }

    pub fn start(&self, name: &str) -> Result<(), VirshError> {
        self.run(&["net-start", name], None).map(drop)
    }

    /// Stop a network: for one libvirt runs, its dnsmasq, its rules and its
    /// bridge go.
    pub fn destroy(&self, name: &str) -> Result<(), VirshError> {
        self.run(&["net-destroy", name], None).map(drop)
    }

    pub fn autostart(&self, name: &str, on: bool) -> Result<(), VirshError> {
        let mut args = vec!["net-autostart", name];
        if !on {
            args.push("--disable");
        }
        self.run(&args, None).map(drop)
    }
}

/// libvirt reads its hook scripts when its daemon starts or reloads: tell
/// the daemons that run networks here (libvirtd, or virtnetworkd of the
/// modular daemons) to reload, as `systemctl reload` would. Only those in
/// this process's own network and mount namespaces: another namespace's
/// libvirt is another host's. Returns how many were told.
pub fn reload_daemons() -> usize {
    let ns = |pid: &str, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    let (net, mnt) = (ns("self", "net"), ns("self", "mnt"));
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut told = 0;
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        let Ok(n) = pid.parse::<i32>() else { continue };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !matches!(comm.trim(), "libvirtd" | "virtnetworkd") {
            continue;
        }
        if ns(&pid, "net") != net || ns(&pid, "mnt") != mnt {
            continue;
        }
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(n), nix::sys::signal::Signal::SIGHUP).is_ok() {
            told += 1;
        }
    }
    told
}
