//! Any bytes on port 67: decoding, the reply decision and encoding the reply
//! must never panic, whatever the packet claims.
#![no_main]

use std::sync::Mutex;

use dhcproto::Encodable;
use libfuzzer_sys::fuzz_target;
use netagent::dhcp::{reply, wire, Pool};

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn pool() -> Pool {
    let src = "[uplink]\n[[network]]\nname = \"f\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n\
               [[network.route]]\nto = \"10.1.0.0/16\"\nvia = \"10.0.0.2\"\n\
               [network.dhcp]\nranges = [\"10.0.0.10-10.0.0.40\"]\n[network.dhcp.pxe]\nfile = \"boot\"\n\
               [[network.dhcp.host]]\nmac = \"02:00:00:00:00:01\"\nip = \"10.0.0.5\"\nname = \"h\"\n";
    let cfg = netagent::config::parse(src, "fuzz").expect("fuzz config");
    Pool::new(netagent::plan::plan(&cfg).dhcp.remove(0))
}

fuzz_target!(|data: &[u8]| {
    let _ = wire::message_type(data);
    let Ok(msg) = wire::decode(data) else { return };
    // One pool across inputs, so sequences of messages build real state.
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let p = guard.get_or_insert_with(pool);
    let now = u64::from(data.first().copied().unwrap_or(0)) * 100;
    if let Ok(out) = reply::handle(p, &msg, now) {
        if let Some(r) = out.reply {
            let _ = r.msg.to_vec();
        }
    }
    p.expire(now);
});
