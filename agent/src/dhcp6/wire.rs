//! Bytes to a DHCPv6 message, defensively. dhcproto decodes the message;
//! every option length is checked first (the decoder subtracts from some
//! without checking, and reads fixed-size options whatever their length
//! says: `make fuzz` found the first), and the decoder runs under
//! catch_unwind as a last line of defence.

use dhcproto::v6::Message;
use dhcproto::{Decodable, Decoder};

/// RELAY-FORW and RELAY-REPL: relays are not served (the guests are on
/// the bridge itself), and their header is another shape.
const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;

/// Nesting the RFC allows (an IA_NA holding IA Addresses holding a status).
const MAX_DEPTH: usize = 3;

/// Check every option in `b` (and the options inside IA options).
fn options(mut b: &[u8], depth: usize) -> Result<(), &'static str> {
    if depth > MAX_DEPTH {
        return Err("options nested too deep");
    }
    while !b.is_empty() {
        let [c0, c1, l0, l1, rest @ ..] = b else {
            return Err("an option cut short");
        };
        let code = u16::from_be_bytes([*c0, *c1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let body = rest.get(..len).ok_or("an option longer than the message")?;
        let exact = |n: usize| {
            if len == n {
                Ok(())
            } else {
                Err("an option of the wrong length")
            }
        };
        let at_least = |n: usize| {
            if len >= n {
                Ok(())
            } else {
                Err("an option too short")
            }
        };
        match code {
            // IA_NA, IA_PD: IAID, T1, T2, then options.
            3 | 25 => {
                at_least(12)?;
                options(&body[12..], depth + 1)?;
            }
            // IA_TA: IAID, then options.
            4 => {
                at_least(4)?;
                options(&body[4..], depth + 1)?;
            }
            // IA Address: address, two lifetimes, then options.
            5 => {
                at_least(24)?;
                options(&body[24..], depth + 1)?;
            }
            // IA Prefix: two lifetimes, length, prefix, then options.
            26 => {
                at_least(25)?;
                options(&body[25..], depth + 1)?;
            }
            6 if len % 2 != 0 => return Err("an option request of odd length"),
            7 | 19 => exact(1)?,
            8 => exact(2)?,
            9 => return Err("a relay message outside a relay"),
            11 => at_least(11)?,
            12 => exact(16)?,
            13 => at_least(2)?,
            14 | 20 => exact(0)?,
            16 => at_least(4)?,
            // Vendor-specific information: enterprise number, then options.
            17 => {
                at_least(4)?;
                options(&body[4..], depth + 1)?;
            }
            23 if len % 16 != 0 => return Err("a DNS server list not in 16-byte addresses"),
            32 => exact(4)?,
            _ => {}
        }
        b = &rest[len..];
    }
    Ok(())
}

/// A DHCPv6 message from the wire, or why it is not one netagent answers.
pub fn decode(b: &[u8]) -> Result<Message, String> {
    match b.first() {
        None => return Err("an empty packet".into()),
        Some(&(RELAY_FORW | RELAY_REPL)) => return Err("a relay message (not served)".into()),
        Some(_) => {}
    }
    let body = b.get(4..).ok_or("shorter than a DHCPv6 header")?;
    options(body, 0)?;
    match std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(b))) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder failed on it".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_the_decoder_would_trip_on_are_refused() {
        // A status code of length 0 (the decoder subtracts 2 from it):
        // what `make fuzz` found.
        let crash = [0x0b, 0x09, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(decode(&crash).is_err());
        let status0 = [1, 0, 0, 1, 0, 13, 0, 0];
        assert_eq!(decode(&status0).err().as_deref(), Some("an option too short"));
        let pref3 = [1, 0, 0, 1, 0, 7, 0, 3, 1, 2, 3];
        assert_eq!(
            decode(&pref3).err().as_deref(),
            Some("an option of the wrong length")
        );
        let cut = [1, 0, 0, 1, 0, 1, 0, 9, 1];
        assert_eq!(
            decode(&cut).err().as_deref(),
            Some("an option longer than the message")
        );
        // A vendor class of length 2 inside vendor options (`make fuzz`,
        // second finding: the decoder subtracts 4 from it).
        let nested = [1, 0, 0, 1, 0, 17, 0, 10, 0, 0, 0, 9, 0, 16, 0, 2, 0, 0];
        assert_eq!(decode(&nested).err().as_deref(), Some("an option too short"));
        let ia_short = [1, 0, 0, 1, 0, 3, 0, 4, 0, 0, 0, 1];
        assert_eq!(decode(&ia_short).err().as_deref(), Some("an option too short"));
        assert!(decode(&[12, 0, 0, 0]).is_err(), "relays are not served");
        // A good SOLICIT: client id and an IA_NA with an IA address inside.
        let mut ok = vec![1, 0xaa, 0xbb, 0xcc, 0, 1, 0, 4, 0, 3, 0, 1];
        let iaaddr: Vec<u8> = [&[0u8, 5, 0, 24][..], &[0xfd; 16][..], &[0; 8][..]].concat();
        ok.extend_from_slice(&[0, 3, 0, (12 + iaaddr.len()) as u8]);
        ok.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        ok.extend_from_slice(&iaaddr);
        let m = decode(&ok).expect("a valid solicit");
        assert_eq!(m.xid(), [0xaa, 0xbb, 0xcc]);
    }
}
