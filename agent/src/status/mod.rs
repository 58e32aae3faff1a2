//! The status page and `/metrics` over HTTP, off unless `[status]` is
//! configured. Read-only: each page asks the daemon's main loop the same
//! questions the control socket does (`status`, `list`, `nics`, `leases`),
//! and the control socket stays the only way to change anything.
//!
//! Every client is hostile: HTTP Basic before anything is read past the
//! headers, headers of at most 16 KiB, 5 s to send them, a connection
//! lives at most 30 s, and at most 64 at once (more are closed as they
//! arrive), so DHCP and DNS never wait on the page.

mod auth;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

use crate::config::Status as StatusConfig;
use crate::control::proto::Request as Ask;
use crate::control::server::Call;

/// Set by the appliance's PID 1 for the agent it runs.
pub(crate) const ON_APPLIANCE: &str = "NETAGENT_APPLIANCE";

const MAX_CONNECTIONS: usize = 64;
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const LIFETIME: Duration = Duration::from_secs(30);
/// hyper's smallest read buffer: a request's headers must fit.
const MAX_HEADERS: usize = 16 * 1024;

struct State {
    password: Option<String>,
    token: String,
    calls: mpsc::Sender<Call>,
}

/// Bind every `listen` address and serve them. An address a network's
/// bridge will carry is bound before the bridge has it (IP_FREEBIND).
pub(crate) fn start(
    cfg: &StatusConfig,
    calls: mpsc::Sender<Call>,
) -> std::io::Result<Vec<tokio::task::JoinHandle<()>>> {
    let state = Arc::new(State {
        password: cfg.password.clone(),
        token: auth::new_token(),
        calls,
    });
    let mut listeners = Vec::new();
    for a in &cfg.listen {
        let l =
            bind(*a).map_err(|e| std::io::Error::new(e.kind(), format!("status page {a}: listen: {e}")))?;
        listeners.push((l, *a));
    }
    // The appliance's console is where its owner reads the password (it
    // is also in netagent.toml on the boot disk); a host's log is not.
    let login = match (&cfg.password, std::env::var_os(ON_APPLIANCE).is_some()) {
        (Some(p), true) => format!("; user {}, password {p}", auth::USER),
        (Some(_), false) => format!("; user {}, the password in [status]", auth::USER),
        (None, _) => String::new(),
    };
    Ok(listeners
        .into_iter()
        .map(|(l, a)| {
            info!("status page: listening on http://{a}/ (metrics on /metrics){login}");
            tokio::spawn(accept(l, state.clone()))
        })
        .collect())
}

fn bind(a: SocketAddr) -> std::io::Result<TcpListener> {
    let s = socket2::Socket::new(socket2::Domain::for_address(a), socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    if a.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_freebind_v6(true)?;
    } else {
        s.set_freebind_v4(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&a.into())?;
    s.listen(128)?;
    TcpListener::from_std(s.into())
}

async fn accept(l: TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, from) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                debug!("status page: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(req, &state).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADERS)
                .serve_connection(TokioIo::new(stream), svc);
            match tokio::time::timeout(LIFETIME, conn).await {
                Ok(Err(e)) => debug!("status page: {from}: {e}"),
                Err(_) => debug!("status page: {from}: connection lived {LIFETIME:?}, closed"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

fn reply(code: StatusCode, kind: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn handle(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    let authorization = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    if !auth::allowed(authorization, state.password.as_deref()) {
        let mut r = reply(
            StatusCode::UNAUTHORIZED,
            TEXT,
            "netagent: the password is asked for\n",
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"netagent\", charset=\"UTF-8\""),
        );
        return r;
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::metrics::encode(),
        ),
        (&Method::GET | &Method::HEAD, "/") => {
            let json = req
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/json"));
            let Some(snap) = snapshot(state).await else {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    "netagent: busy, ask again\n",
                );
            };
            if json {
                let body = serde_json::to_vec_pretty(&snap).unwrap_or_default();
                reply(StatusCode::OK, "application/json", body)
            } else {
                reply(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    page::html(&snap, &state.token),
                )
            }
        }
        (&Method::POST, _) => {
            let token = req.headers().get("x-csrf-token").map(HeaderValue::as_bytes);
            if !auth::token_ok(token, &state.token) {
                return reply(
                    StatusCode::FORBIDDEN,
                    TEXT,
                    "netagent: no write without the page's token\n",
                );
            }
            reply(
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                "netagent: nothing is changed from here: use netagent's control socket\n",
            )
        }
        (&Method::GET | &Method::HEAD, _) => reply(StatusCode::NOT_FOUND, TEXT, "netagent: no such page\n"),
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "netagent: GET only\n"),
    }
}

/// Ask the daemon what the control socket would say.
async fn ask(state: &State, req: Ask) -> Option<serde_json::Value> {
    let (tx, rx) = oneshot::channel();
    state.calls.send((req, tx)).await.ok()?;
    let r = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .ok()?
        .ok()?;
    if !r.ok {
        warn!("status page: {}", r.error.unwrap_or_default());
        return None;
    }
    Some(r.data)
}

/// Networks shown in detail (services, uplink) at most; the rest as rows.
const DETAILED: usize = 64;

async fn snapshot(state: &State) -> Option<page::Snapshot> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let status = ask(state, Ask::Status).await?;
    let mut networks = ask(state, Ask::List).await?;
    if let Some(rows) = networks.as_array_mut() {
        for row in rows.iter_mut().take(DETAILED) {
            let Some(name) = row.get("name").and_then(|n| n.as_str()).map(str::to_string) else {
                continue;
            };
            if let Some(info) = ask(state, Ask::Info { network: name }).await {
                *row = info;
            }
        }
    }
    let since = status.get("since").and_then(|s| s.as_u64()).unwrap_or(now);
    Some(page::Snapshot {
        version: env!("CARGO_PKG_VERSION"),
        now,
        uptime_seconds: now.saturating_sub(since),
        status,
        networks,
        nics: ask(state, Ask::Nics).await?,
        leases: ask(state, Ask::Leases { network: None }).await?,
    })
}

/// The page as the config wants it: started, restarted on a reload that
/// changes `[status]`, stopped when the section goes.
#[derive(Debug)]
pub(crate) struct Page {
    calls: mpsc::Sender<Call>,
    running: Option<StatusConfig>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Why it does not listen (an address in use), for `status`.
    trouble: Option<String>,
}

impl Page {
    pub(crate) fn new(calls: mpsc::Sender<Call>) -> Page {
        Page {
            calls,
            running: None,
            tasks: Vec::new(),
            trouble: None,
        }
    }

    pub(crate) fn follow(&mut self, want: Option<&StatusConfig>) {
        if self.running.as_ref() == want && self.trouble.is_none() {
            return;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.running = want.cloned();
        self.trouble = None;
        let Some(cfg) = want else { return };
        match start(cfg, self.calls.clone()) {
            Ok(tasks) => self.tasks = tasks,
            Err(e) => {
                warn!("{e}");
                self.trouble = Some(e.to_string());
            }
        }
    }

    pub(crate) fn trouble(&self) -> Option<String> {
        self.trouble.clone()
    }
}
