//! Reading every link, address or route: a dump request on a socket of its
//! own, each answer turned into our own small type as it is read. A host
//! with a thousand links is read one datagram (a few dozen messages) at a
//! time; rtnetlink's shared connection would parse and queue the whole
//! dump first (14 MB at a thousand links, measured with heaptrack), and the
//! memory would stay with the process.

use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use rtnetlink::packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::packet_route::RouteNetlinkMessage;

use super::netlink::{Cause, LinkError, Netlink};

fn failed(what: &str, cause: Cause) -> LinkError {
    LinkError::Op {
        object: what.to_string(),
        action: "list".into(),
        cause,
    }
}

fn io(what: &str, e: std::io::Error) -> LinkError {
    match e.raw_os_error() {
        Some(code) => failed(what, Cause::Errno(code)),
        None => failed(what, Cause::Protocol(e.to_string())),
    }
}

impl Netlink {
    /// Every answer to the dump request `req`, each turned by `each` into
    /// what it adds to the list. Run on the netlink thread: the kernel
    /// does the dump's work in our reads (see `Netlink::connect`).
    pub(crate) async fn dump<T: Send + 'static>(
        &self,
        what: &'static str,
        req: RouteNetlinkMessage,
        each: fn(&RouteNetlinkMessage, &mut Vec<T>),
    ) -> Result<Vec<T>, LinkError> {
        self.thread
            .spawn(async move {
                let mut out = Vec::new();
                dump(what, req, |m| each(m, &mut out)).await.map(|()| out)
            })
            .await
            .unwrap_or_else(|e| Err(failed(what, Cause::Protocol(format!("the netlink thread: {e}")))))
    }
}

/// Send `req` as a dump request and hand each answer to `each`.
async fn dump(
    what: &str,
    req: RouteNetlinkMessage,
    mut each: impl FnMut(&RouteNetlinkMessage),
) -> Result<(), LinkError> {
    let mut sock = TokioSocket::new(NETLINK_ROUTE).map_err(|e| io(what, e))?;
    sock.socket_mut().bind_auto().map_err(|e| io(what, e))?;
    sock.socket_ref()
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| io(what, e))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(req));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf).await.map_err(|e| io(what, e))?;
    loop {
        let (data, _) = sock.recv_from_full().await.map_err(|e| io(what, e))?;
        let mut off = 0;
        while off < data.len() {
            let len = NetlinkBuffer::new_checked(&data[off..])
                .map(|b| b.length() as usize)
                .map_err(|e| failed(what, Cause::Protocol(e.to_string())))?;
            let one = data
                .get(off..off + len)
                .ok_or_else(|| failed(what, Cause::Protocol("truncated message".into())))?;
            let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(one)
                .map_err(|e| failed(what, Cause::Protocol(e.to_string())))?;
            match m.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    if let Some(code) = e.code {
                        return Err(failed(what, Cause::Errno(-code.get())));
                    }
                }
                NetlinkPayload::InnerMessage(m) => each(&m),
                _ => {}
            }
            off += (len.max(16) + 3) & !3;
        }
    }
}
