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
}

// SAFETY: the raw pointers in `iov` and `hdrs` lead only into the heap
// blocks of `names` and of the buffers owned beside them in the same
// Inbox or Outbox, which move with it from thread to thread; nothing else
// holds them.
unsafe impl Send for Headers {}

impl Headers {
    fn new(n: usize) -> Headers {
        // SAFETY: all-zero is a valid value for these plain C structs.
        Headers {
            names: (0..n).map(|_| unsafe { zeroed() }).collect(),
            iov: (0..n).map(|_| unsafe { zeroed() }).collect(),
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
        }
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
    got: Vec<(usize, SocketAddr)>,
}

impl<const N: usize, const SIZE: usize> Inbox<N, SIZE> {
    pub(crate) fn new() -> Self {
        let mut bufs = vec![[0u8; SIZE]; N];
        let mut c = Headers::new(N);
        for (i, b) in bufs.iter_mut().enumerate() {
            c.point(i, b, NAME_ROOM);
        }
        Inbox {
            bufs,
            c,
            got: Vec::with_capacity(N),
        }
    }

    /// The datagrams of the last `recv`, with their senders.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|((n, from), b)| (&b[..*n], *from))
    }

    /// Take what has queued on `fd`, up to `N` datagrams, without
    /// waiting: WouldBlock when nothing has.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        // The kernel wrote each filled header's address length: room again.
        for h in &mut self.c.hdrs[..self.got.len()] {
            h.msg_hdr.msg_namelen = NAME_ROOM;
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
            self.got.push((self.c.hdrs[i].msg_len as usize, from));
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
            c: Headers::new(N),
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
