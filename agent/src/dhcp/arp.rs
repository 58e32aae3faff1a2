//! A reply to a client that has no address yet goes to its new address and
//! MAC directly. The kernel would ARP for that address first, and the client
//! cannot answer yet; so, as dnsmasq does, we write the neighbour entry
//! ourselves (SIOCSARP) before sending.

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use crate::config::MacAddr;

pub(crate) fn set_neighbour(fd: RawFd, ifname: &str, ip: Ipv4Addr, mac: MacAddr) -> std::io::Result<()> {
    // SAFETY: arpreq is plain old data; zeroed is a valid value.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in fits in sockaddr (16 bytes each); copying its bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            &sin as *const libc::sockaddr_in as *const u8,
            &mut req.arp_pa as *mut libc::sockaddr as *mut u8,
            std::mem::size_of::<libc::sockaddr_in>(),
        );
    }
    req.arp_ha.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in req.arp_ha.sa_data.iter_mut().zip(mac.0) {
        *d = s as libc::c_char;
    }
    req.arp_flags = libc::ATF_COM;
    for (d, s) in req.arp_dev.iter_mut().zip(ifname.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCSARP takes a pointer to an arpreq that lives for the call.
    let r = unsafe { libc::ioctl(fd, libc::SIOCSARP, &req as *const libc::arpreq) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
