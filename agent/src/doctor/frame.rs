//! The probe: one TCP SYN as a guest would send it, as an Ethernet frame
//! (the guest's MAC to the bridge's, the guest's address to the target's).
//! Pure.

use std::net::Ipv4Addr;

use crate::config::MacAddr;

/// The one's-complement sum of 16-bit words (RFC 1071), folded.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(u16::from_be_bytes([*last, 0]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP SYN from `src`:`sport` to `dst`:`dport` in an Ethernet frame.
pub fn syn(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&0x6e61_0001u32.to_be_bytes()); // sequence
    tcp[12] = 5 << 4; // data offset: 5 words
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes()); // window
    let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, 6, 0, 20]].concat();
    let c = checksum(&[&pseudo, &tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let mut ip = vec![0u8; 20];
    ip[0] = 0x45; // IPv4, 5 words
    ip[2..4].copy_from_slice(&40u16.to_be_bytes()); // total length
    ip[4..6].copy_from_slice(&0x6e61u16.to_be_bytes()); // id
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 6; // TCP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(54);
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syn_whose_checksums_verify() {
        let f = syn(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([0x52, 0x54, 0, 0, 0, 2]),
            "192.168.122.250".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            40000,
            443,
        );
        assert_eq!(f.len(), 54);
        assert_eq!(&f[12..14], &[8, 0]);
        let (ip, tcp) = (&f[14..34], &f[34..54]);
        // A header with its checksum in place sums to zero.
        assert_eq!(checksum(&[ip]), 0);
        let pseudo = [&ip[12..16], &ip[16..20], &[0, 6, 0, 20][..]].concat();
        assert_eq!(checksum(&[&pseudo, tcp]), 0);
        assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), 443);
        assert_eq!(tcp[13], 0x02);
    }
}
