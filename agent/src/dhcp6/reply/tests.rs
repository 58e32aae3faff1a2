//! DHCPv6 decisions, message by message (RFC 8415 §16, §18.3).

use super::*;
use crate::config::{Dhcp6Client, Dhcp6Host, MacAddr};
use crate::plan::Dhcp6Pool;

const SERVER: &[u8] = &[0, 3, 0, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];
const CLIENT: &[u8] = &[0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 7];

fn pool() -> Pool6 {
    Pool6::new(Dhcp6Pool {
        network: "n".into(),
        interface: "br0".into(),
        server: "fd00::1".parse().unwrap(),
        prefix: "fd00::/64".parse().unwrap(),
        ranges: vec!["fd00::1000-fd00::1fff".parse().unwrap()],
        lease_time: LeaseTime::Seconds(3600),
        hosts: vec![Dhcp6Host {
            client: Dhcp6Client::Mac(MacAddr([0x52, 0x54, 0, 0, 0, 9])),
            ip: "fd00::9".parse().unwrap(),
            name: None,
        }],
        dns_servers: vec!["fd00::1".parse().unwrap()],
        domain: Some("lab".into()),
    })
}

fn ctx(now: u64) -> Context<'static> {
    Context {
        server_id: SERVER,
        from: "fe80::1".parse().unwrap(),
        now,
    }
}

fn msg(
    kind: MessageType,
    client: Option<&[u8]>,
    server: Option<&[u8]>,
    ia: Option<(u32, Option<&str>)>,
) -> Message {
    let mut m = Message::new_with_id(kind, [1, 2, 3]);
    let o = m.opts_mut();
    if let Some(c) = client {
        o.insert(DhcpOption::ClientId(c.to_vec()));
    }
    if let Some(s) = server {
        o.insert(DhcpOption::ServerId(s.to_vec()));
    }
    if let Some((id, addr)) = ia {
        let mut opts = DhcpOptions::new();
        if let Some(a) = addr {
            opts.insert(DhcpOption::IAAddr(IAAddr {
                addr: a.parse().unwrap(),
                preferred_life: 0,
                valid_life: 0,
                opts: DhcpOptions::new(),
            }));
        }
        o.insert(DhcpOption::IANA(IANA {
            id,
            t1: 0,
            t2: 0,
            opts,
        }));
    }
    m
}

/// The address and status of the reply's IA_NA `id`.
fn ia_of(r: &Message, id: u32) -> (Option<Ipv6Addr>, Option<Status>, u32) {
    let ia = ias(r)
        .into_iter()
        .find(|ia| ia.id == id)
        .expect("the IA in the reply");
    let st = ia.opts.iter().find_map(|o| match o {
        DhcpOption::StatusCode(s) => Some(s.status),
        _ => None,
    });
    (addrs_in(ia).first().copied(), st, ia.t1)
}

fn top_status(r: &Message) -> Option<Status> {
    match r.opts().get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) => Some(s.status),
        _ => None,
    }
}

#[test]
fn solicit_advertises_and_request_binds_the_same_address() {
    let mut p = pool();
    let a = handle(
        &mut p,
        &ctx(0),
        &msg(MessageType::Solicit, Some(CLIENT), None, Some((5, None))),
    )
    .unwrap();
    assert_eq!(a.reply.msg_type(), MessageType::Advertise);
    assert!(a.changes.is_empty(), "an advertise binds nothing");
    let (ip, st, _) = ia_of(&a.reply, 5);
    let ip = ip.expect("an address");
    assert!(st.is_none() && p.cfg.ranges[0].contains(ip));
    assert_eq!(a.reply.xid(), [1, 2, 3]);
    assert!(
        matches!(a.reply.opts().get(OptionCode::DomainNameServers), Some(DhcpOption::DomainNameServers(d)) if d == &p.cfg.dns_servers)
    );
    assert!(a.reply.opts().get(OptionCode::DomainSearchList).is_some());
    let r = handle(
        &mut p,
        &ctx(1),
        &msg(MessageType::Request, Some(CLIENT), Some(SERVER), Some((5, None))),
    )
    .unwrap();
    assert_eq!(r.reply.msg_type(), MessageType::Reply);
    let (got, _, t1) = ia_of(&r.reply, 5);
    assert_eq!(got, Some(ip));
    assert_eq!(t1, 1800);
    assert_eq!(r.changes.len(), 1);
    assert!(r.changes[0].0 && r.changes[0].1.ip == ip);
    assert_eq!(
        r.changes[0].1.mac.as_deref(),
        Some("52:54:00:00:00:07"),
        "from the DUID-LL"
    );
}

#[test]
fn rapid_commit_binds_at_once_and_a_fixed_host_gets_its_address() {
    let mut p = pool();
    let mut m = msg(
        MessageType::Solicit,
        Some(&[0, 3, 0, 1, 0x52, 0x54, 0, 0, 0, 9]),
        None,
        Some((1, None)),
    );
    m.opts_mut().insert(DhcpOption::RapidCommit);
    let r = handle(&mut p, &ctx(0), &m).unwrap();
    assert_eq!(r.reply.msg_type(), MessageType::Reply);
    assert!(r.reply.opts().get(OptionCode::RapidCommit).is_some());
    assert_eq!(ia_of(&r.reply, 1).0, "fd00::9".parse().ok());
    assert_eq!(r.changes.len(), 1);
}

#[test]
fn renew_extends_a_binding_and_says_nobinding_otherwise() {
    let mut p = pool();
    handle(
        &mut p,
        &ctx(0),
        &msg(MessageType::Request, Some(CLIENT), Some(SERVER), Some((1, None))),
    )
    .unwrap();
    let r = handle(
        &mut p,
        &ctx(100),
        &msg(MessageType::Renew, Some(CLIENT), Some(SERVER), Some((1, None))),
    )
    .unwrap();
    assert!(ia_of(&r.reply, 1).0.is_some());
    assert_eq!(r.changes[0].1.expires, Some(3700));
    let r = handle(
        &mut p,
        &ctx(100),
        &msg(MessageType::Renew, Some(CLIENT), Some(SERVER), Some((2, None))),
    )
    .unwrap();
    assert_eq!(ia_of(&r.reply, 2).1, Some(Status::NoBinding));
    // A rebind of an address from another link: lifetimes 0.
    let r = handle(
        &mut p,
        &ctx(100),
        &msg(
            MessageType::Rebind,
            Some(CLIENT),
            None,
            Some((3, Some("2001:db8::5"))),
        ),
    )
    .unwrap();
    let ia = ias(&r.reply).into_iter().find(|ia| ia.id == 3).unwrap();
    assert!(matches!(ia.opts.get(OptionCode::IAAddr), Some(DhcpOption::IAAddr(a)) if a.valid_life == 0));
}

#[test]
fn release_decline_and_confirm() {
    let mut p = pool();
    let r = handle(
        &mut p,
        &ctx(0),
        &msg(MessageType::Request, Some(CLIENT), Some(SERVER), Some((1, None))),
    )
    .unwrap();
    let ip = r.changes[0].1.ip.to_string();
    let r = handle(
        &mut p,
        &ctx(1),
        &msg(
            MessageType::Release,
            Some(CLIENT),
            Some(SERVER),
            Some((1, Some(&ip))),
        ),
    )
    .unwrap();
    assert_eq!(top_status(&r.reply), Some(Status::Success));
    assert_eq!(r.changes.len(), 1);
    assert!(!r.changes[0].0);
    assert_eq!(p.leases().count(), 0);
    let on = handle(
        &mut p,
        &ctx(1),
        &msg(
            MessageType::Confirm,
            Some(CLIENT),
            None,
            Some((1, Some("fd00::1234"))),
        ),
    )
    .unwrap();
    assert_eq!(top_status(&on.reply), Some(Status::Success));
    let off = handle(
        &mut p,
        &ctx(1),
        &msg(
            MessageType::Confirm,
            Some(CLIENT),
            None,
            Some((1, Some("fd01::5"))),
        ),
    )
    .unwrap();
    assert_eq!(top_status(&off.reply), Some(Status::NotOnLink));
}

#[test]
fn messages_that_break_the_rules_are_dropped() {
    let mut p = pool();
    let c = ctx(0);
    let solicit_with_sid = msg(MessageType::Solicit, Some(CLIENT), Some(SERVER), Some((1, None)));
    assert!(matches!(
        handle(&mut p, &c, &solicit_with_sid),
        Err(Drop::Invalid(_))
    ));
    let no_client = msg(MessageType::Solicit, None, None, Some((1, None)));
    assert!(matches!(handle(&mut p, &c, &no_client), Err(Drop::Invalid(_))));
    let other_server = msg(
        MessageType::Request,
        Some(CLIENT),
        Some(&[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]),
        Some((1, None)),
    );
    assert_eq!(handle(&mut p, &c, &other_server).err(), Some(Drop::NotForUs));
    let no_server = msg(MessageType::Renew, Some(CLIENT), None, Some((1, None)));
    assert!(matches!(handle(&mut p, &c, &no_server), Err(Drop::Invalid(_))));
    let info_with_ia = msg(
        MessageType::InformationRequest,
        Some(CLIENT),
        None,
        Some((1, None)),
    );
    assert!(matches!(handle(&mut p, &c, &info_with_ia), Err(Drop::Invalid(_))));
    let advertise = msg(MessageType::Advertise, Some(CLIENT), Some(SERVER), None);
    assert_eq!(handle(&mut p, &c, &advertise).err(), Some(Drop::NotForUs));
    // An information request needs no client identifier.
    let info = handle(
        &mut p,
        &c,
        &msg(MessageType::InformationRequest, None, None, None),
    )
    .unwrap();
    assert!(info.reply.opts().get(OptionCode::DomainNameServers).is_some());
}
