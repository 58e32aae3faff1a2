//! The command line's end of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::proto::{Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No agent answers: the socket is missing or nobody listens on it.
    #[error("netagent is not running (no agent answers on {0})")]
    NotRunning(String),
    #[error("control socket {0}: permission denied: only root may talk to netagent")]
    Denied(String),
    #[error("control socket {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("control socket {path}: unreadable answer: {err}")]
    Decode { path: String, err: serde_json::Error },
}

/// Send one request and wait for its answer (a reload may take seconds).
pub fn call(socket: &Path, req: &Request) -> Result<Response, ClientError> {
    call_within(socket, req, Duration::from_secs(60))
}

/// `call`, giving up after `limit` without an answer.
pub fn call_within(socket: &Path, req: &Request, limit: Duration) -> Result<Response, ClientError> {
    let path = socket.display().to_string();
    let io = |err| ClientError::Io {
        path: path.clone(),
        err,
    };
    let mut conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning(path));
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(ClientError::Denied(path)),
        Err(e) => return Err(io(e)),
    };
    conn.set_read_timeout(Some(limit)).map_err(io)?;
    conn.set_write_timeout(Some(limit)).map_err(io)?;
    let mut body = serde_json::to_vec(req).map_err(|err| ClientError::Decode {
        path: path.clone(),
        err,
    })?;
    body.push(b'\n');
    // The agent may answer (and close) before it reads everything, as when
    // it turns a caller away: a failed write still leaves its answer to read.
    let written = conn.write_all(&body);
    let mut line = String::new();
    let read = BufReader::new(&conn).read_line(&mut line);
    if line.is_empty() {
        written.map_err(io)?;
        read.map_err(io)?;
    }
    serde_json::from_str(&line).map_err(|err| ClientError::Decode { path, err })
}
