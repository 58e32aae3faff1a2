//! The TCP side of a network's DNS server (RFC 7766 framing: a two-byte
//! length, then the message). Bounded by design, because every guest is
//! hostile: at most `MAX_CONNECTIONS` at once per network (more are closed
//! as they arrive), each query must arrive whole within `IDLE` of the
//! last answer, and a connection lives at most `LIFETIME` however often it
//! asks, so neither a flood of connections nor a trickle of queries can hold
//! sockets and tasks forever. (hickory-server's own TCP loop has neither a
//! cap nor a lifetime: its timeout restarts with each message.)

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use super::answer::{answer, Transport};
use super::udp::Shared;
use super::wire::question;

pub(crate) const MAX_CONNECTIONS: usize = 128;
const IDLE: Duration = Duration::from_secs(10);
const LIFETIME: Duration = Duration::from_secs(30);

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, network: String) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut full = false;
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                debug!("dns {network}: tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full {
                warn!(
                    "dns {network}: {MAX_CONNECTIONS} tcp connections open: closing new ones until some end"
                );
                full = true;
            }
            drop(stream);
            continue;
        };
        full = false;
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &shared).await {
                debug!("dns: tcp {from}: {e}");
            }
            drop(slot);
        });
    }
}

/// Answer queries on one connection, one at a time, until the client
/// closes it, is idle too long, sends something that is not a query, or
/// the connection's lifetime is over.
async fn connection(mut s: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let end = Instant::now() + LIFETIME;
    let mut key = Vec::with_capacity(260);
    let mut reply = Vec::new();
    let mut framed = Vec::new();
    loop {
        let until = (Instant::now() + IDLE).min(end);
        let Ok(len) = timeout_at(until, s.read_u16()).await else {
            return Ok(());
        };
        let mut query = vec![0u8; usize::from(len?)];
        if timeout_at(until, s.read_exact(&mut query)).await.is_err() {
            return Ok(());
        }
        reply.clear();
        let started = Instant::now();
        // From the cache the UDP side fills (and this side too), as a
        // repeated question over UDP is: the same answer, the same TTLs.
        let generation = shared.leases.generation();
        let q = question(&query);
        if let Some(q) = &q {
            shared.metrics.request(true, q.qtype);
            q.write_key(&mut key);
        }
        let cached = q.as_ref().is_some_and(|q| {
            shared
                .cache
                .lock()
                .replay(&key, q, &query, std::time::Instant::now(), generation, &mut reply)
        });
        if q.is_some() {
            shared.metrics.cache(cached);
        }
        if !cached {
            let zone = match shared.zone.read() {
                Ok(z) => z.clone(),
                Err(_) => return Ok(()),
            };
            let ups = shared.uplink_dns.read().map(|v| v.clone()).unwrap_or_default();
            // Not a query (hickory-proto refuses to decode it): the connection ends.
            let Some(a) = answer(
                &zone,
                &shared.leases,
                &ups,
                &shared.outgoing,
                &query,
                Transport::Tcp,
            )
            .await
            else {
                return Ok(());
            };
            reply.extend_from_slice(&a.bytes);
            if let Some(answered) = a.upstream {
                shared.metrics.upstream(answered);
            }
            if q.is_some() {
                let n = shared.cache.keep(Box::from(key.as_slice()), a, generation);
                shared.metrics.cache_entries(n);
            }
        }
        shared.metrics.response(&reply);
        shared.metrics.duration(started.elapsed().as_secs_f64());
        let Ok(n) = u16::try_from(reply.len()) else {
            return Ok(());
        };
        framed.clear();
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&reply);
        if timeout_at(
            until.max(Instant::now() + Duration::from_secs(1)),
            s.write_all(&framed),
        )
        .await
        .is_err()
        {
            return Ok(());
        }
        if Instant::now() >= end {
            return Ok(());
        }
    }
}
