//! The raw ICMPv6 socket one network's advertisements go out of and its
//! guests' solicitations come in by: bound to the bridge, hop limit 255
//! both ways (RFC 4861 checks it), only router solicitations let in.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::RawFd;

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6,
};
use socket2::{Domain, Protocol, Socket, Type};

use super::wire::ROUTER_SOLICITATION;
use crate::util::sys::Icmp6Filter;

/// ff02::1, every node on the link.
pub(crate) const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2, every router on the link: where solicitations go.
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

pub(crate) fn open(interface: &str, ifindex: u32) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.set_nonblocking(true)?;
    s.bind_device(Some(interface.as_bytes()))?;
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_loop_v6(false)?;
    s.set_multicast_if_v6(ifindex)?;
    s.join_multicast_v6(&ALL_ROUTERS, ifindex)?;
    // Only router solicitations: every other ICMPv6 message on the bridge
    // (neighbour discovery, pings) stays in the kernel.
    let mut filter = [u32::MAX; 8];
    filter[usize::from(ROUTER_SOLICITATION >> 5)] &= !(1u32 << (ROUTER_SOLICITATION & 31));
    setsockopt(&s, Icmp6Filter, &filter)?;
    setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
    Ok(s)
}

/// One ICMPv6 message: its bytes in `buf`, the sender, the hop limit it
/// arrived with (0 if the kernel did not say).
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV6, u8)> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)?;
    let mut hops = 0u8;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::Ipv6HopLimit(h) = c {
            hops = u8::try_from(h).unwrap_or(0);
        }
    }
    let from = msg
        .address
        .map(|a| SocketAddrV6::new(a.ip(), 0, 0, a.scope_id()))
        .unwrap_or_else(|| SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
    Ok((msg.bytes, from, hops))
}

/// Send `packet` to `to` on the bridge, from its link-local address `from`
/// (RFC 4861: a router's advertisements come from its link-local address).
pub(crate) fn send(fd: RawFd, packet: &[u8], from: Ipv6Addr, to: Ipv6Addr, ifindex: u32) -> io::Result<()> {
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: from.octets(),
        },
        ipi6_ifindex: ifindex,
    };
    let dest = SockaddrIn6::from(SocketAddrV6::new(to, 0, 0, ifindex));
    sendmsg(
        fd,
        &[io::IoSlice::new(packet)],
        &[ControlMessage::Ipv6PacketInfo(&info)],
        MsgFlags::MSG_DONTWAIT,
        Some(&dest),
    )?;
    Ok(())
}

/// The link-local address of interface `ifindex` that is ready (not
/// tentative, not failed), from /proc/net/if_inet6; None while the bridge
/// has none (no port up yet: the kernel gives it one when it gets carrier).
pub(crate) fn link_local(ifindex: u32) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    link_local_in(&text, ifindex)
}

/// IFA_F_TENTATIVE and IFA_F_DADFAILED.
const NOT_READY: u32 = 0x40 | 0x08;

fn link_local_in(text: &str, ifindex: u32) -> Option<Ipv6Addr> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [addr, index, _plen, scope, flags, ..] = f.as_slice() else {
            return None;
        };
        let ready = u32::from_str_radix(index, 16).ok()? == ifindex
            && *scope == "20"
            && u32::from_str_radix(flags, 16).ok()? & NOT_READY == 0;
        if !ready || addr.len() != 32 {
            return None;
        }
        let n = u128::from_str_radix(addr, 16).ok()?;
        Some(Ipv6Addr::from(n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_link_local_address_of_the_bridge() {
        let text = "fd001220000000000000000000000001 05 40 00 80  virbr0\n\
                    fe80000000000000505400fffe0a0b0c 07 40 20 c0   virbr1\n\
                    fe80000000000000505400fffe010203 05 40 20 80   virbr0\n\
                    00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            link_local_in(text, 5),
            Some("fe80::5054:ff:fe01:203".parse().unwrap())
        );
        let tentative = "fe80000000000000505400fffe010203 05 40 20 40   virbr0\n";
        assert_eq!(link_local_in(tentative, 5), None, "still in DAD");
        assert_eq!(link_local_in(text, 9), None);
        assert_eq!(link_local_in("garbage\n05 x", 5), None);
    }
}
