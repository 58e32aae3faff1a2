//! Bytes to a DHCP message, defensively. dhcproto decodes the message; this
//! file first walks the options itself so that lengths that would trip the
//! decoder's internal assertions (found by `make fuzz`: option 94 with a
//! length other than 3 panics in a debug build) never reach it, and the
//! decoder runs under catch_unwind as a last line of defence. An option
//! that cannot be decoded is left out and the others kept, as dnsmasq and
//! Kea do: one bad hostname must not cost the client-id after it.

use dhcproto::v4::Message;
use dhcproto::Decodable;

const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Option lengths the decoder assumes without checking.
fn length_ok(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,        // rapid commit
        81 => len >= 3,        // client FQDN: flags, rcode1, rcode2, name
        94 => len == 3,        // client network interface identifier
        151 => len >= 1,       // bulk leasequery status code
        152..=155 => len == 4, // bulk leasequery times
        _ => true,
    }
}

/// The DHCP message type (option 53) read straight from the bytes, without
/// decoding the message: cheap enough to sort a backlog by.
pub fn message_type(b: &[u8]) -> Option<u8> {
    let mut found = None;
    walk(b, |code, val| {
        if code == 53 && val.len() == 1 {
            found = Some(val[0]);
        }
    })
    .ok()?;
    found
}

/// Visit each option of the options area; Err if it is malformed.
fn walk(b: &[u8], mut f: impl FnMut(u8, &[u8])) -> Result<(), &'static str> {
    if b.len() < 240 {
        return Err("shorter than a BOOTP header");
    }
    if b[236..240] != COOKIE {
        return Err("no DHCP magic cookie");
    }
    let mut i = 240;
    // Adjacent options of one code are one option in parts (RFC 3396): the
    // decoder joins them, so the length that counts is the run's.
    let mut run: Option<(u8, usize)> = None;
    while i < b.len() {
        match b[i] {
            0 => {
                run = None;
                i += 1;
            }
            255 => return Ok(()),
            code => {
                let len = usize::from(*b.get(i + 1).ok_or("option without a length")?);
                let val = b.get(i + 2..i + 2 + len).ok_or("option runs past the end")?;
                let total = match run {
                    Some((c, sofar)) if c == code => sofar + len,
                    _ => len,
                };
                run = Some((code, total));
                if !length_ok(code, total) {
                    return Err("option with an impossible length");
                }
                f(code, val);
                i += 2 + len;
            }
        }
    }
    Ok(())
}

/// Decode a DHCP message from the wire, or say why it is malformed.
pub fn decode(b: &[u8]) -> Result<Message, String> {
    let fixed = canonical_fqdn(b);
    let b = fixed.as_deref().unwrap_or(b);
    match strict(b) {
        // The decoder stops quietly at some bad options (a hostname that is
        // not UTF-8) and drops the rest: every option must have made it.
        Ok(m) if m.opts().len() == distinct_options(b) => Ok(m),
        Ok(m) => Ok(salvage(b).and_then(|fixed| strict(&fixed).ok()).unwrap_or(m)),
        // One bad option (a hostname that is not UTF-8, an impossible
        // length, a last option cut short) must not cost the others: the
        // client-id or server id after it decide the reply. dnsmasq and Kea
        // skip such an option and answer; so do we.
        Err(e) => salvage(b).and_then(|fixed| strict(&fixed).ok()).ok_or(e),
    }
}

/// Option 81 (client FQDN, RFC 4702) as clients really send it: the name
/// in ASCII (flag E=0: busybox udhcpc -F), or in wire format without the
/// final root label. The decoder takes only wire format with the root
/// label, so such a name is rewritten into it, the client's flags kept (the
/// reply answers in the client's encoding). None when there is nothing to
/// rewrite.
fn canonical_fqdn(b: &[u8]) -> Option<Vec<u8>> {
    let mut at = None;
    walk(b, |code, val| {
        if code == 81 && at.is_none() {
            at = Some(val.to_vec());
        }
    })
    .ok()?;
    let val = at?;
    let (head, name) = (val.get(..3)?, val.get(3..)?);
    let labels: Vec<&[u8]> = if head[0] & 0x04 != 0 {
        let mut v = Vec::new();
        let mut i = 0;
        while i < name.len() {
            let n = usize::from(name[i]);
            if n == 0 {
                if i + 1 == name.len() {
                    return None; // already canonical
                }
                break;
            }
            v.push(name.get(i + 1..i + 1 + n)?);
            i += 1 + n;
        }
        v
    } else {
        name.split(|c| *c == b'.').filter(|l| !l.is_empty()).collect()
    };
    if labels.iter().any(|l| l.len() > 63) {
        return None;
    }
    let mut opt = head.to_vec();
    for l in &labels {
        opt.push(l.len() as u8);
        opt.extend_from_slice(l);
    }
    opt.push(0);
    let len = u8::try_from(opt.len()).ok()?;
    // The packet again, option 81 replaced.
    let mut out = b[..240].to_vec();
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => break,
            code => {
                let n = usize::from(*b.get(i + 1)?);
                if code == 81 {
                    out.extend_from_slice(&[81, len]);
                    out.extend_from_slice(&opt);
                } else {
                    out.extend_from_slice(b.get(i..i + 2 + n)?);
                }
                i += 2 + n;
            }
        }
    }
    out.push(255);
    Some(out)
}

/// How many different option codes the packet carries (an option split
/// in parts, RFC 3396, is one).
fn distinct_options(b: &[u8]) -> usize {
    let mut seen = [false; 256];
    let _ = walk(b, |code, _| seen[usize::from(code)] = true);
    seen.iter().filter(|s| **s).count()
}

fn strict(b: &[u8]) -> Result<Message, String> {
    walk(b, |_, _| {}).map_err(String::from)?;
    match std::panic::catch_unwind(|| Message::from_bytes(b)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder failed on it".into()),
    }
}

/// The packet with every option that does not decode on its own left out,
/// and a last option cut short dropped; None if it is no DHCP packet at all.
fn salvage(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() < 240 || b[236..240] != COOKIE {
        return None;
    }
    let mut out = b[..240].to_vec();
    let mut i = 240;
    // The code and length of the last option kept, while the next may
    // continue it (RFC 3396); a part that would make the whole impossible
    // is left out.
    let mut run: Option<(u8, usize)> = None;
    while i < b.len() {
        let code = b[i];
        match code {
            0 => {
                run = None;
                i += 1;
            }
            255 => break,
            _ => {
                let Some(len) = b.get(i + 1).map(|l| usize::from(*l)) else {
                    break;
                };
                let Some(opt) = b.get(i..i + 2 + len) else { break };
                i += 2 + len;
                let total = match run {
                    Some((c, sofar)) if c == code => sofar + len,
                    _ => len,
                };
                let mut alone = b[..240].to_vec();
                alone.extend_from_slice(opt);
                alone.push(255);
                if length_ok(code, total) && strict(&alone).is_ok_and(|m| m.opts().len() == 1) {
                    out.extend_from_slice(opt);
                    run = Some((code, total));
                }
            }
        }
    }
    out.push(255);
    Some(out)
}

/// A reply as bytes, with the message type (option 53) as the first
/// option, as dnsmasq and Kea send it: naive client parsers look there.
pub fn encode(m: &Message) -> Result<Vec<u8>, String> {
    let mut b = Vec::with_capacity(576);
    encode_into(m, &mut b)?;
    Ok(b)
}

/// `encode` into a buffer kept from reply to reply (cleared first).
pub fn encode_into(m: &Message, b: &mut Vec<u8>) -> Result<(), String> {
    use dhcproto::{Encodable, Encoder};
    b.clear();
    m.encode(&mut Encoder::new(b)).map_err(|e| e.to_string())?;
    // Where option 53 sits in what we just encoded.
    let mut at = None;
    let mut i = 240;
    while i + 1 < b.len() {
        match b[i] {
            0 => i += 1,
            255 => break,
            53 => {
                at = Some(i);
                break;
            }
            _ => i += 2 + usize::from(b[i + 1]),
        }
    }
    if let Some(i) = at.filter(|i| *i > 240 && i + 3 <= b.len()) {
        let opt = [b[i], b[i + 1], b[i + 2]];
        b.copy_within(240..i, 243);
        b[240..243].copy_from_slice(&opt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::{DhcpOption, MessageType};
    use dhcproto::Encodable;
    use std::net::Ipv4Addr;

    fn bytes() -> Vec<u8> {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(1, z, z, z, z, &[2, 0, 0, 0, 0, 1]);
        m.opts_mut().insert(DhcpOption::Hostname("x".into()));
        m.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
        m.to_vec().unwrap()
    }

    /// A REQUEST whose options are: type, a hostname that is not UTF-8,
    /// client-id, then a requested address cut short by the packet's end.
    fn damaged() -> Vec<u8> {
        let mut b = vec![0u8; 240];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        b[236..240].copy_from_slice(&COOKIE);
        b.extend_from_slice(&[53, 1, 3]);
        b.extend_from_slice(&[12, 4, b'c', b'a', b'f', 0xe9]);
        b.extend_from_slice(&[61, 3, 0xff, 1, 2]);
        b.extend_from_slice(&[50, 4, 10, 0]);
        b
    }

    #[test]
    fn a_bad_option_costs_only_itself() {
        let m = decode(&damaged()).expect("decoded without the bad options");
        assert_eq!(m.opts().msg_type(), Some(MessageType::Request));
        assert!(matches!(
            m.opts().get(dhcproto::v4::OptionCode::ClientIdentifier),
            Some(DhcpOption::ClientIdentifier(id)) if id == &[0xff, 1, 2]
        ));
        assert!(m.opts().get(dhcproto::v4::OptionCode::Hostname).is_none());
        assert!(m
            .opts()
            .get(dhcproto::v4::OptionCode::RequestedIpAddress)
            .is_none());
        // Not DHCP at all stays an error.
        assert!(decode(&damaged()[..200]).is_err());
    }

    fn with_fqdn(opt: &[u8]) -> Vec<u8> {
        let mut b = damaged()[..240].to_vec();
        b.extend_from_slice(&[53, 1, 3]);
        b.extend_from_slice(&[81, opt.len() as u8]);
        b.extend_from_slice(opt);
        b.push(255);
        b
    }

    fn fqdn_of(b: &[u8]) -> Option<(bool, String)> {
        match decode(b).ok()?.opts().get(dhcproto::v4::OptionCode::ClientFQDN) {
            Some(DhcpOption::ClientFQDN(f)) => Some((f.flags().e(), f.domain().to_string())),
            _ => None,
        }
    }

    /// busybox udhcpc -F sends ASCII (E=0); some clients leave out the root
    /// label; dhclient sends the canonical form. All three are read.
    #[test]
    fn client_fqdn_in_every_encoding_clients_use() {
        let ascii = with_fqdn(b"\x01\0\0myhost.lab");
        assert_eq!(fqdn_of(&ascii), Some((false, "myhost.lab.".into())));
        let no_root = with_fqdn(b"\x05\0\0\x06myhost\x03lab");
        assert_eq!(fqdn_of(&no_root), Some((true, "myhost.lab.".into())));
        let canonical = with_fqdn(b"\x05\0\0\x06myhost\x03lab\0");
        assert_eq!(fqdn_of(&canonical), Some((true, "myhost.lab.".into())));
        assert_eq!(canonical_fqdn(&canonical), None, "nothing to rewrite");
        let single = with_fqdn(b"\x01\0\0myhost");
        assert_eq!(fqdn_of(&single), Some((false, "myhost.".into())));
    }

    #[test]
    fn replies_carry_the_message_type_first() {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(1, z, z, z, z, &[2, 0, 0, 0, 0, 1]);
        m.opts_mut()
            .insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        m.opts_mut()
            .insert(DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 1)]));
        m.opts_mut().insert(DhcpOption::AddressLeaseTime(3600));
        m.opts_mut().insert(DhcpOption::MessageType(MessageType::Ack));
        let b = encode(&m).unwrap();
        assert_eq!(&b[240..243], &[53, 1, 5]);
        let back = decode(&b).unwrap();
        assert_eq!(back.opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(back.opts().len(), m.opts().len());
    }

    #[test]
    fn message_type_is_read_without_decoding() {
        let b = bytes();
        assert_eq!(message_type(&b), Some(3));
        assert_eq!(message_type(&b[..100]), None);
    }

    /// Found by `make fuzz`: option 154 twice in a row, 4 bytes each, is
    /// one 8-byte option to the decoder, which asserts it has 4.
    #[test]
    fn an_option_in_parts_is_checked_as_a_whole() {
        let mut b = bytes()[..240].to_vec();
        b.extend_from_slice(&[53, 1, 1, 154, 4, 0, 0, 0, 1, 154, 4, 0, 0, 0, 2, 255]);
        let m = decode(&b).expect("decoded with the first part of option 154 only");
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(m.opts().len(), 2);
    }

    #[test]
    fn malformed_options_never_reach_the_decoder() {
        let b = bytes();
        assert!(decode(&b).is_ok());
        let mut past = b.clone();
        past[241] = 250; // the first option's length runs past the end
        let m = decode(&past).expect("the header stands");
        assert_eq!(
            m.opts().msg_type(),
            None,
            "nothing after a runaway length is trusted"
        );
        // Option 94 must be 3 bytes long; the decoder would assert on it.
        // It is left out, the message type kept.
        let mut bad94 = b[..240].to_vec();
        bad94.extend_from_slice(&[53, 1, 1, 94, 1, 0, 255]);
        let m = decode(&bad94).expect("decoded without option 94");
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(m.opts().len(), 1);
        assert!(decode(&[1, 2, 3]).is_err());
    }
}
