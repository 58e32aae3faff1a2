//! The full path for one query: decode with hickory-proto, decide with the
//! zone, answer or forward, encode. Used for TCP queries and for UDP
//! queries the answer cache has not seen; its result is what the cache
//! then replays.

use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::zone::{Decision, LeaseNames, Zone};
use crate::plan::RecordData;

/// Local answers live this long in caches downstream (leases come and go).
pub(crate) const LOCAL_TTL: u32 = 60;
/// The UDP payload we offer with EDNS (the DNS flag day size).
const EDNS_PAYLOAD: u16 = 1232;

/// How the answer travels: over UDP it must fit the client's buffer (or
/// say TC); over TCP it may be as large as DNS allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

pub(crate) struct Answer {
    pub bytes: Vec<u8>,
    /// How long the same question may get the same answer (None: never reuse).
    pub reusable: Option<Duration>,
    /// Authoritative data: replayed with the TTLs it has (a local name says
    /// 60 every time, as dnsmasq and unbound say of theirs); a forwarded
    /// answer's count down while it is kept.
    pub fixed_ttl: bool,
    /// Forwarded: whether an upstream answered (None: answered here).
    pub upstream: Option<bool>,
}

fn encode(
    req: &Message,
    transport: Transport,
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
            // RFC 3225 §3: the DO bit is copied into the response.
            edns.set_dnssec_ok(e.flags().dnssec_ok);
            m.set_edns(edns);
            usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD))
        }
        None => 512,
    };
    let limit = match transport {
        Transport::Udp => limit,
        Transport::Tcp => usize::from(u16::MAX),
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

/// FORMERR for a query whose header reads but whose body does not: the
/// header's ID, opcode and RD, no sections. None for what is no query.
fn formerr(query: &[u8]) -> Option<Vec<u8>> {
    let h = query.get(..12)?;
    if h[2] & 0x80 != 0 {
        return None;
    }
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&h[..2]);
    out[2] = 0x80 | (h[2] & 0x79);
    out[3] = 0x80 | 1;
    Some(out)
}

/// Answer `query`; None when it should be dropped (it is not a query).
pub(crate) async fn answer(
    zone: &Zone,
    leases: &LeaseNames,
    ups: &[std::net::IpAddr],
    out: &super::outgoing::Outgoing,
    query: &[u8],
    transport: Transport,
) -> Option<Answer> {
    let Ok(req) = Message::from_vec(query) else {
        // Names over 255 octets, labels over 63, compression loops, two OPT
        // records: the question cannot be read, the header can.
        return formerr(query).map(|bytes| Answer {
            bytes,
            reusable: None,
            fixed_ttl: false,
            upstream: None,
        });
    };
    if req.message_type() != MessageType::Query {
        return None;
    }
    let err = |code| {
        encode(&req, transport, code, false, vec![], vec![]).map(|bytes| Answer {
            bytes,
            reusable: None,
            fixed_ttl: false,
            upstream: None,
        })
    };
    if req.op_code() != OpCode::Query {
        return err(ResponseCode::NotImp);
    }
    // RFC 6891 §6.1.3: an EDNS version we do not speak gets BADVERS (and
    // our OPT, version 0).
    if req.extensions().as_ref().is_some_and(|e| e.version() > 0) {
        return err(ResponseCode::BADVERS);
    }
    let [q] = req.queries() else {
        return err(ResponseCode::FormErr);
    };
    // A query carries no answers or authority records.
    if !req.answers().is_empty() || !req.name_servers().is_empty() {
        return err(ResponseCode::FormErr);
    }
    // Class ANY asks for what there is: IN here. CHAOS and the rest are
    // not served.
    if !matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) {
        return err(ResponseCode::Refused);
    }
    // Zone transfers are not offered.
    if matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR) {
        return err(ResponseCode::Refused);
    }
    let r = match zone.decide(leases, &q.name().to_ascii(), q.query_type(), ups) {
        // The query goes upstream as the guest wrote it (forward.rs).
        Decision::Forward(up) => {
            return match super::forward::relay(out, &up, query, transport).await {
                Ok(bytes) => Some(Answer {
                    reusable: super::forward::reusable(&bytes),
                    bytes,
                    fixed_ttl: false,
                    upstream: Some(true),
                }),
                Err(why) => {
                    tracing::debug!("dns: no upstream answered: {why}");
                    err(ResponseCode::ServFail).map(|a| Answer {
                        upstream: Some(false),
                        ..a
                    })
                }
            };
        }
        d => local(d, q.name()),
    };
    let bytes = encode(&req, transport, r.code, r.authoritative, r.answers, r.soa)?;
    Some(Answer {
        bytes,
        reusable: r.reusable,
        fixed_ttl: r.authoritative,
        upstream: None,
    })
}

/// The response to one question, before encoding.
pub(crate) struct Resolved {
    pub code: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub soa: Vec<Record>,
    /// How long the same question may get the same answer.
    pub reusable: Option<Duration>,
}

fn secs(ttl: u32) -> Option<Duration> {
    (ttl > 0).then(|| Duration::from_secs(u64::from(ttl)))
}

pub(crate) fn rdata(r: &RecordData) -> Option<RData> {
    let name = |s: &str| Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).ok();
    Some(match r {
        RecordData::A(ip) => RData::A(A::from(*ip)),
        RecordData::Aaaa(ip) => RData::AAAA(AAAA::from(*ip)),
        RecordData::Ptr(n) => RData::PTR(PTR(name(n)?)),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(
            *priority,
            *weight,
            *port,
            name(target).unwrap_or_else(Name::root),
        )),
        RecordData::Txt(t) => RData::TXT(TXT::new(vec![t.clone()])),
        // Serial 1: the zone is small and answers from memory; nothing
        // transfers it. The minimum is the negative TTL (RFC 2308 §5).
        RecordData::Soa { mname, rname } => RData::SOA(SOA::new(
            name(mname)?,
            name(rname)?,
            1,
            3600,
            600,
            86400,
            LOCAL_TTL,
        )),
        RecordData::Ns(n) => RData::NS(NS(name(n)?)),
    })
}

/// The local answer to a decision that is not to forward.
fn local(d: Decision, name: &Name) -> Resolved {
    let own = |code, answers, soa| Resolved {
        code,
        authoritative: true,
        answers,
        soa,
        reusable: secs(LOCAL_TTL),
    };
    // RFC 2308: a negative answer from a zone carries its SOA, so caches
    // keep it for the SOA's minimum.
    let soa_of = |apex: Option<super::apex::Apex>| -> Vec<Record> {
        apex.and_then(|a| {
            let owner = Name::from_ascii(format!("{}.", a.name)).ok()?;
            Some(Record::from_rdata(owner, LOCAL_TTL, rdata(&a.soa())?))
        })
        .into_iter()
        .collect()
    };
    match d {
        Decision::Answer(rs) => own(
            ResponseCode::NoError,
            rs.iter()
                .filter_map(rdata)
                .map(|d| Record::from_rdata(name.clone(), LOCAL_TTL, d))
                .collect(),
            vec![],
        ),
        Decision::NoData(apex) => own(ResponseCode::NoError, vec![], soa_of(apex)),
        Decision::NxDomain(apex) => own(ResponseCode::NXDomain, vec![], soa_of(apex)),
        Decision::Refused | Decision::Forward(_) => Resolved {
            code: ResponseCode::Refused,
            authoritative: false,
            answers: vec![],
            soa: vec![],
            reusable: None,
        },
    }
}
