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

use std::cell::RefCell;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// nix's message headers for a batch: built once per thread and kind, as
/// building a batch's worth on every call was a 26 KB memset for a batch
/// of 128, a tenth of the DHCP server's CPU at 10,000 exchanges a second.
/// Per thread, as they hold raw pointers (not Send) and a call never
/// awaits; per kind, because the kernel shrinks a header's room for an
/// address or control messages to what it last wrote, and nix does not
/// restore it: a header kept for one address family, with or without
/// marks, always finds the room it needs again (with marks asked for,
/// every datagram carries one, of the same size).
#[derive(PartialEq)]
struct Kind {
    n: usize,
    marks: bool,
    /// The address family received on; None for sending, where the
    /// address length is set on every call.
    family: Option<bool>,
}

thread_local! {
    static HEADERS: RefCell<Vec<(Kind, MultiHeaders<SockaddrStorage>)>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's headers of `kind`.
fn with_headers<R>(kind: Kind, f: impl FnOnce(&mut MultiHeaders<SockaddrStorage>) -> R) -> R {
    HEADERS.with_borrow_mut(|all| {
        let i = match all.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                let control = kind.marks.then(|| nix::cmsg_space!(u32));
                let heads = MultiHeaders::preallocate(kind.n, control);
                all.push((kind, heads));
                all.len() - 1
            }
        };
        f(&mut all[i].1)
    })
}

/// Receive buffers for a batch of `N` datagrams of up to `SIZE` bytes,
/// reused from call to call.
pub(crate) struct Inbox<const N: usize, const SIZE: usize> {
    bufs: Vec<[u8; SIZE]>,
    marks: bool,
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
        Inbox {
            bufs: vec![[0u8; SIZE]; N],
            marks,
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

    /// Take what has queued on `fd` (a socket of the family `v6` says),
    /// up to `N` datagrams, without waiting: WouldBlock when nothing has.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>, v6: bool) -> io::Result<usize> {
        let kind = Kind {
            n: N,
            marks: self.marks,
            family: Some(v6),
        };
        let Inbox { bufs, got, .. } = self;
        got.clear();
        with_headers(kind, |heads| {
            let mut iov: Vec<[IoSliceMut<'_>; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let batch = recvmmsg(
                fd.as_raw_fd(),
                heads,
                iov.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )?;
            for m in batch {
                // A datagram from no address we can answer (another
                // family) is kept with an unspecified sender and answered
                // nowhere.
                let from = m
                    .address
                    .and_then(to_socket_addr)
                    .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
                let mark = m
                    .cmsgs()
                    .ok()
                    .and_then(|mut c| c.find_map(mark_of))
                    .filter(|m| *m != 0);
                got.push((m.bytes, from, mark));
            }
            Ok(got.len())
        })
    }
}

/// The packet mark a control message carries, if it is one (SOL_SOCKET /
/// SO_MARK: nix has no name for it).
fn mark_of(c: ControlMessageOwned) -> Option<u32> {
    match c {
        ControlMessageOwned::Unknown(u)
            if u.cmsg_header.cmsg_level == libc::SOL_SOCKET && u.cmsg_header.cmsg_type == libc::SO_MARK =>
        {
            Some(u32::from_ne_bytes(u.data_bytes.get(..4)?.try_into().ok()?))
        }
        _ => None,
    }
}

/// Answers for one batch of up to `N`, their bytes in buffers reused from
/// call to call.
pub(crate) struct Outbox<const N: usize> {
    bufs: Vec<Vec<u8>>,
    to: Vec<Option<SockaddrStorage>>,
    /// How many of `bufs` hold an answer; `sent` of those went out.
    len: usize,
    sent: usize,
}

impl<const N: usize> Outbox<N> {
    pub(crate) fn new() -> Self {
        Outbox {
            bufs: (0..N).map(|_| Vec::with_capacity(512)).collect(),
            to: Vec::with_capacity(N),
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
        self.to.push(Some(SockaddrStorage::from(to)));
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
        let (start, end) = (self.sent, self.len);
        if start == end {
            return Ok(0);
        }
        let kind = Kind {
            n: N,
            marks: false,
            family: None,
        };
        let sent = with_headers(kind, |heads| {
            let iov: Vec<[IoSlice<'_>; 1]> =
                self.bufs[start..end].iter().map(|b| [IoSlice::new(b)]).collect();
            sendmmsg(
                fd.as_raw_fd(),
                heads,
                iov.iter(),
                &self.to[start..end],
                [],
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|done| done.count())
        });
        match sent {
            Ok(n) => {
                self.sent += n;
                Ok(n)
            }
            Err(e) => {
                let e = io::Error::from(e);
                if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                    // The first datagram was refused: drop it, go on with
                    // the rest.
                    self.sent += 1;
                }
                Err(e)
            }
        }
    }
}

/// Ask for each received datagram's packet mark (port security marks a
/// guest's DHCP with its port); the kernel of a host older than 5.19
/// refuses, and the datagrams then come unmarked.
pub(crate) fn receive_marks(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt(&fd, super::sys::RcvMark, &true).map_err(io::Error::from)
}

fn to_socket_addr(s: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(a) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4((*a).into()));
    }
    s.as_sockaddr_in6().map(|a| SocketAddr::V6((*a).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

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
        assert_eq!(
            inbox
                .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                .unwrap(),
            1
        );
        assert_eq!(inbox.iter_marked().next().map(|(_, _, m)| m), Some(Some(4242)));
    }

    /// With marks asked for, an unmarked datagram (mark 0) does not
    /// leave its header without room for the next one's mark.
    #[test]
    fn a_mark_after_an_unmarked_datagram_still_arrives() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if receive_marks(server.as_fd()).is_err() {
            return; // a kernel before 5.19
        }
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let marked = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        if marked.set_mark(7).is_err() {
            return; // not root
        }
        let to = server.local_addr().unwrap();
        let mut inbox = Inbox::<4, 16>::with_marks();
        for round in 0..3 {
            plain.send_to(b"a", to).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(
                inbox
                    .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                    .unwrap(),
                1,
                "round {round}"
            );
            assert_eq!(inbox.iter_marked().next().map(|(_, _, m)| m), Some(None));
            marked.send_to(b"b", &to.into()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(
                inbox
                    .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                    .unwrap(),
                1,
                "round {round}"
            );
            assert_eq!(
                inbox.iter_marked().next().map(|(_, _, m)| m),
                Some(Some(7)),
                "round {round}"
            );
        }
    }

    /// Senders of both families come back as they were, on sockets of
    /// each family served by one thread.
    #[test]
    fn both_families_keep_their_senders() {
        for (server, client) in [
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("[::1]:0", "[::1]:0"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ] {
            let server = std::net::UdpSocket::bind(server).unwrap();
            let client = std::net::UdpSocket::bind(client).unwrap();
            client.send_to(b"q", server.local_addr().unwrap()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut inbox = Inbox::<2, 8>::new();
            assert_eq!(
                inbox
                    .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                    .unwrap(),
                1
            );
            assert_eq!(
                inbox.iter().next(),
                Some((&b"q"[..], client.local_addr().unwrap()))
            );
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
            inbox
                .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                .map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        for i in 0..40u8 {
            client.send_to(&[i; 3], sa).unwrap();
        }
        let n = inbox
            .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
            .unwrap();
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
        assert_eq!(
            inbox
                .recv(server.as_fd(), server.local_addr().unwrap().is_ipv6())
                .unwrap(),
            40 - BATCH
        );
    }
}
