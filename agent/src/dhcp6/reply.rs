//! What the DHCPv6 server answers (RFC 8415 §16 and §18.3), decided here
//! without I/O: a message in, a reply and the lease changes out. Every
//! message comes from a guest and is treated as hostile: one that breaks
//! the RFC's rules for its type is dropped with the reason.

use std::net::Ipv6Addr;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, StatusCode, IANA, IAPD,
};
use dhcproto::Name;

use super::lease::{mac_of_duid, mac_of_link_local, Holder6, Lease6};
use super::pool::Pool6;
use crate::config::LeaseTime;
use crate::dhcp::lease::ClientId;

/// Why a message gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Drop {
    /// For another server, or a message servers do not answer: no log.
    #[error("not for this server")]
    NotForUs,
    #[error("{0}")]
    Invalid(&'static str),
}

/// A lease bound (true) or gone.
pub type Changes = Vec<(bool, Lease6)>;

#[derive(Debug)]
pub struct Out {
    pub reply: Message,
    pub changes: Changes,
}

/// What the server knows besides its pool.
#[derive(Debug)]
pub struct Context<'a> {
    /// Our DUID (option 2).
    pub server_id: &'a [u8],
    /// The sender's address (a link-local one, for the MAC in an EUI-64).
    pub from: Ipv6Addr,
    pub now: u64,
}

fn client_id(m: &Message) -> Option<&[u8]> {
    match m.opts().get(OptionCode::ClientId) {
        Some(DhcpOption::ClientId(d)) if !d.is_empty() && d.len() <= 130 => Some(d),
        _ => None,
    }
}

fn server_id(m: &Message) -> Option<&[u8]> {
    match m.opts().get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(d)) => Some(d),
        _ => None,
    }
}

fn ias(m: &Message) -> Vec<&IANA> {
    m.opts()
        .get_all(OptionCode::IANA)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IANA(ia) => Some(ia),
            _ => None,
        })
        .collect()
}

fn addrs_in(ia: &IANA) -> Vec<Ipv6Addr> {
    ia.opts
        .iter()
        .filter_map(|o| match o {
            DhcpOption::IAAddr(a) => Some(a.addr),
            _ => None,
        })
        .collect()
}

/// The host part of the client's FQDN option (39, RFC 4704): flags, then
/// a name in DNS wire format, whole or partial.
fn hostname(m: &Message) -> Option<String> {
    let data = m.opts().iter().find_map(|o| match o {
        DhcpOption::Unknown(u) if u16::from(u.code()) == 39 => Some(u.data().to_vec()),
        _ => None,
    })?;
    let len = usize::from(*data.get(1)?);
    let label = data.get(2..2 + len)?;
    let s = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
    let ok = !s.is_empty() && s.len() <= 63 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    ok.then_some(s)
}

/// Preferred and valid lifetimes, T1 and T2 for the pool's lease time.
fn times(l: LeaseTime) -> (u32, u32, u32) {
    match l {
        LeaseTime::Infinite => (u32::MAX, u32::MAX, u32::MAX),
        LeaseTime::Seconds(s) => (s, s / 2, s / 5 * 4),
    }
}

fn status(code: Status, msg: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        status: code,
        msg: msg.into(),
    })
}

fn ia_with(id: u32, addr: Option<(Ipv6Addr, LeaseTime)>, code: Option<(Status, &str)>) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    let (mut t1, mut t2) = (0, 0);
    if let Some((a, lt)) = addr {
        let (life, x1, x2) = times(lt);
        (t1, t2) = (x1, x2);
        opts.insert(DhcpOption::IAAddr(IAAddr {
            addr: a,
            preferred_life: life,
            valid_life: life,
            opts: DhcpOptions::new(),
        }));
    }
    if let Some((c, m)) = code {
        opts.insert(status(c, m));
    }
    DhcpOption::IANA(IANA { id, t1, t2, opts })
}

/// A reply of `kind` to `m`: our DUID, the client's, and the settings.
fn base(kind: MessageType, m: &Message, pool: &Pool6, ctx: &Context<'_>) -> Message {
    let mut r = Message::new_with_id(kind, m.xid());
    let o = r.opts_mut();
    o.insert(DhcpOption::ServerId(ctx.server_id.to_vec()));
    if let Some(c) = client_id(m) {
        o.insert(DhcpOption::ClientId(c.to_vec()));
    }
    if !pool.cfg.dns_servers.is_empty() {
        o.insert(DhcpOption::DomainNameServers(pool.cfg.dns_servers.clone()));
    }
    if let Some(d) = pool
        .cfg
        .domain
        .as_deref()
        .and_then(|d| Name::from_ascii(format!("{d}.")).ok())
    {
        o.insert(DhcpOption::DomainSearchList(vec![d]));
    }
    r
}

/// Check the message against RFC 8415 §16 and answer it.
pub fn handle(pool: &mut Pool6, ctx: &Context<'_>, m: &Message) -> Result<Out, Drop> {
    use MessageType as T;
    let kind = m.msg_type();
    let sid = server_id(m);
    let ours = sid == Some(ctx.server_id);
    match kind {
        T::Solicit | T::Rebind | T::Confirm => {
            if sid.is_some() {
                return Err(Drop::Invalid(
                    "a server identifier in a message that must not have one",
                ));
            }
        }
        T::Request | T::Renew | T::Release | T::Decline => match sid {
            None => return Err(Drop::Invalid("no server identifier")),
            Some(_) if !ours => return Err(Drop::NotForUs),
            Some(_) => {}
        },
        T::InformationRequest => {
            if sid.is_some() && !ours {
                return Err(Drop::NotForUs);
            }
            if !ias(m).is_empty() {
                return Err(Drop::Invalid("an information request with an IA_NA"));
            }
        }
        _ => return Err(Drop::NotForUs),
    }
    let duid = match (client_id(m), kind) {
        (Some(d), _) => d.to_vec(),
        (None, T::InformationRequest) => Vec::new(),
        (None, _) => return Err(Drop::Invalid("no client identifier")),
    };
    let mac = mac_of_duid(&duid).or_else(|| mac_of_link_local(ctx.from));
    let holder = |iaid: u32| -> Holder6 { (ClientId::new(&duid), iaid) };
    let lease_time = pool.cfg.lease_time;
    let mut changes = Changes::new();
    let bind = |pool: &mut Pool6, h: &Holder6, ip: Ipv6Addr, changes: &mut Changes| {
        let (l, old) = pool.bind(h, ip, mac, hostname(m), ctx.now);
        if let Some(o) = old {
            changes.push((false, o));
        }
        changes.push((true, l));
    };
    let reply = match kind {
        T::Solicit | T::Request => {
            let rapid = kind == T::Solicit && m.opts().get(OptionCode::RapidCommit).is_some();
            let commit = kind == T::Request || rapid;
            let mut r = base(if commit { T::Reply } else { T::Advertise }, m, pool, ctx);
            let list = ias(m);
            if list.is_empty() {
                r.opts_mut().insert(status(
                    Status::NoAddrsAvail,
                    "only IA_NA addresses are served here",
                ));
            }
            for ia in list {
                let h = holder(ia.id);
                match pool.choose(&h, mac, ctx.now) {
                    Some(ip) => {
                        if commit {
                            bind(pool, &h, ip, &mut changes);
                        } else {
                            pool.offer(&h, ip, ctx.now);
                        }
                        r.opts_mut().insert(ia_with(ia.id, Some((ip, lease_time)), None));
                    }
                    None => {
                        r.opts_mut().insert(ia_with(
                            ia.id,
                            None,
                            Some((Status::NoAddrsAvail, "no address free")),
                        ));
                    }
                }
            }
            // Prefixes are not delegated on guest networks.
            for o in m.opts().get_all(OptionCode::IAPD).unwrap_or_default() {
                if let DhcpOption::IAPD(pd) = o {
                    let mut opts = DhcpOptions::new();
                    opts.insert(status(Status::NoPrefixAvail, "no prefixes are delegated here"));
                    r.opts_mut().insert(DhcpOption::IAPD(IAPD {
                        id: pd.id,
                        t1: 0,
                        t2: 0,
                        opts,
                    }));
                }
            }
            if rapid {
                r.opts_mut().insert(DhcpOption::RapidCommit);
            }
            r
        }
        T::Renew | T::Rebind => {
            let mut r = base(T::Reply, m, pool, ctx);
            for ia in ias(m) {
                let h = holder(ia.id);
                match pool.held(&h, ctx.now).map(|l| l.ip) {
                    Some(ip) => {
                        bind(pool, &h, ip, &mut changes);
                        r.opts_mut().insert(ia_with(ia.id, Some((ip, lease_time)), None));
                    }
                    None => {
                        // Addresses not of this link get lifetimes of 0 on
                        // a rebind, so the client drops them (§18.3.5).
                        let foreign: Vec<Ipv6Addr> = addrs_in(ia)
                            .into_iter()
                            .filter(|a| !pool.cfg.prefix.contains(a))
                            .collect();
                        if kind == T::Rebind && !foreign.is_empty() {
                            let mut opts = DhcpOptions::new();
                            for a in foreign {
                                opts.insert(DhcpOption::IAAddr(IAAddr {
                                    addr: a,
                                    preferred_life: 0,
                                    valid_life: 0,
                                    opts: DhcpOptions::new(),
                                }));
                            }
                            r.opts_mut().insert(DhcpOption::IANA(IANA {
                                id: ia.id,
                                t1: 0,
                                t2: 0,
                                opts,
                            }));
                        } else {
                            r.opts_mut().insert(ia_with(
                                ia.id,
                                None,
                                Some((Status::NoBinding, "no binding for this IA")),
                            ));
                        }
                    }
                }
            }
            r
        }
        T::Release | T::Decline => {
            let mut r = base(T::Reply, m, pool, ctx);
            for ia in ias(m) {
                let h = holder(ia.id);
                let mut any = false;
                for a in addrs_in(ia) {
                    let gone = if kind == T::Release {
                        pool.release(&h, a)
                    } else {
                        pool.decline(&h, a, ctx.now)
                    };
                    if let Some(l) = gone {
                        changes.push((false, l));
                        any = true;
                    }
                }
                if !any {
                    r.opts_mut().insert(ia_with(
                        ia.id,
                        None,
                        Some((Status::NoBinding, "no binding for this IA")),
                    ));
                }
            }
            r.opts_mut().insert(status(Status::Success, "done"));
            r
        }
        T::Confirm => {
            let all: Vec<Ipv6Addr> = ias(m).into_iter().flat_map(addrs_in).collect();
            if all.is_empty() {
                return Err(Drop::Invalid("a confirm without addresses"));
            }
            let mut r = base(T::Reply, m, pool, ctx);
            if all.iter().all(|a| pool.cfg.prefix.contains(a)) {
                r.opts_mut()
                    .insert(status(Status::Success, "all addresses on link"));
            } else {
                r.opts_mut().insert(status(Status::NotOnLink, "not on this link"));
            }
            r
        }
        _ => base(T::Reply, m, pool, ctx), // information request
    };
    Ok(Out { reply, changes })
}

#[cfg(test)]
mod tests;
