//! Bytes as a script of guest messages (DISCOVER, REQUEST, renew, DECLINE,
//! RELEASE, INFORM from eight guests) against one live pool: after every
//! message the pool's invariants hold and no guest takes another's lease.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netagent::dhcp::script;

fuzz_target!(|data: &[u8]| {
    let mut pool = script::pool();
    if let Err(e) = script::run(&mut pool, data, 1_000) {
        panic!("{e}");
    }
});
