//! Asking upstream resolvers: hickory-resolver does the work — a cache,
//! a short timeout per upstream, and failover to the next one in the order
//! given. One resolver per distinct upstream list, made on first use.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts, ServerOrderingStrategy};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveErrorKind, Resolver};
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};
use hickory_server::proto::ProtoErrorKind;

type Tokio = Resolver<TokioConnectionProvider>;

#[derive(Debug)]
pub(crate) enum Upstream {
    Records(Vec<Record>),
    /// Negative answer: its response code (NXDOMAIN or NOERROR/no data) and
    /// the SOA for negative caching, when the upstream sent one.
    Negative(ResponseCode, Option<Box<Record>>),
    /// Every upstream failed or timed out.
    Failed(String),
}

#[derive(Debug, Default)]
pub(crate) struct Forwarder {
    resolvers: Mutex<HashMap<Vec<Ipv4Addr>, Arc<Tokio>>>,
}

fn resolver(ups: &[Ipv4Addr]) -> Tokio {
    let ips: Vec<IpAddr> = ups.iter().map(|a| IpAddr::V4(*a)).collect();
    let group = NameServerConfigGroup::from_ips_clear(&ips, 53, true);
    let cfg = ResolverConfig::from_parts(None, vec![], group);
    let mut opts = ResolverOpts::default();
    // A dead upstream costs a guest one second, then the next one is asked.
    opts.timeout = Duration::from_secs(1);
    opts.attempts = 2;
    opts.cache_size = 4096;
    opts.ndots = 0;
    opts.edns0 = true;
    opts.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
    opts.preserve_intermediates = true;
    Resolver::builder_with_config(cfg, TokioConnectionProvider::default())
        .with_options(opts)
        .build()
}

impl Forwarder {
    fn get(&self, ups: &[Ipv4Addr]) -> Arc<Tokio> {
        let mut m = self.resolvers.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(ups.to_vec())
            .or_insert_with(|| Arc::new(resolver(ups)))
            .clone()
    }

    pub(crate) async fn ask(&self, ups: &[Ipv4Addr], name: &Name, qtype: RecordType) -> Upstream {
        let mut fqdn = name.clone();
        fqdn.set_fqdn(true);
        match self.get(ups).lookup(fqdn, qtype).await {
            Ok(l) => Upstream::Records(l.records().to_vec()),
            Err(e) => match e.kind() {
                ResolveErrorKind::Proto(p) => match p.kind() {
                    ProtoErrorKind::NoRecordsFound {
                        response_code, soa, ..
                    } => Upstream::Negative(
                        *response_code,
                        soa.as_ref()
                            .map(|s| Box::new(s.as_ref().clone().into_record_of_rdata())),
                    ),
                    _ => Upstream::Failed(p.to_string()),
                },
                _ => Upstream::Failed(e.to_string()),
            },
        }
    }
}
