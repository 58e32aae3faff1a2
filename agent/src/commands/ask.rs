//! The commands that ask the running agent over its control socket and
//! print its answer: `list`, `info`, `status`, `reload`, `diff`.

use std::path::{Path, PathBuf};

use netagent::control::{self, client, proto, proto::Request, view};
use netagent::daemon;

use super::CmdError;

/// Ask the running agent; print its answer as JSON or through `text`.
fn ask(
    state_dir: &Path,
    req: Request,
    json: bool,
    text: impl FnOnce(serde_json::Value) -> Result<String, serde_json::Error>,
) -> Result<(), CmdError> {
    let r = client::call(&control::socket_path(state_dir), &req)?;
    if !r.ok {
        return Err(CmdError::Refused(
            r.error.unwrap_or_else(|| "the agent refused".into()),
        ));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r.data)?);
    } else {
        print!("{}", text(r.data)?);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct List {
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

impl List {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        ask(&self.state_dir, Request::List, self.json, |v| {
            let rows: Vec<proto::NetworkRow> = serde_json::from_value(v)?;
            Ok(view::list_text(&rows))
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Info {
    /// The network to show; without one, the NICs and their roles.
    network: Option<String>,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

impl Info {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let Some(network) = self.network else {
            return ask(&self.state_dir, Request::Nics, self.json, |v| {
                Ok(view::nics_text(&serde_json::from_value::<Vec<proto::NicRow>>(v)?))
            });
        };
        ask(&self.state_dir, Request::Info { network }, self.json, |v| {
            Ok(view::info_text(&serde_json::from_value(v)?))
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Status {
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

impl Status {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        ask(&self.state_dir, Request::Status, self.json, |v| {
            Ok(view::status_text(
                &serde_json::from_value(v)?,
                netagent::util::time::now(),
            ))
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Reload {
    /// Only print what would change.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

impl Reload {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        let req = Request::Reload {
            dry_run: self.dry_run,
            file: None,
        };
        ask(&self.state_dir, req, self.json, |v| {
            Ok(view::reload_text(&serde_json::from_value(v)?))
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Diff {
    file: PathBuf,
    #[arg(long, default_value = daemon::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

impl Diff {
    pub(crate) fn run(self) -> Result<(), CmdError> {
        // The agent reads the file itself: give it a path it can open.
        let file = std::path::absolute(&self.file).unwrap_or(self.file);
        let req = Request::Reload {
            dry_run: true,
            file: Some(file),
        };
        ask(&self.state_dir, req, self.json, |v| {
            Ok(view::reload_text(&serde_json::from_value(v)?))
        })
    }
}
