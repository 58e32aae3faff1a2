//! A network's answer cache, shared by its UDP sockets and its TCP
//! listener. Each answer that may be reused (local names for their TTL,
//! forwarded answers for theirs) is kept as bytes, keyed by the question
//! and the shape of the client it was built for; a repeated question is
//! answered by copying those bytes with the new ID and the question as the
//! client wrote it, without decoding anything. Only whole answers are
//! kept (never a truncated one), so any of them serves a TCP client too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::answer::Answer;
use super::wire::{age_ttls, reusable_for, ttl_offsets, Question, Shape};

/// Entries kept before the cache starts over (bounded memory under floods
/// of unique names).
const CACHE_MAX: usize = 10_000;

/// The question (name in lower case, type) and the shape of the client it
/// was built for, as `Question::write_key` writes them: one allocation per
/// entry, and a lookup that allocates nothing.
pub(crate) type Key = Box<[u8]>;

struct Cached {
    bytes: Vec<u8>,
    /// Where its TTLs sit, to count them down on replay.
    ttls: Vec<usize>,
    stored: Instant,
    until: Instant,
    generation: u64,
}

#[derive(Default)]
pub(crate) struct Cache {
    entries: Mutex<HashMap<Key, Cached>>,
}

/// The cache, locked for a batch of lookups.
pub(crate) struct Locked<'a>(std::sync::MutexGuard<'a, HashMap<Key, Cached>>);

impl Cache {
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked(self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keep `a`, the answer to the question keyed `key`, if it may be
    /// replayed to clients of that key's shape; how many are kept now.
    pub(crate) fn keep(&self, key: Key, a: Answer, generation: u64) -> usize {
        if !Shape::of_key(&key).is_some_and(|s| reusable_for(&a.bytes, s)) {
            return self.lock().0.len();
        }
        let (Some(ttl), Some(offsets)) = (a.reusable, ttl_offsets(&a.bytes)) else {
            return self.lock().0.len();
        };
        let ttls = if a.fixed_ttl { Vec::new() } else { offsets };
        let mut c = self.lock();
        if c.0.len() >= CACHE_MAX {
            c.0.clear();
        }
        let now = Instant::now();
        c.0.insert(
            key,
            Cached {
                bytes: a.bytes,
                ttls,
                stored: now,
                until: now + ttl,
                generation,
            },
        );
        c.0.len()
    }
}

impl Locked<'_> {
    /// The cached answer to `q` (whose key is `key`), written into `out`
    /// as the client `query` is owed it: its ID, its RD bit, its question
    /// as it wrote it, each TTL counted down by the time the answer was
    /// kept.
    pub(crate) fn replay(
        &self,
        key: &[u8],
        q: &Question<'_>,
        query: &[u8],
        now: Instant,
        generation: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(e) = self
            .0
            .get(key)
            .filter(|e| e.generation == generation && e.until > now)
        else {
            return false;
        };
        out.extend_from_slice(&e.bytes);
        // A record kept for 20 s says 20 s less (RFC 1035 §3.2.1).
        let aged = u32::try_from(now.duration_since(e.stored).as_secs()).unwrap_or(u32::MAX);
        age_ttls(out, &e.ttls, aged);
        out[..2].copy_from_slice(&query[..2]);
        // RD as the client set it; the question as the client wrote it.
        out[2] = (out[2] & !1) | (query[2] & 1);
        out[12..12 + q.section.len()].copy_from_slice(q.section);
        true
    }
}
