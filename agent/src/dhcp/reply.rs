//! What to answer to one DHCP message, and where to send it (RFC 2131).
//! Pure: the pool and the time come in, a reply and the lease changes come
//! out. Every drop has a reason, which the server logs (rate-limited).

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, DhcpOptions, Flags, HType, Message, MessageType, Opcode, OptionCode};

use super::lease::{ClientId, Lease};
use super::pool::Pool;
use crate::config::{LeaseTime, MacAddr};

/// Where a reply goes, by RFC 2131 §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// To a relay agent, at giaddr port 67.
    Relay(Ipv4Addr),
    /// To a client that has an address (ciaddr), port 68.
    Unicast(Ipv4Addr),
    /// To 255.255.255.255 port 68 on the bridge.
    Broadcast,
    /// To the offered address and chaddr without waiting for ARP: framed
    /// to the MAC on a packet socket (`direct.rs`).
    Direct(Ipv4Addr, MacAddr),
}

#[derive(Debug)]
pub struct Reply {
    pub msg: Message,
    pub dest: Dest,
}

/// What changed in the lease table, for the journal and for DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Bound(Lease),
    Gone(Lease),
}

impl Change {
    /// What DNS learns from it.
    pub fn name(&self) -> crate::lease_name::LeaseName<'_> {
        match self {
            Change::Bound(l) => l.name(true),
            Change::Gone(l) => l.name(false),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Drop {
    NotARequest,
    NoMessageType,
    BadHardwareAddress,
    NotForUs,
    Exhausted,
    Ignored(&'static str),
}

impl std::fmt::Display for Drop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Drop::NotARequest => "not a BOOTREQUEST",
            Drop::NoMessageType => "no DHCP message type",
            Drop::BadHardwareAddress => "neither an Ethernet address nor a client-id",
            Drop::NotForUs => "addressed to another server",
            Drop::Exhausted => "no free address in the pool",
            Drop::Ignored(why) => why,
        })
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub changes: Vec<Change>,
}

fn none(changes: Vec<Change>) -> Result<Outcome, Drop> {
    Ok(Outcome { reply: None, changes })
}

/// Whether the client has an Ethernet address we can send to directly:
/// the first six octets of chaddr, whatever longer hlen it says (a padded
/// chaddr, hlen 16, is offered by Kea and dnsmasq alike).
fn ethernet(m: &Message) -> bool {
    m.htype() == HType::Eth && m.hlen() >= 6 && m.chaddr().len() >= 6
}

/// The client's MAC; for a client of another hardware type (InfiniBand,
/// RFC 4390: no usable chaddr, a client-id it must send), a stable
/// locally administered stand-in derived from its client-id, so the pool
/// can count and show it like any other.
pub(crate) fn mac_of(m: &Message) -> Result<MacAddr, Drop> {
    if ethernet(m) {
        let mut a = [0u8; 6];
        a.copy_from_slice(&m.chaddr()[..6]);
        return Ok(MacAddr(a));
    }
    match m.opts().get(OptionCode::ClientIdentifier) {
        Some(DhcpOption::ClientIdentifier(id)) if !id.is_empty() => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in id {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            let b = h.to_be_bytes();
            Ok(MacAddr([0x06, b[1], b[2], b[3], b[4], b[5]]))
        }
        _ => Err(Drop::BadHardwareAddress),
    }
}

pub(crate) fn client_id(m: &Message, mac: MacAddr) -> ClientId {
    match m.opts().get(OptionCode::ClientIdentifier) {
        Some(DhcpOption::ClientIdentifier(id)) if !id.is_empty() => ClientId::new(id),
        _ => ClientId::from_mac(mac),
    }
}

fn requested_ip(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    }
}

fn server_id(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

/// The answer to a client's option 81 (RFC 4702 §4): netagent registers
/// the name in its own DNS, so S=1 (and O=1 when the client asked us not
/// to), N=0, E as the client wrote it, RCODEs 255, and the name as the
/// guests' DNS serves it (qualified with the network's domain).
fn fqdn_answer(m: &Message, host: &str, domain: Option<&str>) -> Option<DhcpOption> {
    let Some(DhcpOption::ClientFQDN(asked)) = m.opts().get(OptionCode::ClientFQDN) else {
        return None;
    };
    let name = match domain {
        Some(d) => format!("{host}.{d}."),
        None => format!("{host}."),
    };
    let flags = dhcproto::v4::fqdn::FqdnFlags::new(0)
        .set_s(true)
        .set_o(!asked.flags().s())
        .set_e(asked.flags().e());
    let mut f = dhcproto::v4::fqdn::ClientFQDN::new(flags, dhcproto::Name::from_ascii(&name).ok()?);
    f.set_r1(255).set_r2(255);
    Some(DhcpOption::ClientFQDN(f))
}

/// Whether the client's parameter request list (option 55) names `code`.
fn asked_for(m: &Message, code: OptionCode) -> bool {
    matches!(m.opts().get(OptionCode::ParameterRequestList), Some(DhcpOption::ParameterRequestList(l)) if l.contains(&code))
}

/// The client's name from option 12, or the first label of option 81,
/// reduced to what a DNS label may hold. A first label longer than a DNS
/// label (63 octets; RFC 3396 lets option 12 run to hundreds) is no name:
/// cut short it would be a name the client never sent, and Kea and
/// dnsmasq then send none back either.
pub fn hostname(m: &Message) -> Option<String> {
    let raw = match m.opts().get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(h)) => h.clone(),
        _ => match m.opts().get(OptionCode::ClientFQDN) {
            Some(DhcpOption::ClientFQDN(f)) => f.domain().to_string(),
            _ => return None,
        },
    };
    if raw.split('.').next().unwrap_or("").len() > 63 {
        return None;
    }
    label(&raw)
}

/// A name's first label reduced to what a DNS label may hold (letters,
/// digits, inner hyphens; 63 at most; lower case): a client's hostname,
/// or a libvirt domain's name. None if nothing is left.
pub fn label(raw: &str) -> Option<String> {
    let label: String = raw
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect::<String>()
        .to_ascii_lowercase();
    let label = label.trim_matches('-').to_string();
    (!label.is_empty()).then_some(label)
}

/// Decide the answer to `m`. `now` is Unix seconds.
pub fn handle(pool: &mut Pool, m: &Message, now: u64) -> Result<Outcome, Drop> {
    if m.opcode() != Opcode::BootRequest {
        return Err(Drop::NotARequest);
    }
    let kind = m.opts().msg_type().ok_or(Drop::NoMessageType)?;
    let mac = mac_of(m)?;
    let client = client_id(m, mac);
    // RFC 2131 §4.3.1: a relayed message is served from giaddr's subnet;
    // a relay in none of ours is for another server.
    if !m.giaddr().is_unspecified() && !pool.in_subnet(m.giaddr()) {
        return Err(Drop::NotForUs);
    }
    match kind {
        MessageType::Discover => discover(pool, m, mac, &client, now),
        MessageType::Request => request(pool, m, mac, &client, now),
        MessageType::Release => {
            let gone = pool.release(&client, m.ciaddr());
            none(gone.into_iter().map(Change::Gone).collect())
        }
        MessageType::Decline => match requested_ip(m) {
            Some(ip) if server_id(m).is_none_or(|s| s == pool.cfg.server) => {
                match pool.decline(&client, ip, now) {
                    (gone, true) => none(gone.into_iter().map(Change::Gone).collect()),
                    (_, false) => Err(Drop::Ignored(
                        "DECLINE of an address not offered or leased to the sender",
                    )),
                }
            }
            _ => Err(Drop::Ignored("DECLINE without a requested address")),
        },
        MessageType::Inform => inform(pool, m),
        _ => Err(Drop::Ignored("message type a server does not take")),
    }
}

fn discover(
    pool: &mut Pool,
    m: &Message,
    mac: MacAddr,
    client: &ClientId,
    now: u64,
) -> Result<Outcome, Drop> {
    if pool.mac_full(client, mac) {
        return Err(Drop::Ignored(
            "this MAC holds as many leases as one MAC may, under other client-ids",
        ));
    }
    let ip = pool
        .choose(client, mac, requested_ip(m), now)
        .ok_or(Drop::Exhausted)?;
    pool.hold_offer(ip, client, now);
    let mut msg = build(pool, m, MessageType::Offer, ip, true);
    // A static host's configured name is its name: guests that take their
    // hostname from DHCP learn it. A client's own is sent back if asked.
    let name = pool
        .static_for(mac)
        .and_then(|(_, n)| n)
        .or_else(|| asked_for(m, OptionCode::Hostname).then(|| hostname(m)).flatten());
    if let Some(h) = name {
        msg.opts_mut().insert(DhcpOption::Hostname(h));
    }
    if let Some(f) = hostname(m).and_then(|h| fqdn_answer(m, &h, pool.cfg.options.domain.as_deref())) {
        msg.opts_mut().insert(f);
    }
    Ok(Outcome {
        reply: Some(Reply {
            dest: dest(m, ip, mac, false),
            msg,
        }),
        changes: Vec::new(),
    })
}

fn request(pool: &mut Pool, m: &Message, mac: MacAddr, client: &ClientId, now: u64) -> Result<Outcome, Drop> {
    if server_id(m).is_some_and(|s| s != pool.cfg.server) {
        // The client picked another server (or renews with it): forget ours.
        return Err(Drop::NotForUs);
    }
    let renewing = !m.ciaddr().is_unspecified();
    let (ip, init_reboot) = match (server_id(m), requested_ip(m)) {
        // SELECTING: the client takes our offer.
        (Some(_), Some(ip)) if !renewing => (ip, false),
        // INIT-REBOOT: verifying a remembered address.
        (None, Some(ip)) if !renewing => (ip, true),
        // RENEWING / REBINDING: ciaddr holds the address (some clients add
        // our server id; dnsmasq and Kea ACK those too).
        _ if renewing => (m.ciaddr(), false),
        (Some(_), _) => return Err(Drop::Ignored("REQUEST with a server id but no address")),
        (None, _) => return Err(Drop::Ignored("REQUEST without an address")),
    };
    // RFC 2131 §4.3.2: INIT-REBOOT verifies the client's binding; another
    // address than the one it holds is wrong, however free.
    let moved = init_reboot
        && pool
            .lease_of(client)
            .is_some_and(|l| l.ip != ip && !l.expired(now));
    // Authoritative, like libvirt's dnsmasq: an address that is not this
    // client's to have is refused at once, so the client starts over.
    let ok = !moved && pool.in_subnet(ip) && pool.available(ip, client, mac, now);
    if !ok {
        let msg = nak(pool, m);
        return Ok(Outcome {
            reply: Some(Reply {
                dest: dest(m, ip, mac, true),
                msg,
            }),
            changes: Vec::new(),
        });
    }
    let expires = pool.cfg.lease_time.seconds().map(|s| now + u64::from(s));
    // A renewal without a name keeps the name the lease has.
    let name = hostname(m).or_else(|| {
        pool.lease_of(client)
            .filter(|l| l.ip == ip)
            .and_then(|l| l.hostname.as_deref().map(String::from))
    });
    let lease = pool.bind(ip, client, mac, name, expires);
    let mut msg = build(pool, m, MessageType::Ack, ip, true);
    // RFC 2131 Table 3: the ACK carries the ciaddr of the REQUEST.
    msg.set_ciaddr(m.ciaddr());
    if let Some(h) = &lease.hostname {
        if asked_for(m, OptionCode::Hostname) || pool.static_for(mac).is_some_and(|(_, n)| n.is_some()) {
            msg.opts_mut().insert(DhcpOption::Hostname(h.to_string()));
        }
        if let Some(f) = fqdn_answer(m, h, pool.cfg.options.domain.as_deref()) {
            msg.opts_mut().insert(f);
        }
    }
    Ok(Outcome {
        reply: Some(Reply {
            dest: dest(m, ip, mac, false),
            msg,
        }),
        changes: vec![Change::Bound(lease)],
    })
}

fn inform(pool: &Pool, m: &Message) -> Result<Outcome, Drop> {
    let ciaddr = m.ciaddr();
    if ciaddr.is_unspecified() {
        return Err(Drop::Ignored("INFORM without ciaddr"));
    }
    let mut msg = build(pool, m, MessageType::Ack, Ipv4Addr::UNSPECIFIED, false);
    msg.set_ciaddr(ciaddr);
    let dest = if m.giaddr().is_unspecified() {
        Dest::Unicast(ciaddr)
    } else {
        Dest::Relay(m.giaddr())
    };
    Ok(Outcome {
        reply: Some(Reply { msg, dest }),
        changes: Vec::new(),
    })
}

/// RFC 2131 §4.1: relay first; then ciaddr; NAKs and broadcast-flag
/// requests by broadcast; else straight to the new address.
fn dest(m: &Message, ip: Ipv4Addr, mac: MacAddr, is_nak: bool) -> Dest {
    if !m.giaddr().is_unspecified() {
        Dest::Relay(m.giaddr())
    } else if is_nak {
        Dest::Broadcast
    } else if !m.ciaddr().is_unspecified() {
        Dest::Unicast(m.ciaddr())
    } else if m.flags().broadcast() || !ethernet(m) {
        // Without an Ethernet address there is nobody to unicast to.
        Dest::Broadcast
    } else {
        Dest::Direct(ip, mac)
    }
}

fn reply_base(m: &Message, kind: MessageType, server: Ipv4Addr) -> Message {
    let mut r = Message::new_with_id(
        m.xid(),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        m.giaddr(),
        m.chaddr().get(..usize::from(m.hlen().min(16))).unwrap_or(&[]),
    );
    r.set_opcode(Opcode::BootReply);
    r.set_htype(m.htype());
    r.set_flags(m.flags());
    let mut o = DhcpOptions::new();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ServerIdentifier(server));
    // Echo the client identifier (RFC 6842) and the relay agent information
    // (RFC 3046 §2.2): clients and relays match replies by them.
    for code in [OptionCode::ClientIdentifier, OptionCode::RelayAgentInformation] {
        if let Some(opt) = m.opts().get(code) {
            o.insert(opt.clone());
        }
    }
    r.set_opts(o);
    r
}

fn nak(pool: &Pool, m: &Message) -> Message {
    let mut r = reply_base(m, MessageType::Nak, pool.cfg.server);
    if !m.giaddr().is_unspecified() {
        // A relay must broadcast the NAK on the client's segment.
        r.set_flags(Flags::default().set_broadcast());
    }
    r
}

fn build(pool: &Pool, m: &Message, kind: MessageType, ip: Ipv4Addr, with_lease: bool) -> Message {
    let c = &pool.cfg;
    let mut r = reply_base(m, kind, c.server);
    r.set_yiaddr(ip);
    if let Some(p) = &c.options.pxe {
        // Old PXE ROMs read the BOOTP fields, newer ones options 66/67: set both.
        r.set_siaddr(p.server.unwrap_or(c.server));
        r.set_fname_str(&p.file);
    }
    let o = r.opts_mut();
    if with_lease {
        match c.lease_time {
            LeaseTime::Infinite => {
                o.insert(DhcpOption::AddressLeaseTime(u32::MAX));
            }
            LeaseTime::Seconds(s) => {
                o.insert(DhcpOption::AddressLeaseTime(s));
                o.insert(DhcpOption::Renewal(s / 2));
                o.insert(DhcpOption::Rebinding(s / 8 * 7));
            }
        }
    }
    o.insert(DhcpOption::SubnetMask(c.subnet.netmask()));
    if let Some(gw) = c.options.router {
        o.insert(DhcpOption::Router(vec![gw]));
    }
    if !c.options.dns_servers.is_empty() {
        o.insert(DhcpOption::DomainNameServer(c.options.dns_servers.clone()));
    }
    if let Some(d) = &c.options.domain {
        o.insert(DhcpOption::DomainName(d.clone()));
    }
    if let Some(mtu) = c.options.mtu {
        o.insert(DhcpOption::InterfaceMtu(mtu.min(u32::from(u16::MAX)) as u16));
    }
    if !c.options.classless_routes.is_empty() {
        o.insert(DhcpOption::ClasslessStaticRoute(
            c.options.classless_routes.clone(),
        ));
    }
    if let Some(p) = &c.options.pxe {
        let server = p.server.unwrap_or(c.server);
        o.insert(DhcpOption::BootfileName(p.file.as_bytes().to_vec()));
        o.insert(DhcpOption::TFTPServerName(server.to_string().into_bytes()));
    }
    // As dnsmasq: an option set by hand goes to a client that asks for it,
    // or to every client when forced.
    for x in &c.options.extra {
        let code = OptionCode::from(x.code);
        if x.force || asked_for(m, code) {
            o.insert(DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
                code,
                x.data.clone(),
            )));
        }
    }
    r
}

#[cfg(test)]
mod tests;
