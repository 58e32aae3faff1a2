//! hickory-server's request handler for one network: decide with the zone,
//! answer locally or forward, and write the response.

use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use hickory_server::authority::MessageResponseBuilder;
use hickory_server::proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, PTR, SRV, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use tracing::debug;

use super::answer::resolve;
use super::forward::Forwarder;
use super::zone::{LeaseNames, Zone};
use crate::plan::RecordData;

pub(crate) struct Handler {
    /// Swapped whole on reload; queries in flight keep the zone they began with.
    pub zone: Arc<RwLock<Arc<Zone>>>,
    pub leases: Arc<LeaseNames>,
    pub uplink_dns: Arc<RwLock<Vec<Ipv4Addr>>>,
    pub fwd: Arc<Forwarder>,
}

pub(crate) fn rdata(r: &RecordData) -> Option<RData> {
    let name = |s: &str| Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).ok();
    Some(match r {
        RecordData::A(ip) => RData::A(A::from(*ip)),
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
    })
}

async fn send<R: ResponseHandler>(
    request: &Request,
    mut rh: R,
    header: Header,
    answers: &[Record],
    soa: &[Record],
) -> ResponseInfo {
    let builder = MessageResponseBuilder::from_message_request(request);
    let response = builder.build(header, answers.iter(), &[], soa.iter(), &[]);
    match rh.send_response(response).await {
        Ok(info) => info,
        Err(e) => {
            debug!("dns: reply to {}: {e}", request.src());
            let mut h = header;
            h.set_response_code(ResponseCode::ServFail);
            h.into()
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(&self, request: &Request, rh: R) -> ResponseInfo {
        let mut header = Header::response_from_request(request.header());
        header.set_recursion_available(true);
        if request.message_type() != MessageType::Query || request.op_code() != OpCode::Query {
            header.set_response_code(ResponseCode::NotImp);
            return send(request, rh, header, &[], &[]).await;
        }
        let info = match request.request_info() {
            Ok(i) => i,
            Err(_) => {
                header.set_response_code(ResponseCode::FormErr);
                return send(request, rh, header, &[], &[]).await;
            }
        };
        let qname: Name = info.query.name().into();
        let qtype = info.query.query_type();
        if info.query.query_class() != DNSClass::IN {
            header.set_response_code(ResponseCode::Refused);
            return send(request, rh, header, &[], &[]).await;
        }
        let zone = self.zone.read().map(|z| z.clone()).ok();
        let Some(zone) = zone else {
            header.set_response_code(ResponseCode::ServFail);
            return send(request, rh, header, &[], &[]).await;
        };
        let ups = self.uplink_dns.read().map(|v| v.clone()).unwrap_or_default();
        let r = resolve(&zone, &self.leases, &ups, &self.fwd, &qname, qtype).await;
        header.set_authoritative(r.authoritative);
        header.set_response_code(r.code);
        send(request, rh, header, &r.answers, &r.soa).await
    }
}
