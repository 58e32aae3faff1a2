//! The requesting router's state machine against scripted server answers.

use super::*;

const SERVER: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 9];

fn answer(kind: MessageType, to: &Message, prefix: Option<(&str, u32)>, t1: u32) -> Message {
    let mut m = Message::new_with_id(kind, to.xid());
    let o = m.opts_mut();
    o.insert(DhcpOption::ServerId(SERVER.to_vec()));
    if let Some(DhcpOption::ClientId(c)) = to.opts().get(OptionCode::ClientId) {
        o.insert(DhcpOption::ClientId(c.clone()));
    }
    let mut opts = DhcpOptions::new();
    match prefix {
        Some((p, valid)) => {
            let net: Ipv6Net = p.parse().unwrap();
            opts.insert(DhcpOption::IAPrefix(IAPrefix {
                preferred_lifetime: valid,
                valid_lifetime: valid,
                prefix_len: net.prefix_len(),
                prefix_ip: net.network(),
                opts: DhcpOptions::new(),
            }));
        }
        None => opts.insert(DhcpOption::StatusCode(dhcproto::v6::StatusCode {
            status: dhcproto::v6::Status::NoBinding,
            msg: "gone".into(),
        })),
    }
    o.insert(DhcpOption::IAPD(IAPD {
        id: IAID,
        t1,
        t2: t1 * 8 / 5,
        opts,
    }));
    m
}

fn bound(c: &mut Client, t0: Instant, prefix: &str) {
    let (sol, _) = c.poll(t0);
    let sol = sol.expect("a solicit");
    assert_eq!(sol.msg_type(), MessageType::Solicit);
    assert!(sol.opts().get(OptionCode::IAPD).is_some() && sol.opts().get(OptionCode::ElapsedTime).is_some());
    assert_eq!(
        c.receive(&answer(MessageType::Advertise, &sol, Some((prefix, 100)), 50), t0),
        None
    );
    let (req, _) = c.poll(t0);
    let req = req.expect("a request");
    assert_eq!(req.msg_type(), MessageType::Request);
    assert!(matches!(req.opts().get(OptionCode::ServerId), Some(DhcpOption::ServerId(s)) if s == SERVER));
    let got = c.receive(&answer(MessageType::Reply, &req, Some((prefix, 100)), 50), t0);
    assert_eq!(got, Some(Some(prefix.parse().unwrap())));
}

#[test]
fn solicit_request_reply_then_renew_at_t1() {
    let t0 = Instant::now();
    let mut c = Client::new(duid([2, 0, 0, 0, 0, 1]), t0);
    bound(&mut c, t0, "2001:db8:8800:ab00::/56");
    let (nothing, wake) = c.poll(t0 + Duration::from_secs(10));
    assert!(nothing.is_none());
    assert_eq!(wake, t0 + Duration::from_secs(50), "quiet until T1");
    let (renew, _) = c.poll(t0 + Duration::from_secs(50));
    let renew = renew.expect("a renew at T1");
    assert_eq!(renew.msg_type(), MessageType::Renew);
    // The same prefix again: no change to publish.
    let r = answer(
        MessageType::Reply,
        &renew,
        Some(("2001:db8:8800:ab00::/56", 100)),
        50,
    );
    assert_eq!(c.receive(&r, t0 + Duration::from_secs(50)), None);
}

#[test]
fn a_new_prefix_or_a_lost_binding_is_said_and_expiry_starts_over() {
    let t0 = Instant::now();
    let mut c = Client::new(duid([2, 0, 0, 0, 0, 1]), t0);
    bound(&mut c, t0, "2001:db8:8800:ab00::/56");
    let t = t0 + Duration::from_secs(50);
    let (renew, _) = c.poll(t);
    let renew = renew.unwrap();
    // Renumbered by the router.
    let r = answer(
        MessageType::Reply,
        &renew,
        Some(("2001:db8:9900:1100::/56", 100)),
        50,
    );
    assert_eq!(
        c.receive(&r, t),
        Some(Some("2001:db8:9900:1100::/56".parse().unwrap()))
    );
    // NoBinding at the next renewal: lost, and soliciting again.
    let t = t + Duration::from_secs(50);
    let (renew, _) = c.poll(t);
    let r = answer(MessageType::Reply, &renew.unwrap(), None, 0);
    assert_eq!(c.receive(&r, t), Some(None));
    let (sol, _) = c.poll(t);
    assert_eq!(sol.unwrap().msg_type(), MessageType::Solicit);
    // A held prefix nobody renews: rebind at T2, gone when it expires.
    let mut c = Client::new(duid([2, 0, 0, 0, 0, 1]), t0);
    bound(&mut c, t0, "2001:db8:8800:ab00::/56");
    let (m, _) = c.poll(t0 + Duration::from_secs(80));
    assert_eq!(m.unwrap().msg_type(), MessageType::Rebind);
    let (m, _) = c.poll(t0 + Duration::from_secs(101));
    assert_eq!(m.unwrap().msg_type(), MessageType::Solicit);
    assert_eq!(c.prefix(), None);
}

#[test]
fn answers_for_someone_else_are_ignored() {
    let t0 = Instant::now();
    let mut c = Client::new(duid([2, 0, 0, 0, 0, 1]), t0);
    let (sol, _) = c.poll(t0);
    let mut other = sol.unwrap();
    other.set_xid([9, 9, 9]);
    assert_eq!(
        c.receive(
            &answer(MessageType::Advertise, &other, Some(("2001:db8::/56", 100)), 50),
            t0
        ),
        None
    );
    let (again, _) = c.poll(t0 + Duration::from_millis(1500));
    assert_eq!(
        again.unwrap().msg_type(),
        MessageType::Solicit,
        "still soliciting"
    );
}
