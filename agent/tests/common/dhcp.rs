//! A bare DHCP client for tests that need many leases fast or want to see
//! each reply (udhcpc keeps one lease per interface): DISCOVER, OFFER,
//! REQUEST, ACK with an invented MAC, broadcast replies, one socket.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable};

pub struct RawClient {
    sock: UdpSocket,
}

/// What became of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acked(Ipv4Addr),
    /// Offered this address, then no ACK came.
    OfferedOnly(Ipv4Addr),
    NoOffer,
}

pub fn mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0x4e, b[0], b[1], b[2], b[3]]
}

impl RawClient {
    /// Bound to port 68 on every address: call inside the guest's
    /// namespace (its interface carries an address outside the pool).
    pub fn bind() -> RawClient {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
        // Bound to the guest's NIC: a broadcast goes out there without a route.
        s.bind_device(Some(b"eth0")).expect("bind to eth0");
        s.set_reuse_address(true).expect("reuse");
        s.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], 68)).into())
            .expect("bind port 68");
        let sock: UdpSocket = s.into();
        sock.set_broadcast(true).expect("broadcast");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        RawClient { sock }
    }

    fn send(&self, m: &Message) {
        if let Ok(b) = m.to_vec() {
            let _ = self.sock.send_to(&b, "255.255.255.255:67");
        }
    }

    /// The next reply of `kind` for transaction `xid`, within the timeout.
    fn wait(&self, xid: u32, kind: MessageType) -> Option<Message> {
        let mut buf = [0u8; 1500];
        for _ in 0..20 {
            let n = self.sock.recv(&mut buf).ok()?;
            let Ok(m) = Message::decode(&mut Decoder::new(&buf[..n])) else {
                continue;
            };
            if m.xid() == xid && m.opts().msg_type() == Some(kind) {
                return Some(m);
            }
        }
        None
    }

    fn msg(xid: u32, chaddr: &[u8; 6], kind: MessageType) -> Message {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(xid, z, z, z, z, chaddr);
        m.set_opcode(Opcode::BootRequest);
        m.set_flags(Flags::default().set_broadcast());
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m
    }

    /// One whole exchange for the client with MAC `chaddr`.
    pub fn lease(&self, xid: u32, chaddr: &[u8; 6]) -> Outcome {
        self.send(&Self::msg(xid, chaddr, MessageType::Discover));
        let Some(offer) = self.wait(xid, MessageType::Offer) else {
            return Outcome::NoOffer;
        };
        let ip = offer.yiaddr();
        self.request(xid, chaddr, ip, &offer)
    }

    /// REQUEST the offered `ip` (again, after a lost ACK).
    pub fn request(&self, xid: u32, chaddr: &[u8; 6], ip: Ipv4Addr, offer: &Message) -> Outcome {
        let mut req = Self::msg(xid, chaddr, MessageType::Request);
        req.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
        if let Some(DhcpOption::ServerIdentifier(s)) =
            offer.opts().get(dhcproto::v4::OptionCode::ServerIdentifier)
        {
            req.opts_mut().insert(DhcpOption::ServerIdentifier(*s));
        }
        self.send(&req);
        match self.wait(xid, MessageType::Ack) {
            Some(_) => Outcome::Acked(ip),
            None => Outcome::OfferedOnly(ip),
        }
    }

    /// DISCOVER and return the OFFER itself (to REQUEST it later).
    pub fn offer(&self, xid: u32, chaddr: &[u8; 6]) -> Option<Message> {
        self.send(&Self::msg(xid, chaddr, MessageType::Discover));
        self.wait(xid, MessageType::Offer)
    }
}
