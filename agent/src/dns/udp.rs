//! The UDP side of a network's DNS server. Each answer that may be reused
//! (local names for their TTL, forwarded answers for theirs) is kept as
//! bytes, keyed by the question; a repeated question is answered by copying
//! those bytes with the new ID and the question as the client wrote it,
//! without decoding anything. New questions take the full path in their own
//! task, so a slow upstream never holds up local answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tracing::debug;

use super::answer::{answer, Transport};
use super::wire::{age_ttls, question, reusable_for, servfail, ttl_offsets, Shape};
use super::zone::{LeaseNames, Zone};

/// Entries kept before the cache starts over (bounded memory under floods
/// of unique names).
const CACHE_MAX: usize = 10_000;

/// The question (name, type) and the shape of the client it was built for.
type Key = (Vec<u8>, u16, Shape);

struct Cached {
    bytes: Arc<Vec<u8>>,
    /// Where its TTLs sit, to count them down on replay.
    ttls: Arc<Vec<usize>>,
    stored: Instant,
    until: Instant,
    generation: u64,
}

pub(crate) struct Shared {
    pub zone: Arc<RwLock<Arc<Zone>>>,
    pub leases: Arc<LeaseNames>,
    pub uplink_dns: Arc<RwLock<Vec<std::net::IpAddr>>>,
}

/// Questions on the full path at once, per network. Past it a new question
/// gets SERVFAIL at once: a flood of random names toward a black-holed
/// upstream holds a bounded number of tasks and sockets, and cached answers
/// keep flowing.
const IN_FLIGHT: usize = 1024;

pub(crate) async fn serve(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    let cache: Arc<Mutex<HashMap<Key, Cached>>> = Arc::new(Mutex::new(HashMap::new()));
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                debug!("dns: receive: {e}");
                continue;
            }
        };
        let query = &buf[..n];
        let q = question(query);
        if let Some(q) = &q {
            let hit = {
                let c = cache.lock().unwrap_or_else(|e| e.into_inner());
                c.get(&(q.key.clone(), q.qtype, q.shape()))
                    .filter(|e| e.generation == shared.leases.generation() && e.until > Instant::now())
                    .map(|e| (e.bytes.clone(), e.ttls.clone(), e.stored))
            };
            if let Some((bytes, ttls, stored)) = hit {
                let mut out = bytes.as_ref().clone();
                // A record kept for 20 s says 20 s less (RFC 1035 §3.2.1).
                let aged = u32::try_from(stored.elapsed().as_secs()).unwrap_or(u32::MAX);
                age_ttls(&mut out, &ttls, aged);
                out[..2].copy_from_slice(&query[..2]);
                // RD as the client set it; the question as the client wrote it.
                out[2] = (out[2] & !1) | (query[2] & 1);
                out[12..12 + q.section.len()].copy_from_slice(q.section);
                let _ = sock.send_to(&out, from).await;
                continue;
            }
        }
        let key = q.map(|q| {
            let shape = q.shape();
            (q.key, q.qtype, shape)
        });
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(reply) = servfail(query) {
                let _ = sock.send_to(&reply, from).await;
            }
            continue;
        };
        let query = query.to_vec();
        let (sock, shared, cache) = (sock.clone(), shared.clone(), cache.clone());
        tokio::spawn(async move {
            full_path(&sock, &shared, &cache, key, &query, from).await;
            drop(slot);
        });
    }
}

async fn full_path(
    sock: &UdpSocket,
    shared: &Shared,
    cache: &Mutex<HashMap<Key, Cached>>,
    key: Option<Key>,
    query: &[u8],
    from: SocketAddr,
) {
    let generation = shared.leases.generation();
    let zone = match shared.zone.read() {
        Ok(z) => z.clone(),
        Err(_) => return,
    };
    let ups = shared.uplink_dns.read().map(|v| v.clone()).unwrap_or_default();
    // Malformed queries are dropped here: hickory-proto refuses to decode them.
    let Some(a) = answer(&zone, &shared.leases, &ups, query, Transport::Udp).await else {
        return;
    };
    let _ = sock.send_to(&a.bytes, from).await;
    let Some(key) = key.filter(|k| reusable_for(&a.bytes, k.2)) else {
        return;
    };
    let (Some(ttl), Some(ttls)) = (a.reusable, ttl_offsets(&a.bytes)) else {
        return;
    };
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= CACHE_MAX {
        c.clear();
    }
    let now = Instant::now();
    c.insert(
        key,
        Cached {
            bytes: Arc::new(a.bytes),
            ttls: Arc::new(ttls),
            stored: now,
            until: now + ttl,
            generation,
        },
    );
}
