//! Questions on their way upstream, and the clients that asked the same
//! meanwhile. A second identical question (same name, type and client
//! shape) does not go upstream again: it waits for the first one's answer
//! and gets it as its own (its ID, its RD bit, its question as written).
//! Identical queries in flight at once are what a forger's birthday attack
//! needs (RFC 5452 §5), and a hundred guests booting at once would each
//! cost the upstream a query.

use std::collections::HashMap;
use std::net::SocketAddr;

/// Clients waiting on one question at most; past it a repeat is dropped
/// (its client asks again, and finds the answer cached).
pub(crate) const MAX_WAITERS: usize = 64;

#[derive(Default)]
pub(crate) struct InFlight {
    by_key: HashMap<Box<[u8]>, Vec<Waiter>>,
}

/// A client waiting on a question already asked.
pub(crate) struct Waiter {
    pub to: SocketAddr,
    /// The query's ID and its flags byte (for RD).
    head: [u8; 3],
    /// Its question section as written (case and all).
    section: Box<[u8]>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// Nobody asked this yet: the caller asks, and `finish`es it.
    First,
    /// Asked already: this client gets that answer.
    Waiting,
    /// Asked already, by too many: this query is dropped.
    Full,
}

impl InFlight {
    /// `query` (question section `section`, cache key `key`) from `to`.
    pub(crate) fn join(&mut self, key: &[u8], query: &[u8], section: &[u8], to: SocketAddr) -> Join {
        let Some(waiters) = self.by_key.get_mut(key) else {
            self.by_key.insert(key.into(), Vec::new());
            return Join::First;
        };
        if waiters.len() >= MAX_WAITERS || query.len() < 12 {
            return Join::Full;
        }
        waiters.push(Waiter {
            to,
            head: [query[0], query[1], query[2]],
            section: section.into(),
        });
        Join::Waiting
    }

    /// The question of `key` is done (answered, or given up): the clients
    /// that waited on it.
    pub(crate) fn finish(&mut self, key: &[u8]) -> Vec<Waiter> {
        self.by_key.remove(key).unwrap_or_default()
    }
}

impl Waiter {
    /// `answer` as this client is owed it.
    pub(crate) fn answer(&self, answer: &[u8]) -> Vec<u8> {
        let mut out = answer.to_vec();
        if out.len() >= 12 {
            out[..2].copy_from_slice(&self.head[..2]);
            out[2] = (out[2] & !1) | (self.head[2] & 1);
            let qd = u16::from_be_bytes([out[4], out[5]]);
            if let Some(q) = out.get_mut(12..12 + self.section.len()).filter(|_| qd == 1) {
                // Same key, so the same name up to case and the same type.
                if q.eq_ignore_ascii_case(&self.section) {
                    q.copy_from_slice(&self.section);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, rd: bool, name: &[u8]) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[u8::from(rd), 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(name);
        q.extend_from_slice(&[0, 1, 0, 1]);
        q
    }

    #[test]
    fn a_repeat_waits_for_the_first_and_gets_the_answer_as_its_own() {
        let mut f = InFlight::default();
        let key = b"\x03www\x07example\x00\x00\x01\x00";
        let (a, b): (SocketAddr, SocketAddr) =
            ("10.0.0.2:5000".parse().unwrap(), "10.0.0.3:6000".parse().unwrap());
        let first = query(1, true, b"\x03www\x07example\x00");
        let second = query(2, false, b"\x03WwW\x07example\x00");
        assert_eq!(f.join(key, &first, &first[12..], a), Join::First);
        assert_eq!(f.join(key, &second, &second[12..], b), Join::Waiting);
        // The first query's answer, as relayed to its client.
        let mut answer = first.clone();
        answer[2] |= 0x80;
        answer[3] = 0x80;
        let waiters = f.finish(key);
        assert_eq!(waiters.len(), 1);
        let theirs = waiters[0].answer(&answer);
        assert_eq!(waiters[0].to, b);
        assert_eq!(&theirs[..2], &[0, 2], "its own ID");
        assert_eq!(theirs[2], 0x80, "RD as it asked (not)");
        assert_eq!(&theirs[12..], &second[12..], "its question as written");
        // Done: the next one asks anew.
        assert_eq!(f.join(key, &first, &first[12..], a), Join::First);
    }

    #[test]
    fn waiters_are_bounded() {
        let mut f = InFlight::default();
        let key = b"k";
        let q = query(1, true, b"\x01a\x00");
        let to: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        assert_eq!(f.join(key, &q, &q[12..], to), Join::First);
        for _ in 0..MAX_WAITERS {
            assert_eq!(f.join(key, &q, &q[12..], to), Join::Waiting);
        }
        assert_eq!(f.join(key, &q, &q[12..], to), Join::Full);
        assert_eq!(f.finish(key).len(), MAX_WAITERS);
    }
}
