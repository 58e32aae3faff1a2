//! Many datagrams per system call (`recvmmsg`, `sendmmsg`). A DNS or DHCP
//! server under load spends most of its time in the kernel, and a good
//! part of that on each call's entry, the socket lookup and lock, and
//! sleeping and waking between datagrams; taking what has queued up in one
//! call and answering it in one call shares those costs across the batch.
//! Each server picks its batch (`N` datagrams) and the largest datagram
//! it takes (`SIZE` bytes; a longer one arrives cut short and fails to
//! parse).
//!
//! The message headers point into the buffers, so they are built inside
//! each call and never kept: the buffers themselves are what the serve
//! loop owns (and may hold across an await).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// The C side of a batch: a message header per datagram, each pointing at
/// its buffer and its address. Built once (a batch's worth set up on every
/// call was a 26 KB memset for a batch of 128, a tenth of the DHCP
/// server's CPU at 10,000 exchanges a second); the pointers lead into heap
/// blocks this struct owns, which stay put when it moves.
struct Headers {
    names: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Room for each datagram's control messages (its packet mark), as
    /// u64s for the alignment the kernel's cmsghdr has; empty for a batch
    /// that takes none (DNS, sends).
    ctl: Vec<[u64; CTL_WORDS]>,
}

/// A cmsghdr (16 bytes) and a mark (4), rounded up.
const CTL_WORDS: usize = 4;
const CTL_ROOM: usize = CTL_WORDS * 8;

// SAFETY: the raw pointers in `iov` and `hdrs` lead only into the heap
// blocks of `names` and of the buffers owned beside them in the same
// Inbox or Outbox, which move with it from thread to thread; nothing else
// holds them.
unsafe impl Send for Headers {}

impl Headers {
    fn new(n: usize, control: bool) -> Headers {
        // SAFETY: all-zero is a valid value for these plain C structs.
        Headers {
            names: (0..n).map(|_| unsafe { zeroed() }).collect(),
            iov: (0..n).map(|_| unsafe { zeroed() }).collect(),
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            ctl: vec![[0; CTL_WORDS]; if control { n } else { 0 }],
        }
    }

    /// Give header `i` room for control messages (a received datagram's
    /// mark, once the socket asks for marks).
    fn point_control(&mut self, i: usize) {
        let h = &mut self.hdrs[i].msg_hdr;
        h.msg_control = self.ctl[i].as_mut_ptr().cast();
        h.msg_controllen = CTL_ROOM;
    }

    /// The packet mark among header `i`'s control messages, if the kernel
    /// wrote one (SOL_SOCKET / SO_MARK), read byte by byte.
    fn mark(&self, i: usize) -> Option<u32> {
        let ctl = self.ctl.get(i)?;
        let len = self.hdrs[i].msg_hdr.msg_controllen.min(CTL_ROOM);
        let bytes: Vec<u8> = ctl.iter().flat_map(|w| w.to_ne_bytes()).take(len).collect();
        control_mark(&bytes)
    }

    /// Point header `i` at `buf` and its address (`namelen` bytes of it:
    /// the room to receive into, or the address to send to).
    fn point(&mut self, i: usize, buf: &mut [u8], namelen: libc::socklen_t) {
        self.iov[i] = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let h = &mut self.hdrs[i].msg_hdr;
        h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = namelen;
        h.msg_iov = &mut self.iov[i];
        h.msg_iovlen = 1;
    }
}

const NAME_ROOM: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Receive buffers for a batch of `N` datagrams of up to `SIZE` bytes,
/// reused from call to call.
pub(crate) struct Inbox<const N: usize, const SIZE: usize> {
    bufs: Vec<[u8; SIZE]>,
    c: Headers,
    got: Vec<(usize, SocketAddr, Option<u32>)>,
}

impl<const N: usize, const SIZE: usize> Inbox<N, SIZE> {
    pub(crate) fn new() -> Self {
        Self::build(false)
    }

    /// An inbox that keeps each datagram's packet mark (`iter_marked`).
    pub(crate) fn with_marks() -> Self {
        Self::build(true)
    }

    fn build(marks: bool) -> Self {
        let mut bufs = vec![[0u8; SIZE]; N];
        let mut c = Headers::new(N, marks);
        for (i, b) in bufs.iter_mut().enumerate() {
            c.point(i, b, NAME_ROOM);
            if marks {
                c.point_control(i);
            }
        }
        Inbox {
            bufs,
            c,
            got: Vec::with_capacity(N),
        }
    }

    /// The datagrams of the last `recv`, with their senders.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.iter_marked().map(|(b, from, _)| (b, from))
    }

    /// `iter`, with each datagram's packet mark (on a socket that asked
    /// for marks with `receive_marks`; None for an unmarked one).
    pub(crate) fn iter_marked(&self) -> impl Iterator<Item = (&[u8], SocketAddr, Option<u32>)> {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|((n, from, mark), b)| (&b[..*n], *from, *mark))
    }

    /// Take what has queued on `fd`, up to `N` datagrams, without
    /// waiting: WouldBlock when nothing has.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        // The kernel wrote each filled header's address length: room again.
        let marks = !self.c.ctl.is_empty();
        for h in &mut self.c.hdrs[..self.got.len()] {
            h.msg_hdr.msg_namelen = NAME_ROOM;
            if marks {
                h.msg_hdr.msg_controllen = CTL_ROOM;
            }
        }
        self.got.clear();
        // SAFETY: every header points at a buffer and an address owned by
        // `self` (see `Headers`), which outlive the call; the kernel
        // writes at most the lengths given.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.c.hdrs.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            // A datagram from no address we can answer (another family)
            // is kept with an unspecified sender and answered nowhere.
            let from = to_socket_addr(&self.c.names[i]).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            let mark = self.c.mark(i).filter(|m| *m != 0);
            self.got.push((self.c.hdrs[i].msg_len as usize, from, mark));
        }
        Ok(n)
    }
}

/// Answers for one batch of up to `N`, their bytes in buffers reused from
/// call to call.
pub(crate) struct Outbox<const N: usize> {
    bufs: Vec<Vec<u8>>,
    to: Vec<SocketAddr>,
    c: Headers,
    /// How many of `bufs` hold an answer; `sent` of those went out.
    len: usize,
    sent: usize,
}

impl<const N: usize> Outbox<N> {
    pub(crate) fn new() -> Self {
        Outbox {
            bufs: (0..N).map(|_| Vec::with_capacity(512)).collect(),
            to: Vec::with_capacity(N),
            c: Headers::new(N, false),
            len: 0,
            sent: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.sent = 0;
        self.to.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.len
    }

    /// A buffer for the next answer, to `to`; None when the batch is full.
    pub(crate) fn next(&mut self, to: SocketAddr) -> Option<&mut Vec<u8>> {
        let b = self.bufs.get_mut(self.len)?;
        b.clear();
        self.to.push(to);
        self.len += 1;
        Some(b)
    }

    /// Take back the last answer begun (it could not be completed).
    pub(crate) fn unpush(&mut self) {
        if self.len > self.sent {
            self.len -= 1;
            self.to.pop();
        }
    }

    /// Send what is left, as much as the socket takes without waiting:
    /// WouldBlock when it takes none. A datagram the kernel refuses for
    /// itself (a route gone, a full neighbour table) is passed over, as a
    /// lost datagram would be.
    pub(crate) fn send(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let start = self.sent;
        let count = self.len - start;
        if count == 0 {
            return Ok(0);
        }
        for i in 0..count {
            let namelen = from_socket_addr(self.to[start + i], &mut self.c.names[i]);
            // An answer's buffer may have grown (and moved) since it was
            // last pointed at: point again.
            self.c.point(i, &mut self.bufs[start + i], namelen);
        }
        // SAFETY: the headers point at buffers and addresses owned by
        // `self`, which outlive the call; the kernel only reads them.
        let n = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.c.hdrs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted {
                return Err(e);
            }
            // The first datagram was refused: drop it, go on with the rest.
            self.sent += 1;
            return Err(e);
        }
        self.sent += n as usize;
        Ok(n as usize)
    }
}

/// SO_RCVMARK (Linux 5.19): not in the libc crate.
const SO_RCVMARK: libc::c_int = 75;

/// Ask for each received datagram's packet mark (port security marks a
/// guest's DHCP with its port); the kernel of a host older than 5.19
/// refuses, and the datagrams then come unmarked.
pub(crate) fn receive_marks(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_RCVMARK,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The SO_MARK value in a datagram's control messages: each a cmsghdr
/// (its length as a usize, level and type as c_ints) and its data, at
/// usize alignment. Safe parsing of the bytes the kernel wrote.
fn control_mark(bytes: &[u8]) -> Option<u32> {
    const HDR: usize = size_of::<usize>() + 8;
    let mut at = 0;
    while at + HDR <= bytes.len() {
        let word = |o: usize, n: usize| bytes.get(at + o..at + o + n);
        let len = usize::from_ne_bytes(word(0, size_of::<usize>())?.try_into().ok()?);
        let level = i32::from_ne_bytes(word(size_of::<usize>(), 4)?.try_into().ok()?);
        let kind = i32::from_ne_bytes(word(size_of::<usize>() + 4, 4)?.try_into().ok()?);
        if len < HDR {
            return None;
        }
        if level == libc::SOL_SOCKET && kind == libc::SO_MARK && len >= HDR + 4 {
            return Some(u32::from_ne_bytes(word(HDR, 4)?.try_into().ok()?));
        }
        at += len.next_multiple_of(size_of::<usize>());
    }
    None
}

/// Receive one datagram into `buf`'s spare capacity, without filling
/// that room first: a buffer with room for the largest datagram then
/// costs only the pages answers actually reach.
pub(crate) fn recv_from_uninit(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<SocketAddr> {
    buf.clear();
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let spare = buf.spare_capacity_mut();
    // SAFETY: the kernel writes at most `spare.len()` bytes into the spare
    // capacity and at most `namelen` into `name`, and says how many.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            spare.len(),
            libc::MSG_DONTWAIT,
            (&mut name as *mut libc::sockaddr_storage).cast(),
            &mut namelen,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `n` bytes.
    unsafe { buf.set_len(n as usize) };
    to_socket_addr(&name).ok_or_else(|| io::Error::other("a sender of an unknown address family"))
}

fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn from_socket_addr(a: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match a {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin: &mut libc::sockaddr_in = unsafe { &mut *(s as *mut libc::sockaddr_storage).cast() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6: &mut libc::sockaddr_in6 = unsafe { &mut *(s as *mut libc::sockaddr_storage).cast() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_mark_is_found_among_the_control_messages() {
        let cmsg = |level: i32, kind: i32, data: u32| {
            let mut v = (16usize + 4).to_ne_bytes().to_vec();
            v.extend(level.to_ne_bytes());
            v.extend(kind.to_ne_bytes());
            v.extend(data.to_ne_bytes());
            v.resize(24, 0);
            v
        };
        let mut two = cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, 9);
        two.extend(cmsg(libc::SOL_SOCKET, libc::SO_MARK, 17));
        assert_eq!(control_mark(&two), Some(17));
        assert_eq!(control_mark(&cmsg(libc::IPPROTO_IP, libc::IP_TTL, 5)), None);
        assert_eq!(control_mark(&[]), None);
        // A length that runs past the bytes, or under a header, ends it.
        let mut bad = cmsg(libc::SOL_SOCKET, libc::SO_MARK, 1);
        bad[0] = 3;
        assert_eq!(control_mark(&bad), None);
    }

    /// A marked datagram arrives with its mark (SO_MARK on the sender
    /// marks it on loopback), on a socket that asked for marks.
    #[test]
    fn a_received_datagram_says_its_mark() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if receive_marks(server.as_fd()).is_err() {
            return; // a kernel before 5.19
        }
        let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        if client.set_mark(4242).is_err() {
            return; // not root: SO_MARK needs CAP_NET_ADMIN
        }
        client
            .send_to(b"x", &server.local_addr().unwrap().into())
            .unwrap();
        let mut inbox = Inbox::<4, 16>::with_marks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(inbox.recv(server.as_fd()).unwrap(), 1);
        assert_eq!(inbox.iter_marked().next().map(|(_, _, m)| m), Some(Some(4242)));
    }

    #[test]
    fn addresses_survive_the_c_form() {
        for a in ["192.0.2.7:5353", "[2001:db8::1]:53", "[fe80::1%3]:547"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut s: libc::sockaddr_storage = unsafe { zeroed() };
            from_socket_addr(a, &mut s);
            assert_eq!(to_socket_addr(&s), Some(a));
        }
    }

    #[test]
    fn a_batch_goes_out_and_comes_back_in_order() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (sa, ca) = (server.local_addr().unwrap(), client.local_addr().unwrap());
        const BATCH: usize = 32;
        let mut inbox = Inbox::<BATCH, 64>::new();
        assert_eq!(
            inbox.recv(server.as_fd()).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        for i in 0..40u8 {
            client.send_to(&[i; 3], sa).unwrap();
        }
        let n = inbox.recv(server.as_fd()).unwrap();
        assert_eq!(n, BATCH, "one call takes a whole batch");
        let mut out = Outbox::<BATCH>::new();
        for (i, (q, from)) in inbox.iter().enumerate() {
            assert_eq!((q, from), (&[i as u8; 3][..], ca));
            out.next(from).unwrap().extend_from_slice(q);
        }
        assert!(out.next(ca).is_none(), "the outbox holds one batch");
        assert_eq!(out.send(server.as_fd()).unwrap(), BATCH);
        assert!(out.is_empty());
        let mut b = [0u8; 8];
        for i in 0..BATCH as u8 {
            let (n, from) = client.recv_from(&mut b).unwrap();
            assert_eq!((&b[..n], from), (&[i; 3][..], sa));
        }
        assert_eq!(inbox.recv(server.as_fd()).unwrap(), 40 - BATCH);
    }
}
