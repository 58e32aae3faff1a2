//! Any bytes on UDP 547: decoding, the DHCPv6 decision and encoding the
//! reply must never panic, whatever the message claims.
#![no_main]

use std::sync::Mutex;

use dhcproto::Encodable;
use libfuzzer_sys::fuzz_target;
use netagent::dhcp6::pool::Pool6;
use netagent::dhcp6::{reply, wire};

static POOL: Mutex<Option<Pool6>> = Mutex::new(None);

/// The server DUID the fuzzer's messages may name (a valid DUID-LL).
const SERVER: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];

fn pool() -> Pool6 {
    let src = "[uplink]\n[[network]]\nname = \"f\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n\
               address6 = \"fd00::1/64\"\n[network.dhcp6]\nranges = [\"fd00::10-fd00::40\"]\n\
               [[network.dhcp6.host]]\nmac = \"02:00:00:00:00:01\"\nip = \"fd00::5\"\nname = \"h\"\n\
               [[network.dhcp6.host]]\nduid = \"00:03:00:01:02:00:00:00:00:02\"\nip = \"fd00::6\"\n";
    let cfg = netagent::config::parse(src, "fuzz").expect("fuzz config");
    Pool6::new(netagent::plan::plan(&cfg).dhcp6.remove(0))
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = wire::decode(data) else { return };
    // One pool across inputs, so sequences of messages build real state.
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let p = guard.get_or_insert_with(pool);
    let now = u64::from(data.first().copied().unwrap_or(0)) * 100;
    let ctx = reply::Context {
        server_id: SERVER,
        from: "fe80::ff:fe00:1".parse().expect("address"),
        now,
    };
    if let Ok(out) = reply::handle(p, &ctx, &msg) {
        let _ = out.reply.to_vec();
    }
    p.expire(now);
});
