//! Bytes to a DHCP message, defensively. dhcproto decodes the message; this
//! file first walks the options itself so that lengths that would trip the
//! decoder's internal assertions (found by `make fuzz`: option 94 with a
//! length other than 3 panics in a debug build) are refused as malformed,
//! and the decoder runs under catch_unwind as a last line of defence.

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
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => return Ok(()),
            code => {
                let len = usize::from(*b.get(i + 1).ok_or("option without a length")?);
                let val = b.get(i + 2..i + 2 + len).ok_or("option runs past the end")?;
                if !length_ok(code, len) {
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
    walk(b, |_, _| {}).map_err(String::from)?;
    match std::panic::catch_unwind(|| Message::from_bytes(b)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder failed on it".into()),
    }
}

/// A reply as bytes, with the message type (option 53) as the first
/// option, as dnsmasq and Kea send it: naive client parsers look there.
pub fn encode(m: &Message) -> Result<Vec<u8>, String> {
    use dhcproto::Encodable;
    let mut b = m.to_vec().map_err(|e| e.to_string())?;
    let mut at = None;
    walk(&b, |_, _| {}).map_err(String::from)?;
    // Find option 53's offset: walk again, counting positions.
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
        let opt: Vec<u8> = b[i..i + 3].to_vec();
        b.copy_within(240..i, 243);
        b[240..243].copy_from_slice(&opt);
    }
    Ok(b)
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

    #[test]
    fn malformed_options_are_refused_before_decoding() {
        let b = bytes();
        assert!(decode(&b).is_ok());
        let mut past = b.clone();
        past[241] = 250; // the first option's length runs past the end
        assert!(decode(&past).is_err());
        // Option 94 must be 3 bytes long; the decoder would assert on it.
        let mut bad94 = b[..240].to_vec();
        bad94.extend_from_slice(&[53, 1, 1, 94, 1, 0, 255]);
        assert_eq!(decode(&bad94).unwrap_err(), "option with an impossible length");
        assert!(decode(&[1, 2, 3]).is_err());
    }
}
