//! The full path for one query: decode with hickory-proto, decide with the
//! zone, answer or forward, encode. Used for UDP queries the answer cache
//! has not seen; its result is what the cache then replays.

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record};

use super::forward::{Forwarder, Upstream};
use super::handler::rdata;
use super::zone::{Decision, LeaseNames, Zone};

/// Local answers live this long in caches downstream (leases come and go).
pub const LOCAL_TTL: u32 = 60;
/// The UDP payload we offer with EDNS (the DNS flag day size).
const EDNS_PAYLOAD: u16 = 1232;

pub struct Answer {
    pub bytes: Vec<u8>,
    /// How long the same question may get the same answer (None: never reuse).
    pub reusable: Option<Duration>,
}

fn encode(
    req: &Message,
    code: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    soa: Vec<Record>,
) -> Option<Vec<u8>> {
    let mut m = Message::new();
    m.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(authoritative)
        .set_response_code(code);
    m.add_queries(req.queries().iter().cloned());
    let limit = match req.extensions() {
        Some(e) => {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            m.set_edns(edns);
            usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD))
        }
        None => 512,
    };
    let mut full = m.clone();
    full.add_answers(answers);
    full.add_name_servers(soa);
    let bytes = full.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    // Too big for UDP: say so, the client asks again over TCP.
    m.set_truncated(true);
    m.to_vec().ok()
}

/// Answer `query`; None when it should be dropped (it is not a query).
pub async fn answer(
    zone: &Zone,
    leases: &LeaseNames,
    ups: &[Ipv4Addr],
    fwd: &Forwarder,
    query: &[u8],
) -> Option<Answer> {
    let req = Message::from_vec(query).ok()?;
    if req.message_type() != MessageType::Query {
        return None;
    }
    let err = |code| {
        encode(&req, code, false, vec![], vec![]).map(|bytes| Answer {
            bytes,
            reusable: None,
        })
    };
    if req.op_code() != OpCode::Query {
        return err(ResponseCode::NotImp);
    }
    let [q] = req.queries() else {
        return err(ResponseCode::FormErr);
    };
    if q.query_class() != DNSClass::IN {
        return err(ResponseCode::Refused);
    }
    let name = q.name().clone();
    let local = |code, records: Vec<Record>| {
        encode(&req, code, true, records, vec![]).map(|bytes| Answer {
            bytes,
            reusable: Some(Duration::from_secs(u64::from(LOCAL_TTL))),
        })
    };
    match zone.decide(leases, &name.to_ascii(), q.query_type(), ups) {
        Decision::Answer(rs) => local(
            ResponseCode::NoError,
            rs.iter()
                .filter_map(rdata)
                .map(|d| Record::from_rdata(name.clone(), LOCAL_TTL, d))
                .collect(),
        ),
        Decision::NoData => local(ResponseCode::NoError, vec![]),
        Decision::NxDomain => local(ResponseCode::NXDomain, vec![]),
        Decision::Refused => err(ResponseCode::Refused),
        Decision::Forward(up) => match fwd.ask(&up, &name, q.query_type()).await {
            Upstream::Records(rs) => {
                let ttl = rs.iter().map(|r| r.ttl()).min().unwrap_or(0).min(300);
                let bytes = encode(&req, ResponseCode::NoError, false, rs, vec![])?;
                Some(Answer {
                    bytes,
                    reusable: (ttl > 0).then(|| Duration::from_secs(u64::from(ttl))),
                })
            }
            Upstream::Negative(code, soa) => {
                let ttl = soa.as_ref().map(|s| s.ttl()).unwrap_or(0).min(60);
                let bytes = encode(&req, code, false, vec![], soa.into_iter().map(|b| *b).collect())?;
                Some(Answer {
                    bytes,
                    reusable: (ttl > 0).then(|| Duration::from_secs(u64::from(ttl))),
                })
            }
            Upstream::Failed(_) => err(ResponseCode::ServFail),
        },
    }
}
