//! Any bytes as a DNS query: decoding and the answer decision never panic.
#![no_main]

use std::sync::OnceLock;

use hickory_server::proto::op::Message;
use libfuzzer_sys::fuzz_target;
use netagent::dns::zone::{LeaseNames, Zone};

static ZONE: OnceLock<(Zone, LeaseNames)> = OnceLock::new();

fn zone() -> &'static (Zone, LeaseNames) {
    ZONE.get_or_init(|| {
        let src = "[uplink]\n[[network]]\nname = \"f\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n\
                   [network.dns]\ndomain = \"lab\"\nlocal_only = true\n[[network.dns.forwarder]]\ndomain = \"corp\"\naddr = \"192.0.2.1\"\n\
                   [[network.dns.srv]]\nservice = \"x\"\nprotocol = \"tcp\"\nport = 1\n";
        let cfg = netagent::config::parse(src, "fuzz").expect("fuzz config");
        let z = netagent::plan::plan(&cfg).dns.remove(0);
        let names = LeaseNames::default();
        names.add("10.0.0.9".parse::<std::net::Ipv4Addr>().expect("ip"), "web", Some("lab"));
        (Zone::new(std::sync::Arc::new(z), "10.0.0.0/24".parse().expect("net")), names)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::from_vec(data) else { return };
    let (z, names) = zone();
    for q in m.queries() {
        let _ = z.decide(names, &q.name().to_ascii(), q.query_type(), &["192.0.2.53".parse().expect("ip")]);
    }
});
