//! Talking to FRR through its own `vtysh`: the thin shell around `sync`.
//! Each call is a child process (tens of milliseconds): callers run it on
//! tokio's blocking pool.

use std::process::Command;

use super::sync::{commands, parse_state, Conflict, FrrState};
use crate::plan::EvpnPlan;

#[derive(Debug, thiserror::Error)]
pub enum EvpnError {
    #[error("evpn: FRR's {vtysh} cannot be run: {source}; install FRR (Debian: apt install frr) and run zebra and bgpd")]
    NoVtysh { vtysh: String, source: std::io::Error },
    #[error("evpn: FRR ({frr}): {action}: {detail}")]
    Frr {
        frr: String,
        action: String,
        detail: String,
    },
    #[error("evpn: {0}")]
    Conflict(#[from] Conflict),
}

/// One FRR instance: its vtysh and its path space (`-N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frr {
    pub vtysh: String,
    pub pathspace: Option<String>,
}

impl Frr {
    pub fn of(p: &EvpnPlan) -> Frr {
        Frr {
            vtysh: p.vtysh.clone(),
            pathspace: p.pathspace.clone(),
        }
    }

    /// `vtysh -N hostb`, as errors name it.
    fn name(&self) -> String {
        match &self.pathspace {
            Some(p) => format!("{} -N {p}", self.vtysh),
            None => self.vtysh.clone(),
        }
    }

    /// Run `lines` in one vtysh; its output, or what went wrong. vtysh
    /// reports a refused command with a line starting with `%`.
    fn run(&self, lines: &[String], action: &str) -> Result<String, EvpnError> {
        let mut c = Command::new(&self.vtysh);
        if let Some(p) = &self.pathspace {
            c.args(["-N", p]);
        }
        for l in lines {
            c.args(["-c", l]);
        }
        let out = c.output().map_err(|source| EvpnError::NoVtysh {
            vtysh: self.vtysh.clone(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // vtysh warns about its own missing vtysh.conf on every call: not ours.
        let refused: Vec<&str> = stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| l.starts_with('%') && !l.contains("vtysh.conf"))
            .collect();
        if !out.status.success() || !refused.is_empty() {
            let detail = if refused.is_empty() {
                format!("{} {}", out.status, stderr.trim())
            } else {
                refused.join("; ")
            };
            return Err(EvpnError::Frr {
                frr: self.name(),
                action: action.into(),
                detail,
            });
        }
        Ok(stdout)
    }

    /// FRR's BGP sessions now.
    pub fn state(&self) -> Result<FrrState, EvpnError> {
        let nb = self.run(&["show bgp neighbors json".into()], "read the BGP sessions")?;
        let sum = self.run(
            &["show bgp l2vpn evpn summary json".into()],
            "read the EVPN sessions",
        )?;
        parse_state(&nb, &sum).map_err(|detail| EvpnError::Frr {
            frr: self.name(),
            action: "read the BGP sessions".into(),
            detail,
        })
    }

    /// Make FRR's sessions the plan's (none: remove netagent's); how many
    /// lines that took (0: nothing to change).
    pub fn sync(&self, want: Option<&EvpnPlan>, force: bool) -> Result<usize, EvpnError> {
        let have = self.state()?;
        let lines = commands(want, &have, force)?;
        if lines.is_empty() {
            return Ok(0);
        }
        self.run(&lines, "configure BGP EVPN")?;
        Ok(lines.len())
    }
}
