//! Reply decisions, message by message.

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};

use super::*;
use crate::config;
use crate::plan::plan;

fn pool(kind: &str, extra: &str) -> Pool {
    let src = format!(
        "[uplink]\n[[network]]\nname = \"n\"\nkind = \"{kind}\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n[network.dhcp]\nranges = [\"10.0.0.10-10.0.0.20\"]\nlease_time = \"1h\"\n{extra}"
    );
    let cfg = config::parse(&src, "t").unwrap_or_else(|p| panic!("{p}"));
    Pool::new(plan(&cfg).dhcp.remove(0))
}

const MAC: [u8; 6] = [0x52, 0x54, 0, 0xaa, 0xbb, 0x01];

fn msg(kind: MessageType) -> Message {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(42, z, z, z, z, &MAC);
    m.set_opcode(Opcode::BootRequest);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m
}

fn reply(p: &mut Pool, m: &Message) -> Reply {
    handle(p, m, 1000)
        .unwrap_or_else(|d| panic!("dropped: {d}"))
        .reply
        .expect("a reply")
}

fn kind(r: &Reply) -> MessageType {
    r.msg.opts().msg_type().expect("type")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// DISCOVER → OFFER → REQUEST(selecting) → ACK, returning the address.
fn lease(p: &mut Pool) -> Ipv4Addr {
    let offer = reply(p, &msg(MessageType::Discover));
    let a = offer.msg.yiaddr();
    let mut req = msg(MessageType::Request);
    req.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    req.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("10.0.0.1")));
    req.opts_mut().insert(DhcpOption::Hostname("Web.example".into()));
    let ack = reply(p, &req);
    assert_eq!(kind(&ack), MessageType::Ack);
    a
}

#[test]
fn discover_gets_an_offer_with_the_networks_options() {
    let mut p = pool("nat", "domain = \"lab\"\nmtu = 1400\n");
    let r = reply(&mut p, &msg(MessageType::Discover));
    assert_eq!(kind(&r), MessageType::Offer);
    assert!(p.in_ranges(r.msg.yiaddr()));
    assert_eq!(r.msg.opcode(), Opcode::BootReply);
    assert_eq!(r.msg.xid(), 42);
    let o = r.msg.opts();
    assert!(
        matches!(o.get(OptionCode::SubnetMask), Some(DhcpOption::SubnetMask(m)) if *m == ip("255.255.255.0"))
    );
    assert!(matches!(o.get(OptionCode::Router), Some(DhcpOption::Router(r)) if r == &vec![ip("10.0.0.1")]));
    assert!(
        matches!(o.get(OptionCode::DomainNameServer), Some(DhcpOption::DomainNameServer(d)) if d == &vec![ip("10.0.0.1")])
    );
    assert!(
        matches!(o.get(OptionCode::ServerIdentifier), Some(DhcpOption::ServerIdentifier(s)) if *s == ip("10.0.0.1"))
    );
    assert!(matches!(
        o.get(OptionCode::AddressLeaseTime),
        Some(DhcpOption::AddressLeaseTime(3600))
    ));
    assert!(matches!(
        o.get(OptionCode::Renewal),
        Some(DhcpOption::Renewal(1800))
    ));
    assert!(matches!(
        o.get(OptionCode::Rebinding),
        Some(DhcpOption::Rebinding(3150))
    ));
    assert!(matches!(o.get(OptionCode::DomainName), Some(DhcpOption::DomainName(d)) if d == "lab"));
    assert!(matches!(
        o.get(OptionCode::InterfaceMtu),
        Some(DhcpOption::InterfaceMtu(1400))
    ));
    // No broadcast flag, no ciaddr, no relay: straight to the new address.
    assert_eq!(r.dest, Dest::Direct(r.msg.yiaddr(), MacAddr(MAC)));
}

#[test]
fn isolated_networks_hand_out_no_router() {
    let mut p = pool("isolated", "");
    let r = reply(&mut p, &msg(MessageType::Discover));
    assert!(r.msg.opts().get(OptionCode::Router).is_none());
}

#[test]
fn request_in_every_state() {
    let mut p = pool("nat", "");
    let a = lease(&mut p);
    assert_eq!(
        p.lease_of(&ClientId::from_mac(MacAddr(MAC)))
            .and_then(|l| l.hostname.clone())
            .as_deref(),
        Some("web")
    );
    // INIT-REBOOT: requested address, no ciaddr, no server id.
    let mut m = msg(MessageType::Request);
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    let r = reply(&mut p, &m);
    assert_eq!((kind(&r), r.msg.yiaddr()), (MessageType::Ack, a));
    // RENEWING: ciaddr set, unicast back to it.
    let mut m = msg(MessageType::Request);
    m.set_ciaddr(a);
    let r = reply(&mut p, &m);
    assert_eq!((kind(&r), r.dest), (MessageType::Ack, Dest::Unicast(a)));
    // SELECTING another server: we stay quiet.
    let mut m = msg(MessageType::Request);
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    m.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("10.0.0.254")));
    assert_eq!(handle(&mut p, &m, 1000).err(), Some(Drop::NotForUs));
}

#[test]
fn a_wrong_address_is_naked_so_the_client_recovers() {
    let mut p = pool("nat", "");
    // An address from another subnet (the client moved networks).
    let mut m = msg(MessageType::Request);
    m.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(ip("192.168.1.50")));
    let r = reply(&mut p, &m);
    assert_eq!((kind(&r), r.dest), (MessageType::Nak, Dest::Broadcast));
    assert_eq!(r.msg.yiaddr(), Ipv4Addr::UNSPECIFIED);
    // An address leased to someone else.
    let a = lease(&mut p);
    let mut other = msg(MessageType::Request);
    other.set_chaddr(&[0x52, 0x54, 0, 0xaa, 0xbb, 0x02]);
    other.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    assert_eq!(kind(&reply(&mut p, &other)), MessageType::Nak);
}

#[test]
fn an_unknown_client_renewing_a_free_address_keeps_it() {
    // After a crash that lost a lease, the client's renewal is still honoured.
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Request);
    m.set_ciaddr(ip("10.0.0.15"));
    let r = reply(&mut p, &m);
    assert_eq!((kind(&r), r.msg.yiaddr()), (MessageType::Ack, ip("10.0.0.15")));
}

#[test]
fn broadcast_flag_and_relays_choose_the_destination() {
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Discover);
    m.set_flags(Flags::default().set_broadcast());
    assert_eq!(reply(&mut p, &m).dest, Dest::Broadcast);
    let mut m = msg(MessageType::Discover);
    m.set_giaddr(ip("10.0.0.2"));
    let r = reply(&mut p, &m);
    assert_eq!(r.dest, Dest::Relay(ip("10.0.0.2")));
    assert_eq!(r.msg.giaddr(), ip("10.0.0.2"));
}

#[test]
fn client_id_and_relay_info_are_echoed() {
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Discover);
    m.opts_mut()
        .insert(DhcpOption::ClientIdentifier(vec![0xff, 1, 2, 3]));
    let raw82 = DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
        OptionCode::RelayAgentInformation,
        vec![1, 2, 0xab, 0xcd],
    ));
    m.opts_mut().insert(raw82);
    let r = reply(&mut p, &m);
    assert!(
        matches!(r.msg.opts().get(OptionCode::ClientIdentifier), Some(DhcpOption::ClientIdentifier(c)) if c == &vec![0xff, 1, 2, 3])
    );
    assert!(r.msg.opts().get(OptionCode::RelayAgentInformation).is_some());
    // Option 61 comes before chaddr: the same chaddr with another id is another client.
    let first = r.msg.yiaddr();
    let mut req = msg(MessageType::Request);
    req.opts_mut()
        .insert(DhcpOption::ClientIdentifier(vec![0xff, 1, 2, 3]));
    req.opts_mut().insert(DhcpOption::RequestedIpAddress(first));
    req.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("10.0.0.1")));
    assert_eq!(kind(&reply(&mut p, &req)), MessageType::Ack);
    let mut again = msg(MessageType::Request);
    again.opts_mut().insert(DhcpOption::RequestedIpAddress(first));
    assert_eq!(
        kind(&reply(&mut p, &again)),
        MessageType::Nak,
        "same chaddr, different identity"
    );
}

#[test]
fn release_decline_and_inform() {
    let mut p = pool("nat", "");
    let a = lease(&mut p);
    let mut rel = msg(MessageType::Release);
    rel.set_ciaddr(a);
    let out = handle(&mut p, &rel, 1000).expect("release");
    assert!(out.reply.is_none());
    assert!(matches!(&out.changes[..], [Change::Gone(l)] if l.ip == a));

    let b = lease(&mut p);
    let mut dec = msg(MessageType::Decline);
    dec.opts_mut().insert(DhcpOption::RequestedIpAddress(b));
    handle(&mut p, &dec, 1000).expect("decline");
    // The declined address is set aside: the next offer is another one.
    let next = reply(&mut p, &msg(MessageType::Discover)).msg.yiaddr();
    assert_ne!(next, b);

    let mut inf = msg(MessageType::Inform);
    inf.set_ciaddr(ip("10.0.0.99"));
    let r = reply(&mut p, &inf);
    assert_eq!(
        (kind(&r), r.dest),
        (MessageType::Ack, Dest::Unicast(ip("10.0.0.99")))
    );
    assert!(r.msg.opts().get(OptionCode::AddressLeaseTime).is_none());
    assert_eq!(r.msg.yiaddr(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn static_hosts_pxe_and_classless_routes() {
    let mut p = pool(
        "nat",
        "[network.dhcp.pxe]\nfile = \"pxelinux.0\"\n[[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:01\"\nip = \"10.0.0.77\"\nname = \"db\"\n",
    );
    let r = reply(&mut p, &msg(MessageType::Discover));
    assert_eq!(r.msg.yiaddr(), ip("10.0.0.77"));
    assert_eq!(r.msg.siaddr(), ip("10.0.0.1"));
    assert!(
        matches!(r.msg.opts().get(OptionCode::BootfileName), Some(DhcpOption::BootfileName(f)) if f == b"pxelinux.0")
    );
    lease(&mut p);
    assert_eq!(
        p.lease_of(&ClientId::from_mac(MacAddr(MAC)))
            .and_then(|l| l.hostname.clone())
            .as_deref(),
        Some("db")
    );
}

#[test]
fn malformed_or_foreign_messages_are_dropped() {
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Discover);
    m.set_opcode(Opcode::BootReply);
    assert_eq!(handle(&mut p, &m, 0).err(), Some(Drop::NotARequest));
    let mut m = msg(MessageType::Discover);
    m.opts_mut().remove(OptionCode::MessageType);
    assert_eq!(handle(&mut p, &m, 0).err(), Some(Drop::NoMessageType));
    let m = msg(MessageType::Offer);
    assert!(handle(&mut p, &m, 0).is_err());
}

#[test]
fn classless_routes_carry_the_default_route_too() {
    let src = "[uplink]\n[[network]]\nname = \"n\"\nkind = \"route\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n[[network.route]]\nto = \"10.8.0.0/16\"\nvia = \"10.0.0.2\"\n[network.dhcp]\n";
    let cfg = config::parse(src, "t").unwrap_or_else(|p| panic!("{p}"));
    let mut p = Pool::new(plan(&cfg).dhcp.remove(0));
    let r = reply(&mut p, &msg(MessageType::Discover));
    let Some(DhcpOption::ClasslessStaticRoute(routes)) = r.msg.opts().get(OptionCode::ClasslessStaticRoute)
    else {
        panic!("no option 121")
    };
    let got: Vec<String> = routes.iter().map(|(n, g)| format!("{n}>{g}")).collect();
    assert_eq!(got, vec!["10.8.0.0/16>10.0.0.2", "0.0.0.0/0>10.0.0.1"]);
}

fn hostname_opt(r: &Reply) -> Option<String> {
    match r.msg.opts().get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(h)) => Some(h.clone()),
        _ => None,
    }
}

/// RFC 2132 §3.14 / issue: guests that take their name from DHCP learn the
/// configured one, and a client asking for option 12 gets its own back.
#[test]
fn option_12_carries_the_static_hosts_name_or_the_asked_for_one() {
    let mut p = pool(
        "nat",
        "[[network.dhcp.host]]\nmac = \"52:54:00:aa:bb:01\"\nip = \"10.0.0.77\"\nname = \"db\"\n",
    );
    let r = reply(&mut p, &msg(MessageType::Discover));
    assert_eq!(hostname_opt(&r).as_deref(), Some("db"));
    let mut p = pool("nat", "");
    let a = lease(&mut p);
    let mut m = msg(MessageType::Request);
    m.set_ciaddr(a);
    assert_eq!(
        hostname_opt(&reply(&mut p, &m)),
        None,
        "not asked for, not configured"
    );
    m.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Hostname,
    ]));
    assert_eq!(hostname_opt(&reply(&mut p, &m)).as_deref(), Some("web"));
}

/// Some clients put the server id in a RENEW (ciaddr set, no option 50):
/// dnsmasq and Kea ACK it.
#[test]
fn a_renew_with_a_server_id_is_acked() {
    let mut p = pool("nat", "");
    let a = lease(&mut p);
    let mut m = msg(MessageType::Request);
    m.set_ciaddr(a);
    m.opts_mut().insert(DhcpOption::ServerIdentifier(ip("10.0.0.1")));
    let r = reply(&mut p, &m);
    assert_eq!((kind(&r), r.msg.yiaddr()), (MessageType::Ack, a));
    // RFC 2131 Table 3: an ACK to a renewing client carries its ciaddr.
    assert_eq!(r.msg.ciaddr(), a);
    // Meant for another server: not ours to answer.
    m.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("10.0.0.254")));
    assert_eq!(handle(&mut p, &m, 1000).err(), Some(Drop::NotForUs));
}

/// RFC 2131 §4.3.2: INIT-REBOOT for an address that is not the client's
/// binding is NAKed, though the address is free.
#[test]
fn init_reboot_for_another_address_than_the_binding_is_naked() {
    let mut p = pool("nat", "");
    let a = lease(&mut p);
    let other = if a == ip("10.0.0.15") {
        ip("10.0.0.16")
    } else {
        ip("10.0.0.15")
    };
    let mut m = msg(MessageType::Request);
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(other));
    assert_eq!(kind(&reply(&mut p, &m)), MessageType::Nak);
    assert_eq!(
        p.lease_of(&ClientId::from_mac(MacAddr(MAC))).map(|l| l.ip),
        Some(a)
    );
}

/// RFC 2131 §4.3.1: a relayed request is answered from giaddr's subnet;
/// a giaddr outside every subnet we serve gets nothing.
#[test]
fn a_relay_outside_our_subnet_is_not_answered() {
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Discover);
    m.set_giaddr(ip("172.16.5.1"));
    assert!(handle(&mut p, &m, 1000).is_err());
    let mut m = msg(MessageType::Request);
    m.set_giaddr(ip("172.16.5.1"));
    m.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(ip("10.0.0.15")));
    assert!(handle(&mut p, &m, 1000).is_err());
}

/// RFC 4702: a client that sends its name in option 81 (here as busybox
/// udhcpc -F does: ASCII, E=0, S=0) gets the name registered and option 81
/// back: S=1 (netagent serves the name), O=1 (overriding S=0), E as sent.
#[test]
fn option_81_names_the_lease_and_is_answered() {
    let mut p = pool("nat", "domain = \"lab\"\n");
    let offer = reply(&mut p, &msg(MessageType::Discover));
    let a = offer.msg.yiaddr();
    let mut b = msg(MessageType::Request);
    b.opts_mut().insert(DhcpOption::RequestedIpAddress(a));
    b.opts_mut().insert(DhcpOption::ServerIdentifier(ip("10.0.0.1")));
    let mut bytes = dhcproto::Encodable::to_vec(&b).unwrap();
    while bytes.last() == Some(&0) {
        bytes.pop(); // padding
    }
    bytes.pop(); // END
    bytes.extend_from_slice(&[81, 9, 0x00, 0, 0]);
    bytes.extend_from_slice(b"Laptop");
    bytes.push(255);
    let m = crate::dhcp::wire::decode(&bytes).expect("decodes");
    let ack = reply(&mut p, &m);
    assert_eq!(kind(&ack), MessageType::Ack);
    assert_eq!(
        p.lease_of(&ClientId::from_mac(MacAddr(MAC)))
            .and_then(|l| l.hostname.clone())
            .as_deref(),
        Some("laptop")
    );
    let Some(DhcpOption::ClientFQDN(f)) = ack.msg.opts().get(OptionCode::ClientFQDN) else {
        panic!("no option 81 in the ACK");
    };
    let fl = f.flags();
    assert_eq!((fl.s(), fl.o(), fl.e(), fl.n()), (true, true, false, false));
    assert_eq!((f.r1(), f.r2()), (255, 255));
    assert_eq!(f.domain().to_string(), "laptop.lab.");
}

/// RFC 4390: an InfiniBand client (htype 32, hlen 0, chaddr empty) is
/// known by its client-id; replies go by broadcast. Without a client-id
/// such a client cannot be told apart and is dropped.
#[test]
fn a_client_without_an_ethernet_address_is_known_by_its_client_id() {
    let mut p = pool("nat", "");
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(7, z, z, z, z, &[]);
    m.set_opcode(Opcode::BootRequest);
    m.set_htype(dhcproto::v4::HType::Unknown(32));
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    assert_eq!(handle(&mut p, &m, 1000).err(), Some(Drop::BadHardwareAddress));
    m.opts_mut()
        .insert(DhcpOption::ClientIdentifier(vec![0xff, 0, 0, 0, 1, 2, 3, 4, 5]));
    let offer = reply(&mut p, &m);
    assert_eq!((kind(&offer), offer.dest), (MessageType::Offer, Dest::Broadcast));
    let mut req = m.clone();
    req.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(offer.msg.yiaddr()));
    req.opts_mut()
        .insert(DhcpOption::ServerIdentifier(ip("10.0.0.1")));
    let ack = reply(&mut p, &req);
    assert_eq!((kind(&ack), ack.dest), (MessageType::Ack, Dest::Broadcast));
    assert_eq!(ack.msg.hlen(), 0);
}

/// Options set by hand go to a client that asks for them (option 55), and
/// to every client when forced, as dnsmasq's dhcp-option and
/// dhcp-option-force; the wire bytes are what the option holds.
#[test]
fn options_set_by_hand_follow_the_request_list_or_force() {
    let mut p = pool(
        "nat",
        "[[network.dhcp.option]]\nname = \"ntp-servers\"\nvalue = \"10.0.0.1, 10.0.0.2\"\n\
         [[network.dhcp.option]]\ncode = 252\nvalue = \"http://wpad.lab/wpad.dat\"\nforce = true\n",
    );
    let raw = |r: &Reply, code: u8| -> Option<Vec<u8>> {
        let b = super::super::wire::encode(&r.msg).expect("encode");
        let mut i = 240;
        while i + 1 < b.len() && b[i] != 255 {
            if b[i] == 0 {
                i += 1;
                continue;
            }
            let len = usize::from(b[i + 1]);
            if b[i] == code {
                return Some(b[i + 2..i + 2 + len].to_vec());
            }
            i += 2 + len;
        }
        None
    };
    let plain = reply(&mut p, &msg(MessageType::Discover));
    assert_eq!(raw(&plain, 42), None, "not asked for");
    assert_eq!(
        raw(&plain, 252).as_deref(),
        Some(&b"http://wpad.lab/wpad.dat"[..]),
        "forced"
    );
    let mut asks = msg(MessageType::Discover);
    asks.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::NtpServers,
    ]));
    let r = reply(&mut p, &asks);
    assert_eq!(raw(&r, 42), Some(vec![10, 0, 0, 1, 10, 0, 0, 2]));
}

/// An Ethernet client that says hlen 16 (its chaddr padded, as some
/// embedded stacks send it) is offered like any other, by the first six
/// octets, as Kea and dnsmasq do; through the wire, as it arrives.
#[test]
fn an_ethernet_client_with_hlen_16_is_known_by_its_first_six_octets() {
    let mut p = pool("nat", "");
    let z = Ipv4Addr::UNSPECIFIED;
    let mut chaddr = [0u8; 16];
    chaddr[..6].copy_from_slice(&MAC);
    chaddr[6..].fill(0x77);
    let mut m = Message::new_with_id(9, z, z, z, z, &chaddr);
    m.set_opcode(Opcode::BootRequest);
    m.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    assert_eq!((m.htype(), m.hlen()), (dhcproto::v4::HType::Eth, 16));
    let mut bytes = Vec::new();
    crate::dhcp::wire::encode_into(&m, &mut bytes).expect("encode");
    let m = crate::dhcp::wire::decode(&bytes).expect("decode");
    let offer = reply(&mut p, &m);
    assert_eq!(kind(&offer), MessageType::Offer);
    assert_eq!(mac_of(&m), Ok(MacAddr(MAC)));
    // Sent to the client's Ethernet address, chaddr echoed as it came.
    assert_eq!(offer.dest, Dest::Direct(offer.msg.yiaddr(), MacAddr(MAC)));
    assert_eq!(offer.msg.chaddr(), &chaddr[..]);
}

/// A client name of 258 octets, split over two option 12s (RFC 3396), is
/// not cut to 63 and sent back as a name the client never sent: no option
/// 12 in the OFFER or the ACK, and the lease has no name (Kea and dnsmasq
/// send none either).
#[test]
fn a_hostname_longer_than_a_label_is_not_echoed_cut_short() {
    let mut p = pool("nat", "");
    let mut m = msg(MessageType::Discover);
    m.opts_mut().insert(DhcpOption::Hostname("h".repeat(258)));
    m.opts_mut()
        .insert(DhcpOption::ParameterRequestList(vec![OptionCode::Hostname]));
    let mut bytes = Vec::new();
    crate::dhcp::wire::encode_into(&m, &mut bytes).expect("encode");
    // The name goes out in two options of code 12 (255 + 3 octets).
    assert!(bytes.windows(2).filter(|w| w == &[12, 255]).count() >= 1);
    let m = crate::dhcp::wire::decode(&bytes).expect("decode");
    let offer = reply(&mut p, &m);
    assert_eq!(offer.msg.opts().get(OptionCode::Hostname), None);
    let mut req = m.clone();
    req.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(offer.msg.yiaddr()));
    let out = handle(&mut p, &req, 1000).expect("handled");
    let ack = out.reply.expect("an ACK");
    assert_eq!(kind(&ack), MessageType::Ack);
    assert_eq!(ack.msg.opts().get(OptionCode::Hostname), None);
    assert!(matches!(&out.changes[..], [Change::Bound(l)] if l.hostname.is_none()));
}
