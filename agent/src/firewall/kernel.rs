//! Reading nf_tables' state straight over netlink: the ruleset generation
//! (a number the kernel bumps on every change anyone makes) and how many
//! rules our table has. No child process and no JSON, so it is cheap enough
//! for every event and every safety-net pass; writing stays with `nft`
//! (apply.rs), one atomic batch.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
/// NFTA_TABLE_NAME, NFTA_RULE_TABLE and NFTA_GEN_ID are all attribute 1.
const ATTR_1: u16 = 1;
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_INET: u8 = 1;
const NFPROTO_BRIDGE: u8 = 7;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One nf_tables request: netlink header, nfgenmsg, and optionally a
/// string attribute.
fn request(msg: u16, flags: u16, family: u8, seq: u32, name: Option<&str>) -> Vec<u8> {
    let mut body = vec![family, 0, 0, 0];
    if let Some(n) = name {
        let len = 4 + n.len() + 1;
        body.extend((len as u16).to_ne_bytes());
        body.extend(ATTR_1.to_ne_bytes());
        body.extend(n.as_bytes());
        body.push(0);
        body.resize(NFGENMSG_LEN + align4(len), 0);
    }
    let len = NLMSG_HDRLEN + body.len();
    let mut v = Vec::with_capacity(len);
    v.extend((len as u32).to_ne_bytes());
    v.extend((NFNL_SUBSYS_NFTABLES << 8 | msg).to_ne_bytes());
    v.extend(flags.to_ne_bytes());
    v.extend(seq.to_ne_bytes());
    v.extend(0u32.to_ne_bytes());
    v.extend(body);
    v
}

/// A reply message: its type and what follows the netlink header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    Message {
        kind: u16,
        body: &'a [u8],
    },
    /// NLMSG_ERROR: 0 is an acknowledgement, otherwise a positive errno.
    Error(i32),
    Done,
}

/// The messages in one datagram from the kernel; a malformed one ends it.
pub(crate) fn replies(buf: &[u8]) -> Vec<Reply<'_>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let body = &rest[NLMSG_HDRLEN..len];
        out.push(match kind {
            NLMSG_ERROR if body.len() >= 4 => {
                Reply::Error(-i32::from_ne_bytes([body[0], body[1], body[2], body[3]]))
            }
            NLMSG_DONE => Reply::Done,
            _ => Reply::Message { kind, body },
        });
        rest = &rest[align4(len).min(rest.len())..];
    }
    out
}

/// The first attribute 1 of an nf_tables message body, as a u32 (network order).
fn attr_u32(body: &[u8]) -> Option<u32> {
    let mut attrs = body.get(NFGENMSG_LEN..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == ATTR_1 && len >= 8 {
            return Some(u32::from_be_bytes([attrs[4], attrs[5], attrs[6], attrs[7]]));
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    None
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

struct Conn {
    sock: Socket,
    buf: Vec<u8>,
}

impl Conn {
    fn open() -> io::Result<Conn> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Conn {
            sock,
            buf: vec![0u8; 64 << 10],
        })
    }

    /// Send a request and hand each reply message to `each` until the
    /// answer is complete (`each` returns true) or the kernel says DONE.
    fn ask(&mut self, req: &[u8], mut each: impl FnMut(&Reply<'_>) -> io::Result<bool>) -> io::Result<()> {
        self.sock.send(req, 0)?;
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            for r in replies(&self.buf[..n]) {
                match r {
                    Reply::Done => return Ok(()),
                    Reply::Error(0) => {}
                    Reply::Error(code) => return Err(errno(code)),
                    r => {
                        if each(&r)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// The ruleset's generation now.
pub(crate) fn generation() -> io::Result<u32> {
    let mut c = Conn::open()?;
    let mut gen = None;
    c.ask(
        &request(NFT_MSG_GETGEN, NLM_F_REQUEST, NFPROTO_UNSPEC, 1, None),
        |r| {
            if let Reply::Message { kind, body } = r {
                if kind & 0xff == NFT_MSG_NEWGEN {
                    gen = attr_u32(body);
                    return Ok(true);
                }
            }
            Ok(false)
        },
    )?;
    gen.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no generation in the answer"))
}

/// How many rules `inet <table>` has; None when there is no such table.
pub(crate) fn rule_count(table: &str) -> io::Result<Option<usize>> {
    rule_count_in(NFPROTO_INET, table)
}

/// `rule_count` for the bridge family's table of this name (port security's).
pub(crate) fn bridge_rule_count(table: &str) -> io::Result<Option<usize>> {
    rule_count_in(NFPROTO_BRIDGE, table)
}

fn rule_count_in(family: u8, table: &str) -> io::Result<Option<usize>> {
    let mut c = Conn::open()?;
    let exists = c.ask(
        &request(NFT_MSG_GETTABLE, NLM_F_REQUEST, family, 1, Some(table)),
        |r| Ok(matches!(r, Reply::Message { kind, .. } if kind & 0xff == NFT_MSG_NEWTABLE)),
    );
    match exists {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        other => other?,
    }
    let mut n = 0;
    let req = request(
        NFT_MSG_GETRULE,
        NLM_F_REQUEST | NLM_F_DUMP,
        family,
        2,
        Some(table),
    );
    c.ask(&req, |r| {
        if matches!(r, Reply::Message { kind, .. } if kind & 0xff == NFT_MSG_NEWRULE) {
            n += 1;
        }
        Ok(false)
    })?;
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_laid_out_as_nf_tables_expects() {
        let r = request(
            NFT_MSG_GETRULE,
            NLM_F_REQUEST | NLM_F_DUMP,
            NFPROTO_INET,
            7,
            Some("netagent"),
        );
        // 16 header + 4 nfgenmsg + 4 attr header + "netagent\0" padded to 12.
        assert_eq!(r.len(), 36);
        assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 36);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 10 << 8 | 7);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), 0x301);
        assert_eq!(r[16], NFPROTO_INET);
        assert_eq!(&r[24..33], b"netagent\0");
    }

    #[test]
    fn replies_are_split_and_errors_read() {
        let mut gen = request(NFT_MSG_NEWGEN, 0, 0, 1, None);
        gen.extend(8u16.to_ne_bytes());
        gen.extend(1u16.to_ne_bytes());
        gen.extend(4242u32.to_be_bytes());
        let len = gen.len() as u32;
        gen[..4].copy_from_slice(&len.to_ne_bytes());
        let mut err = vec![0u8; 16];
        err[..4].copy_from_slice(&20u32.to_ne_bytes());
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend((-libc::ENOENT).to_ne_bytes());
        let both = [gen.clone(), err].concat();
        let r = replies(&both);
        assert_eq!(r.len(), 2);
        let Reply::Message { kind, body } = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(kind & 0xff, NFT_MSG_NEWGEN);
        assert_eq!(attr_u32(body), Some(4242));
        assert_eq!(r[1], Reply::Error(libc::ENOENT));
        assert!(replies(&both[..10]).is_empty(), "a cut message is no message");
    }
}
