//! The uplink's DHCP client: INIT → SELECTING → BOUND → RENEWING →
//! REBINDING, as RFC 2131 §4.4 draws it. It only talks; the lease it holds is
//! published on a watch channel and the reconciler puts it on the link, so a
//! deleted address comes back like everything else.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use dhcproto::v4::Message;
use dhcproto::{Decodable, Encodable};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{info, warn};

use super::lease::{self, Reply, UplinkLease};
use crate::config::MacAddr;

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

fn socket(ifname: &str) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    // Only the uplink: the DHCP server on the guest bridges must never see
    // our client's traffic, nor we theirs.
    s.bind_device(Some(ifname.as_bytes()))?;
    s.bind(&SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

fn xid(mac: MacAddr) -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0);
    t ^ u32::from_be_bytes([mac.0[2], mac.0[3], mac.0[4], mac.0[5]])
}

/// Send `msg` to `to` and wait for a reply to `xid`, resending with growing
/// pauses (4, 8, 16 s... as §4.1 suggests) until `deadline`.
async fn exchange(
    sock: &UdpSocket,
    msg: &Message,
    to: SocketAddrV4,
    mac: MacAddr,
    deadline: Instant,
) -> Option<Reply> {
    let bytes = msg.to_vec().ok()?;
    let mut wait = Duration::from_secs(2);
    let mut buf = vec![0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        if let Err(e) = sock.send_to(&bytes, to).await {
            warn!("uplink dhcp: send to {to}: {e}");
        }
        let until = (now + wait).min(deadline);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, sock.recv_from(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    warn!("uplink dhcp: receive: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Ok((n, _))) => {
                    let Ok(reply) = Message::from_bytes(&buf[..n]) else {
                        continue;
                    };
                    if let Some(r) = lease::read_reply(&reply, msg.xid(), mac) {
                        return Some(r);
                    }
                }
            }
        }
        wait = (wait * 2).min(Duration::from_secs(16));
    }
}

const BROADCAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);

/// Run forever, keeping a lease for `ifname` and publishing it on `tx`.
pub(crate) async fn run(
    ifname: String,
    mac: MacAddr,
    hostname: String,
    tx: watch::Sender<Option<UplinkLease>>,
) {
    loop {
        let sock = match socket(&ifname) {
            Ok(s) => s,
            Err(e) => {
                warn!("uplink {ifname}: dhcp socket: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        // INIT → SELECTING
        let x = xid(mac);
        let offer = match exchange(
            &sock,
            &lease::discover(x, mac, &hostname),
            BROADCAST,
            mac,
            Instant::now() + Duration::from_secs(30),
        )
        .await
        {
            Some(Reply::Offer(o)) => o,
            _ => {
                info!("uplink {ifname}: no DHCP offer yet; trying again");
                continue;
            }
        };
        // REQUESTING
        let mut held = match exchange(
            &sock,
            &lease::request_offer(x, mac, &hostname, &offer),
            BROADCAST,
            mac,
            Instant::now() + Duration::from_secs(20),
        )
        .await
        {
            Some(Reply::Ack(l)) => l,
            other => {
                info!(
                    "uplink {ifname}: offer of {} not confirmed ({other:?}); starting over",
                    offer.address
                );
                continue;
            }
        };
        // BOUND, then RENEWING and REBINDING for as long as the server agrees.
        loop {
            info!(
                "uplink {ifname}: leased {} from {} for {}s (router {}, dns {:?})",
                held.address,
                held.server,
                held.lease.as_secs(),
                held.router
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "none".into()),
                held.dns
            );
            tx.send_replace(Some(held.clone()));
            let start = Instant::now();
            tokio::time::sleep(held.renew).await;
            let me = held.address.addr();
            let x = xid(mac);
            let renew = lease::request_renew(x, mac, &hostname, me);
            let server = SocketAddrV4::new(held.server, SERVER_PORT);
            let mut got = exchange(&sock, &renew, server, mac, start + held.rebind).await;
            if got.is_none() {
                got = exchange(&sock, &renew, BROADCAST, mac, start + held.lease).await;
            }
            match got {
                Some(Reply::Ack(l)) => held = l,
                other => {
                    warn!(
                        "uplink {ifname}: lease of {} ended ({other:?}); asking again",
                        held.address
                    );
                    tx.send_replace(None);
                    break;
                }
            }
        }
    }
}
