//! `netagent check FILE...`: every problem of every file, with file:line:col;
//! with `--hosts`, the files are several hosts' and must agree on the
//! networks they span.

use std::path::PathBuf;

use netagent::config;

use super::CmdError;

#[derive(Debug, clap::Args)]
pub(crate) struct Check {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The files are the configs of several hosts that span networks
    /// between them: their copies of each spanned network must agree.
    #[arg(long)]
    hosts: bool,
}

impl Check {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let links = host_links();
        let non_bridge = |name: &str| {
            let l = links.iter().find(|l| l.name == name)?;
            (!l.is_bridge()).then(|| l.kind.clone().unwrap_or_else(|| "network interface".into()))
        };
        let mut bad = Vec::new();
        let mut good = Vec::new();
        for f in &self.files {
            match config::load_on_host(Some(f), &non_bridge) {
                Ok((cfg, _)) => {
                    println!(
                        "{}: ok ({} network{})",
                        f.display(),
                        cfg.networks.len(),
                        if cfg.networks.len() == 1 { "" } else { "s" }
                    );
                    good.push((f.display().to_string(), cfg));
                }
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            return Err(CmdError::Check(bad));
        }
        if !self.hosts {
            return Ok(());
        }
        // Several hosts' files: their copies of each spanned network agree.
        let hosts: Vec<(String, &config::Config)> = good.iter().map(|(f, c)| (f.clone(), c)).collect();
        let d = config::hosts::disagreements(&hosts);
        if d.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Refused(d.join("\n")))
        }
    }
}

/// This host's links, to refuse a bridge name that is a NIC; none when the
/// kernel cannot be asked (the config checks stand on their own).
fn host_links() -> Vec<netagent::links::Link> {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return Vec::new();
    };
    rt.block_on(async {
        match netagent::links::Netlink::connect() {
            Ok(nl) => nl.links().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    })
}
