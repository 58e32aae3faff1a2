//! The DHCP client's decisions, without sockets: the messages it sends and
//! what it takes from a reply. Unit-tested; `client.rs` only moves bytes.

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use ipnet::Ipv4Net;

use crate::config::MacAddr;

/// What the upstream DHCP server gave the uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UplinkLease {
    pub address: Ipv4Net,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Time servers (option 42), for the appliance's clock.
    pub ntp: Vec<Ipv4Addr>,
    pub server: Ipv4Addr,
    pub lease: Duration,
    pub renew: Duration,
    pub rebind: Duration,
}

const WANT: [OptionCode; 6] = [
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::DomainName,
    OptionCode::InterfaceMtu,
    OptionCode::NtpServers,
];

fn base(xid: u32, mac: MacAddr, kind: MessageType, hostname: &str) -> Message {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac.0,
    );
    m.set_opcode(Opcode::BootRequest);
    // Until the uplink has an address the server's unicast reply could not
    // reach our UDP socket, so ask for broadcast replies (RFC 2131 §4.1).
    m.set_flags(Flags::default().set_broadcast());
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    let mut cid = vec![1u8];
    cid.extend_from_slice(&mac.0);
    o.insert(DhcpOption::ClientIdentifier(cid));
    o.insert(DhcpOption::ParameterRequestList(WANT.to_vec()));
    if !hostname.is_empty() {
        o.insert(DhcpOption::Hostname(hostname.to_string()));
    }
    m
}

pub(crate) fn discover(xid: u32, mac: MacAddr, hostname: &str) -> Message {
    base(xid, mac, MessageType::Discover, hostname)
}

/// REQUEST in SELECTING state: for the offered address, naming the server.
pub(crate) fn request_offer(xid: u32, mac: MacAddr, hostname: &str, offer: &UplinkLease) -> Message {
    let mut m = base(xid, mac, MessageType::Request, hostname);
    let o = m.opts_mut();
    o.insert(DhcpOption::RequestedIpAddress(offer.address.addr()));
    o.insert(DhcpOption::ServerIdentifier(offer.server));
    m
}

/// REQUEST in RENEWING/REBINDING state: ciaddr set, no server id (§4.3.2).
pub(crate) fn request_renew(xid: u32, mac: MacAddr, hostname: &str, have: Ipv4Addr) -> Message {
    let mut m = base(xid, mac, MessageType::Request, hostname);
    m.set_ciaddr(have);
    m.set_flags(Flags::default());
    m
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Offer(UplinkLease),
    Ack(UplinkLease),
    Nak,
}

/// What a server's message means for the exchange `xid` of `mac`, or None
/// when it is not for us or makes no sense (it is then ignored).
pub(crate) fn read_reply(m: &Message, xid: u32, mac: MacAddr) -> Option<Reply> {
    if m.opcode() != Opcode::BootReply || m.xid() != xid || m.chaddr().get(..6) != Some(&mac.0[..]) {
        return None;
    }
    let o = m.opts();
    let kind = o.msg_type()?;
    if kind == MessageType::Nak {
        return Some(Reply::Nak);
    }
    let yiaddr = m.yiaddr();
    if yiaddr.is_unspecified() || yiaddr.is_broadcast() {
        return None;
    }
    let server = match o.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => *s,
        _ => m.siaddr(),
    };
    let mask = match o.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(m)) => *m,
        // RFC 2131 leaves it optional; guess the classful mask like dhclient.
        _ => Ipv4Addr::new(255, 255, 255, 0),
    };
    let prefix = u32::from(mask).leading_ones() as u8;
    let address = Ipv4Net::new(yiaddr, prefix).ok()?;
    let router = match o.get(OptionCode::Router) {
        Some(DhcpOption::Router(r)) => r.first().copied(),
        _ => None,
    };
    let dns = match o.get(OptionCode::DomainNameServer) {
        Some(DhcpOption::DomainNameServer(d)) => d.clone(),
        _ => Vec::new(),
    };
    let ntp = match o.get(OptionCode::NtpServers) {
        Some(DhcpOption::NtpServers(d)) => d.clone(),
        _ => Vec::new(),
    };
    let secs = match o.get(OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(s)) => *s,
        _ => 3600,
    };
    let lease = Duration::from_secs(u64::from(secs));
    let renew = match o.get(OptionCode::Renewal) {
        Some(DhcpOption::Renewal(s)) => Duration::from_secs(u64::from(*s)),
        _ => lease / 2,
    };
    let rebind = match o.get(OptionCode::Rebinding) {
        Some(DhcpOption::Rebinding(s)) => Duration::from_secs(u64::from(*s)),
        _ => lease * 7 / 8,
    };
    let l = UplinkLease {
        address,
        router,
        dns,
        ntp,
        server,
        lease,
        renew: renew.min(lease),
        rebind: rebind.min(lease),
    };
    match kind {
        MessageType::Offer => Some(Reply::Offer(l)),
        MessageType::Ack => Some(Reply::Ack(l)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn reply(kind: MessageType, xid: u32) -> Message {
        let mut m = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            "10.0.2.15".parse().unwrap(),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &MAC.0,
        );
        m.set_opcode(Opcode::BootReply);
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::ServerIdentifier("10.0.2.2".parse().unwrap()));
        o.insert(DhcpOption::SubnetMask("255.255.255.0".parse().unwrap()));
        o.insert(DhcpOption::Router(vec!["10.0.2.2".parse().unwrap()]));
        o.insert(DhcpOption::DomainNameServer(vec!["10.0.2.3".parse().unwrap()]));
        o.insert(DhcpOption::AddressLeaseTime(600));
        m
    }

    #[test]
    fn an_ack_becomes_a_lease() {
        let Some(Reply::Ack(l)) = read_reply(&reply(MessageType::Ack, 7), 7, MAC) else {
            panic!()
        };
        assert_eq!(l.address, "10.0.2.15/24".parse().unwrap());
        assert_eq!(l.router, Some("10.0.2.2".parse().unwrap()));
        assert_eq!(l.dns, vec!["10.0.2.3".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(
            (l.lease.as_secs(), l.renew.as_secs(), l.rebind.as_secs()),
            (600, 300, 525)
        );
    }

    #[test]
    fn replies_for_others_are_ignored() {
        assert_eq!(read_reply(&reply(MessageType::Ack, 7), 8, MAC), None);
        assert_eq!(
            read_reply(&reply(MessageType::Ack, 7), 7, MacAddr([2, 0, 0, 0, 0, 2])),
            None
        );
        let mut req = reply(MessageType::Ack, 7);
        req.set_opcode(Opcode::BootRequest);
        assert_eq!(read_reply(&req, 7, MAC), None);
        assert_eq!(read_reply(&reply(MessageType::Nak, 7), 7, MAC), Some(Reply::Nak));
    }

    #[test]
    fn requests_carry_what_rfc_2131_asks() {
        let d = discover(1, MAC, "netagent");
        assert!(d.flags().broadcast());
        assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
        let Some(Reply::Offer(offer)) = read_reply(&reply(MessageType::Offer, 1), 1, MAC) else {
            panic!()
        };
        let r = request_offer(1, MAC, "netagent", &offer);
        assert!(
            matches!(r.opts().get(OptionCode::RequestedIpAddress), Some(DhcpOption::RequestedIpAddress(a)) if *a == offer.address.addr())
        );
        assert!(matches!(
            r.opts().get(OptionCode::ServerIdentifier),
            Some(DhcpOption::ServerIdentifier(_))
        ));
        let n = request_renew(2, MAC, "netagent", offer.address.addr());
        assert_eq!(n.ciaddr(), offer.address.addr());
        assert!(n.opts().get(OptionCode::ServerIdentifier).is_none());
    }
}
