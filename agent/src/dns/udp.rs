//! The UDP side of a network's DNS server. Each answer that may be reused
//! (local names for their TTL, forwarded answers for theirs) is kept as
//! bytes, keyed by the question; a repeated question is answered by copying
//! those bytes with the new ID and the question as the client wrote it,
//! without decoding anything. New questions take the full path in their own
//! task, so a slow upstream never holds up local answers.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tracing::debug;

use super::answer::{answer, Transport};
use super::cache::{Cache, Key};
use super::inflight::{InFlight, Join};
use super::wire::{question, servfail_into};
use super::zone::{LeaseNames, Zone};
use crate::util::mmsg;
use crate::util::shelf::Shelf;

/// Queries taken or answered per system call at most.
const BATCH: usize = 32;
/// The largest query kept: a query is one question and an OPT record
/// (a few hundred bytes with padding and cookies), far below this.
const QUERY_MAX: usize = 2048;
type Inbox = mmsg::Inbox<BATCH, QUERY_MAX>;
type Outbox = mmsg::Outbox<BATCH>;
/// Every network's socket borrows its batch buffers (`shelf`).
static INBOXES: Shelf<Inbox> = Shelf::new(Inbox::new);
static OUTBOXES: Shelf<Outbox> = Shelf::new(Outbox::new);

pub(crate) struct Shared {
    pub zone: Arc<RwLock<Arc<Zone>>>,
    pub leases: Arc<LeaseNames>,
    pub uplink_dns: Arc<RwLock<Vec<std::net::IpAddr>>>,
    /// The sockets forwarded queries leave from, shared by every network.
    pub outgoing: Arc<super::outgoing::Outgoing>,
    /// The network's answer cache, for UDP and TCP alike.
    pub cache: Cache,
    pub metrics: crate::metrics::Dns,
}

/// Questions on the full path at once, per network. Past it a new question
/// gets SERVFAIL at once: a flood of random names toward a black-holed
/// upstream holds a bounded number of tasks and sockets, and cached answers
/// keep flowing.
const IN_FLIGHT: usize = 1024;

/// Serve the UDP socket: take the queries that have queued (a batch per
/// system call, see `mmsg`), answer the repeated ones from the cache in
/// one batch, and send each new question down the full path in its own task.
pub(crate) async fn serve(sock: Arc<AsyncFd<UdpSocket>>, shared: Arc<Shared>) {
    let inflight: Arc<Mutex<InFlight>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut key = Vec::with_capacity(260);
    let v6 = sock.get_ref().local_addr().is_ok_and(|a| a.is_ipv6());
    loop {
        let mut ready = match sock.readable().await {
            Ok(r) => r,
            Err(e) => {
                debug!("dns: receive: {e}");
                continue;
            }
        };
        // Lent for this batch only: back on the shelf before the next wait.
        let mut inbox = INBOXES.take();
        match inbox.recv(sock.get_ref().as_fd(), v6) {
            // Fewer than a batch: the queue was empty when the call
            // returned, so a datagram that comes later wakes us anew
            // (the socket is edge-triggered), and the empty call that
            // would find that out can be spared.
            Ok(n) if n < BATCH => ready.clear_ready(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                ready.clear_ready();
                continue;
            }
            Err(e) => {
                // Waiting for the next datagram rather than spinning on an
                // error that may last.
                debug!("dns: receive: {e}");
                ready.clear_ready();
                continue;
            }
        }
        drop(ready);
        let mut outbox = OUTBOXES.take();
        outbox.clear();
        let now = Instant::now();
        let generation = shared.leases.generation();
        let mut replayed = 0;
        {
            let c = shared.cache.lock();
            for (query, from) in inbox.iter() {
                let q = question(query);
                if let Some(q) = &q {
                    shared.metrics.request(false, q.qtype);
                    q.write_key(&mut key);
                    if let Some(out) = outbox.next(from) {
                        if c.replay(&key, q, query, now, generation, out) {
                            shared.metrics.cache(true);
                            replayed += 1;
                            shared.metrics.response(out);
                            continue;
                        }
                        outbox.unpush();
                    }
                    shared.metrics.cache(false);
                }
                let key = q.as_ref().map(|_| Key::from(key.as_slice()));
                // The same question already on its way: wait for its answer.
                if let (Some(k), Some(q)) = (&key, &q) {
                    let mut f = inflight.lock().unwrap_or_else(|e| e.into_inner());
                    if f.join(k, query, q.section, from) != Join::First {
                        continue;
                    }
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    if let Some(k) = &key {
                        inflight.lock().unwrap_or_else(|e| e.into_inner()).finish(k);
                    }
                    if let Some(out) = outbox.next(from) {
                        if servfail_into(query, out) {
                            shared.metrics.response(out);
                        } else {
                            outbox.unpush();
                        }
                    }
                    continue;
                };
                let query = query.to_vec();
                let (sock, shared, inflight) = (sock.clone(), shared.clone(), inflight.clone());
                tokio::spawn(async move {
                    full_path(sock.get_ref(), &shared, &inflight, key, &query, from).await;
                    drop(slot);
                });
            }
        }
        flush(sock.get_ref(), &mut outbox);
        // The cache's answers took the batch's time, from its receipt to
        // its send.
        shared.metrics.durations(replayed, now.elapsed().as_secs_f64());
    }
}

/// Send the batch's answers. The socket is watched for reading only (so
/// the kernel does not wake the loop each time a sent datagram leaves its
/// buffer); a send buffer too full to take an answer now means the host
/// is overwhelmed, and that answer is dropped as a lost datagram would be
/// (the client asks again).
fn flush(sock: &UdpSocket, out: &mut Outbox) {
    while !out.is_empty() {
        match out.send(sock.as_fd()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                debug!("dns: send buffer full: answers dropped");
                return;
            }
            // That answer was passed over; the rest go on.
            Err(e) => debug!("dns: send: {e}"),
        }
    }
}

/// A question's answer the long way (decoded, decided, relayed if need
/// be), to the client that asked it and to those that asked the same
/// meanwhile (`inflight`); kept for replay when it may be.
async fn full_path(
    sock: &UdpSocket,
    shared: &Shared,
    inflight: &Mutex<InFlight>,
    key: Option<Key>,
    query: &[u8],
    from: SocketAddr,
) {
    let generation = shared.leases.generation();
    let started = Instant::now();
    let zone = shared.zone.read().map(|z| z.clone()).ok();
    let ups = shared.uplink_dns.read().map(|v| v.clone()).unwrap_or_default();
    // Malformed queries are dropped here: hickory-proto refuses to decode them.
    let a = match &zone {
        Some(zone) => {
            answer(
                zone,
                &shared.leases,
                &ups,
                &shared.outgoing,
                query,
                Transport::Udp,
            )
            .await
        }
        None => None,
    };
    // Done with the question, answered or not: those who waited on it
    // get the same answer (a full send buffer drops one, see `flush`).
    if let Some(k) = &key {
        let waiters = inflight.lock().unwrap_or_else(|e| e.into_inner()).finish(k);
        if let Some(a) = &a {
            for w in &waiters {
                shared.metrics.response(&a.bytes);
                let _ = sock.send_to(&w.answer(&a.bytes), w.to);
            }
        }
    }
    let Some(a) = a else {
        return;
    };
    shared.metrics.duration(started.elapsed().as_secs_f64());
    if let Some(answered) = a.upstream {
        shared.metrics.upstream(answered);
    }
    shared.metrics.response(&a.bytes);
    let _ = sock.send_to(&a.bytes, from);
    if let Some(key) = key {
        shared
            .metrics
            .cache_entries(shared.cache.keep(key, a, generation));
    }
}
