//! A reply to a client that has no address yet goes to its new address and
//! MAC directly. The kernel would ARP for that address first, and the client
//! cannot answer yet; so, as dnsmasq does, we write the neighbour entry
//! ourselves (SIOCSARP) before sending.

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use crate::config::MacAddr;

/// A `sockaddr` holding an IPv4 address (what `sockaddr_in` would be).
fn inet(ip: Ipv4Addr) -> libc::sockaddr {
    let mut sa_data = [0 as libc::c_char; 14];
    // sockaddr_in: 2 bytes of port (0), then the address in network order.
    for (d, s) in sa_data[2..6].iter_mut().zip(ip.octets()) {
        *d = s as libc::c_char;
    }
    libc::sockaddr {
        sa_family: libc::AF_INET as libc::sa_family_t,
        sa_data,
    }
}

pub(crate) fn set_neighbour(fd: RawFd, ifname: &str, ip: Ipv4Addr, mac: MacAddr) -> std::io::Result<()> {
    let mut ha = [0 as libc::c_char; 14];
    for (d, s) in ha.iter_mut().zip(mac.0) {
        *d = s as libc::c_char;
    }
    let mut dev = [0 as libc::c_char; 16];
    for (d, s) in dev.iter_mut().zip(ifname.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    let req = libc::arpreq {
        arp_pa: inet(ip),
        arp_ha: libc::sockaddr {
            sa_family: libc::ARPHRD_ETHER,
            sa_data: ha,
        },
        arp_flags: libc::ATF_COM,
        // Only proxy entries (ATF_PUBL) have a netmask.
        arp_netmask: libc::sockaddr {
            sa_family: 0,
            sa_data: [0; 14],
        },
        arp_dev: dev,
    };
    // SAFETY: SIOCSARP reads the arpreq, which lives for the call. No
    // maintained crate wraps it (nix and rustix leave the ARP ioctls out).
    let r = unsafe { libc::ioctl(fd, libc::SIOCSARP, &req as *const libc::arpreq) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
