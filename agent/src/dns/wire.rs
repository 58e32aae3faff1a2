//! The question of a DNS query read straight from the bytes: enough to
//! find a ready answer without decoding the message. Anything unusual
//! (several questions, a non-query opcode, answers in a query) returns None
//! and takes the full path.

/// The parts of a query the answer cache is keyed on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Question<'a> {
    /// The question section as sent: name, type, class.
    pub section: &'a [u8],
    /// The name in lower case, as wire labels.
    pub key: Vec<u8>,
    pub qtype: u16,
    /// Whether the query carries an EDNS OPT record (the answer must too).
    pub edns: bool,
}

pub(crate) fn question(b: &[u8]) -> Option<Question<'_>> {
    if b.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let qr = flags >> 15;
    let opcode = (flags >> 11) & 0xf;
    let count = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    if qr != 0 || opcode != 0 || count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let mut i = 12;
    let mut key = Vec::with_capacity(32);
    loop {
        let len = usize::from(*b.get(i)?);
        if len == 0 {
            key.push(0);
            i += 1;
            break;
        }
        if len > 63 || key.len() + len > 255 {
            return None; // compression pointers and long names: full path
        }
        key.push(len as u8);
        key.extend(b.get(i + 1..i + 1 + len)?.iter().map(|c| c.to_ascii_lowercase()));
        i += 1 + len;
    }
    let qtype = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]);
    if qclass != 1 {
        return None;
    }
    let end = i + 4;
    let edns = count(10) == 1;
    if edns {
        // The one additional record must be an OPT for the root name.
        if b.get(end) != Some(&0) || b.get(end + 1..end + 3) != Some(&[0, 41]) {
            return None;
        }
    } else if b.len() != end {
        return None;
    }
    Some(Question {
        section: &b[12..end],
        key,
        qtype,
        edns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], edns: bool) -> Vec<u8> {
        let mut b = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        b.extend_from_slice(name);
        b.extend_from_slice(&[0, 1, 0, 1]);
        if edns {
            b.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        b
    }

    #[test]
    fn reads_the_question() {
        let b = query(b"\x03Web\x03lab\x00", false);
        let q = question(&b).unwrap();
        assert_eq!(q.key, b"\x03web\x03lab\x00");
        assert_eq!((q.qtype, q.edns), (1, false));
        assert_eq!(q.section, &b[12..]);
        assert!(question(&query(b"\x03web\x00", true)).unwrap().edns);
    }

    #[test]
    fn unusual_queries_take_the_full_path() {
        assert!(question(&[0; 5]).is_none());
        let mut resp = query(b"\x03web\x00", false);
        resp[2] |= 0x80;
        assert!(question(&resp).is_none());
        assert!(question(&query(b"\xc0\x0c", false)).is_none());
        assert!(question(&query(b"\x03web", false)).is_none());
        let mut trailing = query(b"\x03web\x00", false);
        trailing.push(0);
        assert!(question(&trailing).is_none());
    }
}
