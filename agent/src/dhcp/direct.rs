//! A reply to a client that has no address yet goes to its new address and
//! MAC directly (RFC 2131 §4.1, the broadcast bit clear). The kernel's IP
//! path would first ask ARP who has that address, and the client cannot
//! answer until it has it; so the reply leaves as a whole IP packet on a
//! packet socket, and the kernel frames it to the client's MAC.
//!
//! No neighbour entry is written for it. Writing one (SIOCSARP, as dnsmasq
//! does, and as netagent did) let a guest that sends DISCOVERs under many
//! MACs fill the kernel's neighbour table, one table for every namespace
//! of the host, with an entry per address offered; and the write takes the
//! kernel's RTNL lock on the thread that serves DNS.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType};

use super::server::{CLIENT_PORT, SERVER_PORT};
use crate::config::MacAddr;
use crate::util::sys::link_addr;

/// A packet socket that sends on one interface and receives nothing.
pub(crate) struct Direct {
    fd: OwnedFd,
    ifindex: u32,
    /// The packet being sent, kept from reply to reply.
    packet: Vec<u8>,
}

impl Direct {
    pub(crate) fn open(interface: &str) -> std::io::Result<Direct> {
        let ifindex = nix::net::if_::if_nametoindex(interface).map_err(std::io::Error::from)?;
        // Protocol 0: the kernel hands this socket no packets at all (a
        // protocol here would have it copy every IP packet of the bridge).
        let fd = socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        Ok(Direct {
            fd,
            ifindex,
            packet: Vec::with_capacity(1600),
        })
    }

    /// Send the DHCP message `payload` from `from`:67 to `to`:68 at `mac`.
    pub(crate) fn send(
        &mut self,
        from: Ipv4Addr,
        to: Ipv4Addr,
        mac: MacAddr,
        payload: &[u8],
    ) -> std::io::Result<()> {
        ip_udp(from, to, payload, &mut self.packet)?;
        let to = link_addr(self.ifindex, libc::ETH_P_IP as u16, mac.0)?;
        sendto(self.fd.as_raw_fd(), &self.packet, &to, MsgFlags::empty())?;
        Ok(())
    }
}

/// `payload` behind an IPv4 header and a UDP header (ports 67 → 68), both
/// checksums filled in, into `out`.
pub(crate) fn ip_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    let udp_len = u16::try_from(8 + payload.len()).map_err(|_| std::io::Error::other("reply too long"))?;
    let total = u16::try_from(20 + 8 + payload.len()).map_err(|_| std::io::Error::other("reply too long"))?;
    out.clear();
    // Version 4, 5 words; no DSCP; total length; ID 0 with DF (a DHCP reply
    // is never fragmented); TTL 64; UDP; checksum later.
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let ip_sum = !fold(sum(&out[..20]));
    out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    out.extend_from_slice(&SERVER_PORT.to_be_bytes());
    out.extend_from_slice(&CLIENT_PORT.to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    // The pseudo-header: addresses, protocol, UDP length (RFC 768).
    let pseudo = sum(&src.octets()) + sum(&dst.octets()) + 17 + u32::from(udp_len);
    let udp_sum = match !fold(pseudo + sum(&out[20..])) {
        // 0 would mean "no checksum".
        0 => 0xffff,
        s => s,
    };
    out[26..28].copy_from_slice(&udp_sum.to_be_bytes());
    Ok(())
}

/// The 16-bit words of `b` added up (an odd last byte padded with zero).
fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// A sum folded into 16 bits, the carries added back in (one's complement).
fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 122, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 122, 57);

    #[test]
    fn both_checksums_verify_as_a_receiver_checks_them() {
        // Odd and even payload lengths: the last byte's padding counts.
        for payload in [
            &b"\x02\x01\x06\x00 an offer"[..],
            &b"\x02\x01\x06\x00 an offer!"[..],
        ] {
            let mut p = Vec::new();
            ip_udp(SRC, DST, payload, &mut p).expect("packet");
            assert_eq!(p.len(), 28 + payload.len());
            // A header whose checksum is right sums to all ones.
            assert_eq!(fold(sum(&p[..20])), 0xffff);
            let udp_len = u32::from(u16::from_be_bytes([p[24], p[25]]));
            assert_eq!(udp_len as usize, 8 + payload.len());
            let pseudo = sum(&SRC.octets()) + sum(&DST.octets()) + 17 + udp_len;
            assert_eq!(fold(pseudo + sum(&p[20..])), 0xffff);
            assert_eq!(&p[12..16], &SRC.octets());
            assert_eq!(&p[16..20], &DST.octets());
            assert_eq!(&p[20..24], &[0, 67, 0, 68]);
            assert_eq!(&p[28..], payload);
        }
    }

    #[test]
    fn the_header_is_what_the_kernel_would_write() {
        let mut p = Vec::new();
        ip_udp(SRC, DST, &[0u8; 300], &mut p).expect("packet");
        // IPv4, 20-byte header, total length, DF, TTL 64, UDP.
        assert_eq!(&p[..4], &[0x45, 0, 1, 72]);
        assert_eq!(&p[6..10], &[0x40, 0, 64, 17]);
        // Worked by hand: 4500 + 0148 + 0000 + 4000 + 4011 + c0a8 + 7a01 +
        // c0a8 + 7a39 = 3_3be3, folded 3be6; the checksum is its complement.
        assert_eq!(u16::from_be_bytes([p[10], p[11]]), 0xc419);
    }

    #[test]
    fn a_payload_too_long_for_one_packet_is_refused() {
        let mut p = Vec::new();
        assert!(ip_udp(SRC, DST, &vec![0u8; 70_000], &mut p).is_err());
    }
}
