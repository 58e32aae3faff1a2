//! Forwarding as a relay. The guest's query goes upstream as the guest
//! wrote it — its EDNS record with the DNSSEC OK bit and buffer size, its
//! CD flag — under a fresh random ID from a socket on a random port (an
//! off-path forger must guess both, RFC 5452; see `outgoing`), and the upstream's
//! answer comes back as the upstream wrote it, with the guest's ID: RRSIG
//! and NSEC records for validating guests (RFC 4035), CNAME chains that end
//! in NXDOMAIN or no data (RFC 2308 §2.1, RFC 6604), the SOA of a negative
//! answer. Upstreams are asked in the order given; one that does not answer
//! within a second, or answers SERVFAIL or REFUSED, is passed over. A TCP
//! client's query whose UDP answer is truncated is asked again over TCP.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::answer::Transport;
use super::outgoing::Outgoing;
use super::wire::ttl_offsets;

/// How long one upstream has to answer before the next is asked.
const PATIENCE: Duration = Duration::from_secs(1);
/// Forwarded answers are kept at most this long (positive), or this long
/// (negative) by the answer cache.
const MAX_TTL: u32 = 300;
const MAX_NEGATIVE_TTL: u32 = 60;

/// The rcode of a DNS message (the header's four bits).
fn rcode(b: &[u8]) -> u8 {
    b.get(3).map_or(2, |f| f & 0x0f)
}

/// Where the question section ends (one question, names uncompressed as
/// a query has them).
fn question_end(b: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*b.get(i)?);
        if len == 0 {
            return Some(i + 5);
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
    }
}

/// Whether `reply` answers `sent`: a response, our ID, the same question.
fn matches(sent: &[u8], reply: &[u8], qend: usize) -> bool {
    reply.len() >= qend
        && reply[..2] == sent[..2]
        && reply[2] & 0x80 != 0
        && reply[12..qend] == sent[12..qend]
}

/// Relay `query` to the first of `ups` that answers; the answer with the
/// query's own ID, or why none did.
pub(crate) async fn relay(
    out: &Outgoing,
    ups: &[IpAddr],
    query: &[u8],
    transport: Transport,
) -> Result<Vec<u8>, String> {
    let qend = question_end(query).ok_or("a question that cannot be relayed")?;
    let mut last: Option<Vec<u8>> = None;
    let mut why = String::from("no upstream resolver");
    for up in ups {
        if out.is_own(*up) {
            why = format!("{up} is netagent's own DNS address: not asked (the query would loop)");
            continue;
        }
        let to = SocketAddr::new(*up, 53);
        let got = match out.ask(to, query, qend, PATIENCE).await {
            // Truncated for a TCP client: it can take the whole answer.
            Ok(r) if r[2] & 0x02 != 0 && transport == Transport::Tcp => {
                let mut sent = query.to_vec();
                sent[..2].copy_from_slice(&fresh_id().to_be_bytes());
                ask_tcp(to, &sent, qend).await
            }
            other => other,
        };
        match got {
            Ok(mut r) => {
                as_ours(&mut r, query);
                if matches!(rcode(&r), 2 | 5) {
                    why = format!(
                        "{up} answered {}",
                        if rcode(&r) == 2 { "SERVFAIL" } else { "REFUSED" }
                    );
                    last = Some(r);
                    continue;
                }
                return Ok(r);
            }
            Err(e) => why = format!("{up}: {e}"),
        }
    }
    last.ok_or(why)
}

/// An upstream's answer as netagent gives it: the guest's ID, and RA set,
/// for RA says what this server offers (recursion, through its upstreams)
/// whatever the guest asked or the upstream said of itself.
fn as_ours(r: &mut [u8], query: &[u8]) {
    r[..2].copy_from_slice(&query[..2]);
    r[3] |= 0x80;
}

fn fresh_id() -> u16 {
    let mut b = [0u8; 2];
    // The kernel's generator does not fail on Linux after boot; a fixed ID
    // would only weaken forgery resistance to the source port's.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

async fn ask_tcp(to: SocketAddr, sent: &[u8], qend: usize) -> Result<Vec<u8>, String> {
    let work = async {
        let mut s = TcpStream::connect(to)
            .await
            .map_err(|e| format!("tcp connect: {e}"))?;
        let len = u16::try_from(sent.len()).map_err(|_| "query too long".to_string())?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(sent);
        s.write_all(&framed).await.map_err(|e| format!("tcp send: {e}"))?;
        let n = s.read_u16().await.map_err(|e| format!("tcp receive: {e}"))?;
        let mut r = vec![0u8; usize::from(n)];
        s.read_exact(&mut r)
            .await
            .map_err(|e| format!("tcp receive: {e}"))?;
        if matches(sent, &r, qend) {
            Ok(r)
        } else {
            Err("tcp answer to another question".to_string())
        }
    };
    timeout(PATIENCE * 2, work)
        .await
        .map_err(|_| "no tcp answer within two seconds".to_string())?
}

/// How long a relayed answer may be replayed: its smallest TTL, at most
/// five minutes (a minute for a negative one); never a failure, a
/// truncated answer or one without records.
pub(crate) fn reusable(b: &[u8]) -> Option<Duration> {
    if b.len() < 12 || b[2] & 0x02 != 0 || !matches!(rcode(b), 0 | 3) {
        return None;
    }
    let ttls: Vec<u32> = ttl_offsets(b)?
        .into_iter()
        .filter_map(|o| Some(u32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?)))
        .collect();
    let min = *ttls.iter().min()?;
    let answers = u16::from_be_bytes([b[6], b[7]]);
    let cap = if rcode(b) == 0 && answers > 0 {
        MAX_TTL
    } else {
        MAX_NEGATIVE_TTL
    };
    let ttl = min.min(cap);
    (ttl > 0).then(|| Duration::from_secs(u64::from(ttl)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        q
    }

    /// The answer to `query()`: www.example A with `ttl`, rcode `rc`.
    fn answer(rc: u8, ttl: u32) -> Vec<u8> {
        let mut a = query();
        a[2] = 0x81;
        a[3] = 0x80 | rc;
        a[7] = 1;
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        a.extend_from_slice(&ttl.to_be_bytes());
        a.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        a
    }

    #[test]
    fn only_an_answer_to_our_question_is_taken() {
        let q = query();
        let qend = question_end(&q).unwrap();
        assert_eq!(qend, q.len());
        assert!(matches(&q, &answer(0, 60), qend));
        let mut other_id = answer(0, 60);
        other_id[1] ^= 1;
        assert!(!matches(&q, &other_id, qend));
        let mut other_name = answer(0, 60);
        other_name[14] = b'x';
        assert!(!matches(&q, &other_name, qend));
        assert!(!matches(&q, &q, qend), "a query is no answer");
    }

    #[tokio::test]
    async fn netagents_own_address_is_never_asked() {
        // A resolver learned from the uplink's DHCP can be one of our own
        // addresses (an appliance behind another netagent network, say):
        // asking it would send the query round and round.
        let out = Outgoing::default();
        out.set_own(vec!["127.0.0.1".parse().unwrap()]);
        let e = relay(&out, &["127.0.0.1".parse().unwrap()], &query(), Transport::Udp)
            .await
            .unwrap_err();
        assert!(e.contains("loop"), "{e}");
    }

    /// dig +norec through dnsmasq says `qr aa ra`: an upstream that says
    /// nothing of recursion (an authoritative server) does not take RA away.
    #[test]
    fn a_relayed_answer_offers_recursion_under_the_guests_id() {
        let mut q = query();
        q[2] &= !1; // RD clear
        let mut a = answer(0, 60);
        a[3] &= !0x80;
        a[..2].copy_from_slice(&[0x12, 0x34]);
        as_ours(&mut a, &q);
        assert_eq!((&a[..2], a[3] & 0x80, a[3] & 0x0f), (&q[..2], 0x80, 0));
    }

    #[test]
    fn replay_lasts_the_smallest_ttl_within_bounds() {
        assert_eq!(reusable(&answer(0, 60)), Some(Duration::from_secs(60)));
        assert_eq!(reusable(&answer(0, 86400)), Some(Duration::from_secs(300)));
        assert_eq!(reusable(&answer(3, 86400)), Some(Duration::from_secs(60)));
        assert_eq!(reusable(&answer(2, 60)), None, "SERVFAIL is never replayed");
        assert_eq!(reusable(&answer(0, 0)), None);
        let mut tc = answer(0, 60);
        tc[2] |= 0x02;
        assert_eq!(reusable(&tc), None);
    }
}
