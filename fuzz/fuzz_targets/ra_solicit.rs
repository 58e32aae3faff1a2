//! Any bytes as a router solicitation, and any plan's advertisement: the
//! checks must never panic, and an advertisement's options must be well
//! formed (every length non-zero and within the packet).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netagent::ra::wire;

fuzz_target!(|data: &[u8]| {
    let hop = data.first().copied().unwrap_or(255);
    let from = if data.len() % 2 == 0 {
        std::net::Ipv6Addr::UNSPECIFIED
    } else {
        "fe80::1".parse().expect("address")
    };
    let _ = wire::solicitation(data, hop, from);
    // An advertisement for a plan made of the same bytes.
    let pick = |i: usize| data.get(i).copied().unwrap_or(0);
    let plan = netagent::plan::RaPlan {
        network: "f".into(),
        interface: "br0".into(),
        prefix: ipnet::Ipv6Net::new("fd00::".parse().expect("address"), pick(1) % 129).expect("prefix"),
        autonomous: pick(2) & 1 == 1,
        managed: pick(2) & 2 == 2,
        other: pick(2) & 4 == 4,
        router_lifetime: u16::from(pick(3)) << 4,
        mtu: (pick(4) > 0).then(|| 1280 + u32::from(pick(4))),
        dns: (0..pick(5) % 8).map(|i| std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i))).collect(),
        search: data
            .get(6..)
            .unwrap_or_default()
            .split(|b| *b == b',')
            .take(4)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    };
    let ra = wire::advertisement(&plan, None, &[], pick(0) & 1 == 1);
    let mut rest = &ra[16..];
    while !rest.is_empty() {
        let len = usize::from(rest[1]) * 8;
        assert!(len > 0 && len <= rest.len(), "a bad option in {ra:?}");
        rest = &rest[len..];
    }
});
