//! The sockets forwarded queries leave from. A socket made, bound,
//! registered and closed for every query was a third of the CPU a cache
//! miss cost (the profile of issue 16); a pool shares that cost without
//! giving up what the fresh socket bought:
//!
//! - Each socket is bound to a port the kernel picks at random and carries
//!   at most `USES` queries before a fresh one replaces it, and each query
//!   takes one of `POOL` sockets at random: a port learned from one answer
//!   (a guest can make us ask its own name server) is good for a few more
//!   queries, on one socket in `POOL`, each under a random ID.
//! - An answer is taken only from the address asked, under the ID given,
//!   for the question sent (RFC 5452 §9); anything else is dropped.
//! - Work is bounded: the callers hold one of a fixed number of in-flight
//!   slots, and a retired socket closes when its last query is answered or
//!   has given up.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;
use tracing::debug;

/// Sockets per address family.
pub(crate) const POOL: usize = 32;
/// Queries one socket carries before it is replaced.
pub(crate) const USES: u32 = 16;

/// The outgoing sockets of a daemon's DNS servers (both families).
#[derive(Default)]
pub(crate) struct Outgoing {
    v4: Mutex<Vec<Option<Arc<Port>>>>,
    v6: Mutex<Vec<Option<Arc<Port>>>>,
    /// Where netagent's own DNS servers listen: never asked (a query
    /// would come back to be forwarded again, and again).
    own: Mutex<Vec<std::net::IpAddr>>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outgoing")
    }
}

/// One outgoing socket and the queries waiting on it, by ID.
struct Port {
    sock: AsyncFd<UdpSocket>,
    waiting: Mutex<Waiting>,
    /// Wakes the socket's reader when the socket may be done with.
    retire: tokio::sync::Notify,
}

#[derive(Default)]
struct Waiting {
    by_id: HashMap<u16, Waiter>,
    /// Queries sent from this socket so far.
    uses: u32,
    /// Replaced in the pool: no new queries; it closes when `by_id` empties.
    retired: bool,
    /// Numbers the queries waiting here, to tell one use of an ID from the next.
    next: u32,
}

impl Waiting {
    /// Forget the query `id` if it is still the one numbered `nth`: once
    /// answered, its ID may already carry another query.
    fn forget(&mut self, id: u16, nth: u32) {
        if self.by_id.get(&id).is_some_and(|w| w.nth == nth) {
            self.by_id.remove(&id);
        }
    }
}

struct Waiter {
    /// Which of the socket's queries this is.
    nth: u32,
    to: SocketAddr,
    /// The question section as sent.
    question: Vec<u8>,
    tx: oneshot::Sender<Vec<u8>>,
}

/// Removes a query's waiter however its asker ends (answered, timed out,
/// or its task aborted), so an ID is never left taken.
struct Pending {
    port: Arc<Port>,
    id: u16,
    nth: u32,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut w = lock(&self.port.waiting);
        w.forget(self.id, self.nth);
        if w.retired && w.by_id.is_empty() {
            self.port.retire.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    // The kernel's generator does not fail on Linux after boot; a fixed
    // value would weaken forgery resistance to the other defences'.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

impl Outgoing {
    /// The addresses netagent's DNS servers listen on now.
    pub(crate) fn set_own(&self, addrs: Vec<std::net::IpAddr>) {
        *lock(&self.own) = addrs;
    }

    /// Whether `addr` is one of netagent's own DNS addresses.
    pub(crate) fn is_own(&self, addr: std::net::IpAddr) -> bool {
        lock(&self.own).contains(&addr)
    }

    /// Send `query` (whose question section ends at `qend`) to `to` and
    /// wait up to `patience` for its answer, which comes back under the
    /// random ID it was sent with.
    pub(crate) async fn ask(
        &self,
        to: SocketAddr,
        query: &[u8],
        qend: usize,
        patience: Duration,
    ) -> Result<Vec<u8>, String> {
        let question = query.get(12..qend).ok_or("a query without a question")?;
        let port = self.port(to.is_ipv6())?;
        let (tx, rx) = oneshot::channel();
        let (id, nth) = {
            let mut w = lock(&port.waiting);
            let id = (0..16)
                .map(|_| random_u16())
                .find(|id| !w.by_id.contains_key(id))
                .ok_or("no free query ID")?;
            let nth = w.next;
            w.next = w.next.wrapping_add(1);
            w.by_id.insert(
                id,
                Waiter {
                    nth,
                    to,
                    question: question.to_vec(),
                    tx,
                },
            );
            (id, nth)
        };
        let pending = Pending { port, id, nth };
        let mut sent = query.to_vec();
        sent[..2].copy_from_slice(&id.to_be_bytes());
        // Watched for reading only: a send buffer too full to take the
        // query now fails it (the next upstream is tried).
        pending
            .port
            .sock
            .get_ref()
            .send_to(&sent, to)
            .map_err(|e| format!("send: {e}"))?;
        let answer = tokio::time::timeout(patience, rx)
            .await
            .map_err(|_| format!("no answer within {} ms", patience.as_millis()))?
            .map_err(|_| "the socket closed".to_string())?;
        drop(pending);
        Ok(answer)
    }

    /// A socket of the family, picked at random; a worn one is replaced
    /// first.
    fn port(&self, v6: bool) -> Result<Arc<Port>, String> {
        let slots = if v6 { &self.v6 } else { &self.v4 };
        let mut slots = lock(slots);
        if slots.is_empty() {
            slots.resize(POOL, None);
        }
        let i = usize::from(random_u16()) % POOL;
        if let Some(p) = &slots[i] {
            let mut w = lock(&p.waiting);
            if w.uses < USES {
                w.uses += 1;
                drop(w);
                return Ok(p.clone());
            }
            w.retired = true;
            p.retire.notify_one();
        }
        let fresh = Port::open(v6).map_err(|e| format!("socket: {e}"))?;
        lock(&fresh.waiting).uses = 1;
        tokio::spawn(read(fresh.clone()));
        slots[i] = Some(fresh.clone());
        Ok(fresh)
    }
}

impl Port {
    fn open(v6: bool) -> std::io::Result<Arc<Port>> {
        // Port 0: the kernel picks one at random from the ephemeral range.
        let any: SocketAddr = if v6 { "[::]:0" } else { "0.0.0.0:0" }
            .parse()
            .map_err(std::io::Error::other)?;
        let s = UdpSocket::bind(any)?;
        s.set_nonblocking(true)?;
        let sock = crate::util::sys::watch(s, Interest::READABLE)?;
        Ok(Arc::new(Port {
            sock,
            waiting: Mutex::new(Waiting::default()),
            retire: tokio::sync::Notify::new(),
        }))
    }

    /// Hand `answer`, from `from`, to the query it answers, if any.
    fn deliver(&self, answer: &[u8], from: SocketAddr) {
        if answer.len() < 12 || answer[2] & 0x80 == 0 {
            return;
        }
        let id = u16::from_be_bytes([answer[0], answer[1]]);
        let mut w = lock(&self.waiting);
        let Some(waiter) = w.by_id.get(&id) else {
            return;
        };
        let qend = 12 + waiter.question.len();
        if waiter.to != from || answer.get(12..qend) != Some(&waiter.question[..]) {
            debug!("dns: an answer from {from} under a waiting ID does not match its query; dropped");
            return;
        }
        if let Some(waiter) = w.by_id.remove(&id) {
            let _ = waiter.tx.send(answer.to_vec());
        }
    }

    fn done(&self) -> bool {
        let w = lock(&self.waiting);
        w.retired && w.by_id.is_empty()
    }
}

thread_local! {
    /// Room for the largest datagram, shared by the sockets served on one
    /// thread (a receive is never held across an await), made when the
    /// thread first hears from an upstream.
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 65535]);
}

/// Take the answers arriving on `port` until it is retired and idle.
async fn read(port: Arc<Port>) {
    while !port.done() {
        let ready = tokio::select! {
            r = port.sock.readable() => r,
            // Retired, or its last query gone: look again.
            _ = port.retire.notified() => continue,
        };
        let Ok(mut ready) = ready else {
            return;
        };
        loop {
            let got = BUF.with_borrow_mut(|buf| {
                let (n, from) = port.sock.get_ref().recv_from(buf)?;
                port.deliver(&buf[..n], from);
                Ok::<(), std::io::Error>(())
            });
            match got {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready.clear_ready();
                    break;
                }
                Err(e) => {
                    // An ICMP error from an upstream, most likely: the
                    // query it concerns times out.
                    debug!("dns: upstream socket: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        q
    }

    /// A fake upstream: answers each query it gets as `reply` says.
    fn upstream(
        reply: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (SocketAddr, std::sync::mpsc::Receiver<SocketAddr>) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut b = [0u8; 512];
            while let Ok((n, from)) = s.recv_from(&mut b) {
                let _ = tx.send(from);
                for r in reply(&b[..n]) {
                    let _ = s.send_to(&r, from);
                }
            }
        });
        (addr, rx)
    }

    fn answer_to(q: &[u8]) -> Vec<u8> {
        let mut a = q.to_vec();
        a[2] |= 0x80;
        a
    }

    #[tokio::test]
    async fn the_answer_to_our_question_comes_back_and_forgeries_do_not() {
        let (up, _) = upstream(|q| {
            let mut wrong_id = answer_to(q);
            wrong_id[1] ^= 1;
            let mut wrong_name = answer_to(q);
            wrong_name[14] = b'x';
            vec![wrong_id, wrong_name, q.to_vec(), answer_to(q)]
        });
        let out = Outgoing::default();
        let q = query(0xabcd);
        let qend = q.len();
        let a = out.ask(up, &q, qend, Duration::from_secs(2)).await.unwrap();
        assert_eq!(
            &a[2..],
            &answer_to(&q)[2..],
            "the real answer, after three that were not"
        );
        // The right ID and question from another address are not believed.
        let out = Arc::new(out);
        let (silent, _) = upstream(|_| Vec::new());
        let asking = {
            let (out, q) = (out.clone(), q.clone());
            tokio::spawn(async move { out.ask(silent, &q, qend, Duration::from_millis(500)).await })
        };
        let (port, id) = loop {
            let found = lock(&out.v4).iter().flatten().find_map(|p| {
                let w = lock(&p.waiting);
                let id = *w.by_id.keys().next()?;
                Some((p.sock.get_ref().local_addr().ok()?, id))
            });
            match found {
                Some(f) => break f,
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        let mut forged = answer_to(&q);
        forged[..2].copy_from_slice(&id.to_be_bytes());
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(&forged, port)
            .unwrap();
        assert!(
            asking.await.unwrap().is_err(),
            "no answer from where it was not asked"
        );
    }

    #[tokio::test]
    async fn ports_are_worn_out_and_replaced() {
        let (up, seen) = upstream(|q| vec![answer_to(q)]);
        let out = Outgoing::default();
        let q = query(1);
        let n = POOL * USES as usize + 1;
        for _ in 0..n {
            out.ask(up, &q, q.len(), Duration::from_secs(2)).await.unwrap();
        }
        let ports: std::collections::HashSet<SocketAddr> = seen.try_iter().collect();
        assert!(ports.len() > POOL, "{} ports for {n} queries", ports.len());
        // Every worn socket closed once its queries were done.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let live: usize = ports
            .iter()
            .filter(|p| UdpSocket::bind(SocketAddr::new("0.0.0.0".parse().unwrap(), p.port())).is_err())
            .count();
        assert!(live <= POOL, "{live} of the {} ports still bound", ports.len());
    }

    #[tokio::test]
    async fn a_query_that_gets_no_answer_gives_up_and_frees_its_id() {
        let (up, _) = upstream(|_| Vec::new());
        let out = Outgoing::default();
        let q = query(1);
        let e = out
            .ask(up, &q, q.len(), Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(e.contains("no answer"), "{e}");
        let waiting: usize = lock(&out.v4)
            .iter()
            .flatten()
            .map(|p| lock(&p.waiting).by_id.len())
            .sum();
        assert_eq!(waiting, 0);
    }
}
