//! The question of a DNS query read straight from the bytes: enough to
//! find a ready answer without decoding the message. Anything unusual
//! (several questions, a non-query opcode, answers in a query) returns None
//! and takes the full path.

/// The parts of a query the answer cache is keyed on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Question<'a> {
    /// The question section as sent: name, type, class.
    pub section: &'a [u8],
    /// The name as sent, as wire labels (uncompressed, at most 255 bytes).
    pub name: &'a [u8],
    pub qtype: u16,
    /// Whether the query carries an EDNS OPT record (the answer must too).
    pub edns: bool,
    /// The largest UDP answer the client takes: 512 without EDNS, else
    /// what its OPT record says (never less than 512, RFC 6891 §6.2.5).
    pub udp_size: u16,
    /// The DNSSEC OK bit of its OPT record.
    pub dnssec_ok: bool,
    /// The CD flag: a validating client asks for data its upstream may
    /// have found bogus; that answer is not for clients that did not ask.
    pub checking_disabled: bool,
}

/// What shapes an answer besides its question: an answer built for one
/// client is replayed only to clients of the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    pub edns: bool,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
    /// The client's buffer, rounded down to a class: 512, 1232 (the DNS
    /// flag day size), 4096.
    pub size_class: u16,
}

impl Question<'_> {
    /// The answer cache's key, written into `out`: the name in lower case,
    /// the type, and the shape (one byte) of the client it is for.
    pub(crate) fn write_key(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend(self.name.iter().map(u8::to_ascii_lowercase));
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.push(self.shape().byte());
    }

    pub(crate) fn shape(&self) -> Shape {
        let size_class = [4096, 1232, 512]
            .into_iter()
            .find(|c| self.udp_size >= *c)
            .unwrap_or(512);
        Shape {
            edns: self.edns,
            dnssec_ok: self.dnssec_ok,
            checking_disabled: self.checking_disabled,
            size_class,
        }
    }
}

impl Shape {
    /// The shape as one byte, for the cache key.
    fn byte(self) -> u8 {
        let class = match self.size_class {
            4096 => 2,
            1232 => 1,
            _ => 0,
        };
        u8::from(self.edns)
            | u8::from(self.dnssec_ok) << 1
            | u8::from(self.checking_disabled) << 2
            | class << 3
    }

    /// The shape a cache key ends in (see `Question::write_key`).
    pub(crate) fn of_key(key: &[u8]) -> Option<Shape> {
        let b = *key.last()?;
        Some(Shape {
            edns: b & 1 != 0,
            dnssec_ok: b & 2 != 0,
            checking_disabled: b & 4 != 0,
            size_class: [512, 1232, 4096].get(usize::from(b >> 3)).copied()?,
        })
    }
}

/// Whether an answer may be kept for the clients of `shape`: not
/// truncated (a client that can take more must get more), and no longer
/// than the smallest buffer of the class.
pub(crate) fn reusable_for(answer: &[u8], shape: Shape) -> bool {
    let truncated = answer.get(2).is_some_and(|f| f & 0x02 != 0);
    !truncated && answer.len() <= usize::from(shape.size_class)
}

/// Where the TTL of each record in an answer sits (the OPT record's is not
/// a TTL and is left out), so a replayed answer can count them down. None
/// when the message cannot be walked.
pub(crate) fn ttl_offsets(b: &[u8]) -> Option<Vec<usize>> {
    let count =
        |i: usize| -> Option<usize> { Some(usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))) };
    let (qd, records) = (count(4)?, count(6)? + count(8)? + count(10)?);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(b, i)? + 4;
    }
    let mut out = Vec::with_capacity(records);
    for _ in 0..records {
        i = skip_name(b, i)?;
        let rtype = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
        if rtype != 41 {
            out.push(i + 4);
        }
        let rdlen = count(i + 8)?;
        i += 10 + rdlen;
        if i > b.len() {
            return None;
        }
    }
    Some(out)
}

/// The offset just past the name at `i` (labels, or a compression pointer).
fn skip_name(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *b.get(i)?;
        match len {
            0 => return Some(i + 1),
            l if l & 0xc0 == 0xc0 => return Some(i + 2),
            l if l <= 63 => i += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// SERVFAIL for a query we will not work on now (too many in flight),
/// written into `out`: its header and question, no records. False for
/// what is not a plain query (nothing is written).
pub(crate) fn servfail_into(query: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(q) = question(query) else {
        return false;
    };
    out.extend_from_slice(&query[..2]);
    // QR, the client's opcode (0) and RD; RA; RCODE 2.
    out.push(0x80 | (query[2] & 0x01));
    out.push(0x80 | 2);
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(q.section);
    true
}

/// Lower every TTL at `offsets` by `elapsed` seconds.
pub(crate) fn age_ttls(b: &mut [u8], offsets: &[usize], elapsed: u32) {
    for &o in offsets {
        if let Some(t) = b.get_mut(o..o + 4) {
            let ttl = u32::from_be_bytes([t[0], t[1], t[2], t[3]]).saturating_sub(elapsed);
            t.copy_from_slice(&ttl.to_be_bytes());
        }
    }
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
    loop {
        let len = usize::from(*b.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len > 63 || i - 12 + 1 + len > 254 {
            return None; // compression pointers and long names: full path
        }
        i += 1 + len;
    }
    let name = b.get(12..i)?;
    let qtype = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]);
    if qclass != 1 {
        return None;
    }
    let end = i + 4;
    let edns = count(10) == 1;
    let (mut udp_size, mut dnssec_ok) = (512, false);
    if edns {
        // The one additional record must be an OPT for the root name:
        // name 0, type 41, class = UDP size, TTL = rcode, version, flags.
        if b.get(end) != Some(&0) || b.get(end + 1..end + 3) != Some(&[0, 41]) {
            return None;
        }
        // Another EDNS version gets BADVERS on the full path.
        if *b.get(end + 6)? != 0 {
            return None;
        }
        udp_size = u16::from_be_bytes([*b.get(end + 3)?, *b.get(end + 4)?]).max(512);
        dnssec_ok = b.get(end + 7)? & 0x80 != 0;
    } else if b.len() != end {
        return None;
    }
    Some(Question {
        section: &b[12..end],
        name,
        qtype,
        edns,
        udp_size,
        dnssec_ok,
        checking_disabled: flags & 0x0010 != 0,
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
    fn the_shape_follows_the_clients_buffer_and_do_bit() {
        let plain = query(b"\x03web\x00", false);
        let q = question(&plain).unwrap();
        assert_eq!(
            q.shape(),
            Shape {
                edns: false,
                dnssec_ok: false,
                checking_disabled: false,
                size_class: 512
            }
        );
        // CD set: another shape (a validator's answer may be bogus data).
        let mut cd = plain.clone();
        cd[3] |= 0x10;
        assert!(question(&cd).unwrap().shape().checking_disabled);
        let mut small = query(b"\x03web\x00", true);
        let n = small.len();
        small[n - 8..n - 6].copy_from_slice(&512u16.to_be_bytes());
        let mut big = small.clone();
        big[n - 8..n - 6].copy_from_slice(&1232u16.to_be_bytes());
        big[n - 4] = 0x80; // DO
        let (s, b) = (question(&small).unwrap().shape(), question(&big).unwrap().shape());
        assert_eq!((s.size_class, s.dnssec_ok), (512, false));
        assert_eq!((b.size_class, b.dnssec_ok), (1232, true));
        assert_ne!(s, b, "a 512-byte answer is not replayed to a 1232-byte client");
        // A buffer below 512 counts as 512.
        small[n - 8..n - 6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(question(&small).unwrap().udp_size, 512);
    }

    #[test]
    fn servfail_keeps_the_id_and_question() {
        let q = query(b"\x03web\x00", true);
        let mut r = Vec::new();
        assert!(servfail_into(&q, &mut r));
        assert_eq!(&r[..2], &q[..2]);
        assert_eq!((r[2] & 0x80, r[3] & 0x0f), (0x80, 2), "a response, SERVFAIL");
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[12..], &q[12..12 + 9]);
        let mut none = Vec::new();
        assert!(!servfail_into(&[1, 2, 3], &mut none));
        assert!(none.is_empty());
    }

    #[test]
    fn truncated_or_oversized_answers_are_not_kept() {
        let shape = Shape {
            edns: true,
            dnssec_ok: false,
            checking_disabled: false,
            size_class: 512,
        };
        let mut a = vec![0u8; 100];
        assert!(reusable_for(&a, shape));
        a[2] |= 0x02; // TC
        assert!(!reusable_for(&a, shape));
        assert!(!reusable_for(&vec![0u8; 600], shape));
    }

    #[test]
    fn ttls_are_found_and_counted_down_but_not_the_opt_record() {
        // Answer: web. A 10.0.0.1 TTL 60, compressed name, then an OPT.
        let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        a.extend_from_slice(b"\x03web\x00\x00\x01\x00\x01");
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        a.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let offs = ttl_offsets(&a).unwrap();
        assert_eq!(offs.len(), 1);
        age_ttls(&mut a, &offs, 20);
        assert_eq!(&a[offs[0]..offs[0] + 4], &40u32.to_be_bytes());
        age_ttls(&mut a, &offs, 100);
        assert_eq!(&a[offs[0]..offs[0] + 4], &0u32.to_be_bytes());
        assert!(
            ttl_offsets(&a[..a.len() - 3]).is_none(),
            "a cut message cannot be walked"
        );
    }

    #[test]
    fn reads_the_question() {
        let b = query(b"\x03Web\x03lab\x00", false);
        let q = question(&b).unwrap();
        assert_eq!(q.name, b"\x03Web\x03lab\x00");
        let mut key = Vec::new();
        q.write_key(&mut key);
        assert_eq!(key, b"\x03web\x03lab\x00\x00\x01\x00");
        assert_eq!(Shape::of_key(&key), Some(q.shape()));
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
        let mut long: Vec<u8> = (0..4)
            .flat_map(|_| std::iter::once(63).chain([b'x'; 63]))
            .collect();
        long.push(0);
        assert_eq!(long.len(), 257);
        assert!(question(&query(&long, false)).is_none(), "a name over 255 bytes");
        let mut trailing = query(b"\x03web\x00", false);
        trailing.push(0);
        assert!(question(&trailing).is_none());
    }
}
