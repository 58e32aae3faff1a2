//! The agent's end of the control socket. Each connection carries one
//! request; it is handed to the daemon's main loop, which owns the state, and
//! the answer goes back on the same connection.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::proto::{Request, Response};

pub(crate) type Call = (Request, oneshot::Sender<Response>);

/// The longest request line accepted; requests are a few dozen bytes.
const MAX_REQUEST: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("control socket {0}: another netagent is running and answering there")]
    InUse(PathBuf),
    #[error("control socket {path}: {action}: {err}")]
    Io {
        path: PathBuf,
        action: &'static str,
        err: std::io::Error,
    },
}

/// Bind the socket (root only: mode 0600) and serve it; requests arrive on
/// the returned channel.
pub(crate) fn listen(path: &Path) -> Result<mpsc::Receiver<Call>, ListenError> {
    let io = |action, err| ListenError::Io {
        path: path.to_path_buf(),
        action,
        err,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("create its directory", e))?;
    }
    if path.exists() {
        // A socket file left by an agent that died, or one still in use?
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(|e| io("remove the stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| io("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io("chmod 0600", e))?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(accept(listener, tx));
    Ok(rx)
}

async fn accept(listener: UnixListener, tx: mpsc::Sender<Call>) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::spawn(serve(conn, tx.clone()));
            }
            Err(e) => {
                warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Only root (or the user the agent runs as) may talk to the agent; the
/// file mode says so too, this holds even if the mode is changed.
fn allowed(conn: &UnixStream) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    conn.peer_cred().is_ok_and(|c| c.uid() == 0 || c.uid() == me)
}

async fn serve(mut conn: UnixStream, tx: mpsc::Sender<Call>) {
    let allowed = allowed(&conn);
    let (read, mut write) = conn.split();
    // The request is read even from a caller who is turned away, so that
    // its write never meets a closed socket and it gets the reason.
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
    let got = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    let answer = if !allowed {
        Response::error("permission denied: the netagent control socket is for root only")
    } else {
        match got {
            Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
                Ok(req) => {
                    debug!("control: {req:?}");
                    let (reply_tx, reply_rx) = oneshot::channel();
                    if tx.send((req, reply_tx)).await.is_err() {
                        Response::error("netagent is stopping")
                    } else {
                        reply_rx
                            .await
                            .unwrap_or_else(|_| Response::error("netagent dropped the request"))
                    }
                }
                Err(e) => Response::error(format!("bad request: {e}")),
            },
            Ok(Err(e)) => Response::error(format!("bad request: {e}")),
            Err(_) => Response::error("bad request: nothing received within 5 s"),
        }
    };
    let mut body = serde_json::to_vec(&answer).unwrap_or_default();
    body.push(b'\n');
    if let Err(e) = write.write_all(&body).await {
        debug!("control: reply: {e}");
    }
    let _ = write.shutdown().await;
}
