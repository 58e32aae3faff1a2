//! The agent's only unsafe code: four calls that no maintained crate
//! offers safely. Everything else that touches the kernel goes through
//! `nix`, `socket2`, `tokio` or `rtnetlink`, and the crate root denies
//! `unsafe` everywhere but here (`bench/lean-check.sh` counts it too).
//!
//! Why each cannot be a crate call:
//! - `watch`: tokio's `AsyncFd` registration is unsafe by design since
//!   1.54 (the reactor must not outlive the fd it polls), and the safe
//!   wrappers (`tokio::net::UdpSocket`) take only UDP sockets, not the RA
//!   server's raw ICMPv6 one.
//! - `link_addr`: nix's `LinkAddr` and socket2's `SockAddr` can only be
//!   made from a raw `sockaddr` pointer; neither has a constructor from
//!   an interface index and a MAC.
//! - `give_back` and `one_arena`: glibc's `malloc_trim` and `mallopt` have
//!   no wrapper in any crate the agent uses (nor a safe one anywhere); the
//!   product is a static glibc binary, so they are its allocator's knobs.
//!
//! Two socket options nix does not name yet, SO_RCVMARK and ICMPV6_FILTER,
//! are defined here with nix's own `sockopt_impl!`, the macro nix exports
//! for options it lacks: the setsockopt call in its expansion is nix's.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{LinkAddr, SockaddrLike};
use nix::{setsockopt_impl, sockopt_impl};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// SO_RCVMARK (Linux 5.19; not in the libc crate).
const SO_RCVMARK: libc::c_int = 75;
/// linux/icmpv6.h: ICMPV6_FILTER.
const ICMPV6_FILTER: libc::c_int = 1;

sockopt_impl!(
    /// Each received datagram comes with its packet mark (SOL_SOCKET /
    /// SO_MARK control message).
    RcvMark,
    SetOnly,
    libc::SOL_SOCKET,
    SO_RCVMARK,
    bool
);

sockopt_impl!(
    /// A raw ICMPv6 socket's filter: a 256-bit mask of the message types
    /// it is not handed.
    Icmp6Filter,
    SetOnly,
    libc::IPPROTO_ICMPV6,
    ICMPV6_FILTER,
    [u32; 8]
);

/// A socket type that owns its fd for its whole life: `as_raw_fd` names
/// the same open fd until it is dropped. (What `AsyncFd` needs; sealed,
/// so no type can claim it that does not keep the promise.)
pub(crate) trait OwnsFd: AsRawFd + sealed::Sealed {}

mod sealed {
    pub(crate) trait Sealed {}
}

macro_rules! owns_fd {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl OwnsFd for $t {}
    )*};
}
owns_fd!(std::net::UdpSocket, socket2::Socket, OwnedFd, Timer);

/// nix's timerfd, which has no `AsRawFd` (the reactor wants one).
#[derive(Debug)]
pub(crate) struct Timer(pub nix::sys::timerfd::TimerFd);

impl std::os::fd::AsRawFd for Timer {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// Hand `sock` to the runtime's reactor, woken for `interest`.
pub(crate) fn watch<T: OwnsFd>(sock: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: `T: OwnsFd` owns its fd and closes it only when dropped; the
    // AsyncFd owns `sock`, and deregisters before dropping it.
    unsafe { AsyncFd::register_with_interest(sock, interest) }.map_err(|e| e.into_parts().1)
}

/// The packet-socket address of interface `ifindex` for frames of
/// `protocol` (an ethertype, host order), to `mac`.
pub(crate) fn link_addr(ifindex: u32, protocol: u16, mac: [u8; 6]) -> io::Result<LinkAddr> {
    let mut sll_addr = [0u8; 8];
    sll_addr[..6].copy_from_slice(&mac);
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::sa_family_t,
        sll_protocol: protocol.to_be(),
        sll_ifindex: i32::try_from(ifindex).map_err(io::Error::other)?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr,
    };
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a whole, initialised sockaddr_ll of `len` bytes that
    // lives for the call; from_raw copies it out.
    unsafe { LinkAddr::from_raw((&sll as *const libc::sockaddr_ll).cast(), Some(len)) }
        .ok_or_else(|| io::Error::other("not a packet-socket address"))
}

/// Return the allocator's free memory to the kernel. Reading a config is
/// the agent's one big burst of allocation (the TOML parser holds every
/// token of the file and a spanned tree of it at once: about 3 MB for a
/// file with a thousand names), and the allocator keeps what is freed for
/// later; without this the burst would stay resident for the agent's life.
pub fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One allocator arena for every thread, and big blocks always mapped on
/// their own. Says whether the allocator took both settings.
///
/// The agent's threads besides the runtime's are the netlink thread and
/// the blocking pool's (an `nft` call now and then), and each would
/// otherwise get an arena of its own that stays resident (132 KiB apiece,
/// measured) for no contention worth avoiding.
///
/// Blocks of 128 KiB and more are mapped on their own and unmapped when
/// freed, always: by default the threshold rises to the size of the
/// largest such block freed (a kernel dump, a batch buffer), and later
/// blocks that size then come from the heap, where what is freed stays
/// resident between the blocks still in use.
#[cfg(target_env = "gnu")]
pub fn one_arena() -> bool {
    // SAFETY: mallopt only sets the allocator's parameters; called first
    // thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1) == 1 && libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) == 1
    }
}

/// Another allocator has its own settings.
#[cfg(not(target_env = "gnu"))]
pub fn one_arena() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watched_socket_wakes_when_a_datagram_arrives() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let at = server.local_addr().unwrap();
        let watched = watch(server, Interest::READABLE).unwrap();
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"hi", at)
            .unwrap();
        let mut ready = watched.readable().await.unwrap();
        let mut b = [0u8; 4];
        let got = ready.try_io(|s| s.get_ref().recv(&mut b)).unwrap().unwrap();
        assert_eq!(&b[..got], b"hi");
    }

    #[test]
    fn a_link_address_holds_what_it_was_given() {
        let mac = [0x52, 0x54, 0, 1, 2, 3];
        let a = link_addr(7, libc::ETH_P_IP as u16, mac).unwrap();
        assert_eq!(a.ifindex(), 7);
        assert_eq!(u16::from_be(a.protocol()), libc::ETH_P_IP as u16);
        assert_eq!((a.halen(), a.addr()), (6, Some(mac)));
        assert!(link_addr(u32::MAX, 0, mac).is_err(), "no such index fits");
    }

    /// The address goes out whole: a frame sent to loopback's index on a
    /// packet socket comes back on a second one (root: packet sockets).
    #[test]
    fn a_frame_sent_to_a_link_address_arrives_there() {
        use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
        let open = |proto| {
            socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_NONBLOCK,
                proto,
            )
        };
        let (Ok(rx), Ok(tx)) = (open(Some(SockProtocol::EthAll)), open(None)) else {
            return; // not root
        };
        let _ = rx;
        let mut frame = vec![0u8; 60];
        frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental
        frame[14..20].copy_from_slice(b"netagt");
        let to = link_addr(1, 0x88b5, [0; 6]).unwrap();
        assert_eq!(
            sendto(tx.as_raw_fd(), &frame, &to, MsgFlags::empty()).unwrap(),
            60
        );
        let mut b = [0u8; 128];
        let seen =
            (0..100).any(
                |_| match nix::sys::socket::recv(rx.as_raw_fd(), &mut b, MsgFlags::empty()) {
                    Ok(n) => b[..n].windows(6).any(|w| w == b"netagt"),
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        false
                    }
                },
            );
        assert!(seen, "the frame came back on loopback");
    }

    /// A mark set by the sender arrives with the datagram on a socket
    /// that asked for marks (root: SO_MARK; Linux 5.19: SO_RCVMARK).
    #[test]
    fn a_socket_that_asks_for_marks_is_told_them() {
        use nix::sys::socket::{
            recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
        };
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if setsockopt(&server, RcvMark, &true).is_err() {
            return;
        }
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if setsockopt(&client, sockopt::Mark, &4242).is_err() {
            return;
        }
        client.send_to(b"x", server.local_addr().unwrap()).unwrap();
        let mut b = [0u8; 4];
        let mut iov = [std::io::IoSliceMut::new(&mut b)];
        let mut space = nix::cmsg_space!(u32);
        let m = recvmsg::<SockaddrStorage>(server.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
            .unwrap();
        let marks: Vec<Vec<u8>> = m
            .cmsgs()
            .unwrap()
            .filter_map(|c| match c {
                ControlMessageOwned::Unknown(u) if u.cmsg_header.cmsg_type == libc::SO_MARK => {
                    Some(u.data_bytes)
                }
                _ => None,
            })
            .collect();
        assert_eq!(marks, vec![4242u32.to_ne_bytes().to_vec()]);
    }

    /// A socket whose filter lets only echo requests in is handed one; a
    /// socket whose filter blocks every type is not (root: raw sockets).
    #[test]
    fn an_icmp6_filter_keeps_out_what_it_names() {
        use nix::sys::socket::setsockopt;
        use socket2::{Domain, Protocol, Socket, Type};
        const ECHO_REQUEST: u8 = 128;
        let lo: std::net::SocketAddr = "[::1]:0".parse().unwrap();
        let open = |let_echo_in: bool| {
            let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).ok()?;
            s.bind(&lo.into()).ok()?;
            s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
                .ok()?;
            let mut filter = [u32::MAX; 8];
            if let_echo_in {
                filter[usize::from(ECHO_REQUEST >> 5)] &= !(1 << (ECHO_REQUEST & 31));
            }
            setsockopt(&s, Icmp6Filter, &filter).unwrap();
            Some(s)
        };
        let (Some(echo_only), Some(none)) = (open(true), open(false)) else {
            return; // not root
        };
        let sender = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).unwrap();
        // The kernel fills in a raw ICMPv6 socket's checksums.
        sender
            .send_to(&[ECHO_REQUEST, 0, 0, 0, 0x4e, 0x41, 0, 1], &lo.into())
            .unwrap();
        let got = |s: &Socket| s.recv(&mut [std::mem::MaybeUninit::<u8>::uninit(); 64]).is_ok();
        assert!(got(&echo_only), "let in: the echo request arrives");
        assert!(!got(&none), "filtered out: it does not");
    }

    #[test]
    fn the_allocator_takes_its_settings_and_gives_memory_back() {
        assert!(one_arena());
        let many: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4096]).collect();
        drop(many);
        give_back();
    }
}
