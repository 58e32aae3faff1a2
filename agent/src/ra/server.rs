//! One network's router advertisements: the task that sends them on
//! schedule and answers solicitations, and takes a changed plan in place.

use std::net::Ipv6Addr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ipnet::Ipv6Net;
use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::pace::{self, Limiter, INITIAL};
use super::socket::{self, ALL_NODES};
use super::wire;
use crate::config::MacAddr;
use crate::plan::RaPlan;

pub(crate) enum Control {
    Reconfigure(Box<RaPlan>),
}

/// How long a prefix the network had before is still announced, deprecated.
const RETIRE_FOR: Duration = Duration::from_secs(7_200);
/// While the bridge has no link-local address (no port up yet), look again
/// this often.
const NO_ADDRESS_RETRY: Duration = Duration::from_secs(1);
/// Invalid solicitations are counted and said at most this often.
const COMPLAIN_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Server {
    plan: RaPlan,
    ifindex: u32,
    sock: AsyncFd<Socket>,
    retired: Vec<(Ipv6Net, Instant)>,
}

/// The bridge's MAC for the source link-layer option; None if unreadable
/// (the option is optional).
pub(crate) fn bridge_mac(interface: &str) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).ok()?;
    text.trim().parse::<MacAddr>().ok().map(|m| m.0)
}

/// A random number in [0, 1): the intervals of unsolicited advertisements
/// are randomised so routers on one link do not synchronise (RFC 4861 6.2.4).
fn unit_random() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

impl Server {
    pub(crate) fn start(plan: RaPlan, ifindex: u32) -> std::io::Result<(Server, Socket)> {
        let s = socket::open(&plan.interface, ifindex)?;
        let spare = s.try_clone()?;
        // The spare is another fd, for sending.
        let sock = crate::util::sys::watch(s, Interest::READABLE | Interest::WRITABLE)?;
        Ok((
            Server {
                plan,
                ifindex,
                sock,
                retired: Vec::new(),
            },
            spare,
        ))
    }

    fn packet(&self, now: Instant) -> Vec<u8> {
        let retired: Vec<Ipv6Net> = self
            .retired
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(p, _)| *p)
            .collect();
        wire::advertisement(&self.plan, bridge_mac(&self.plan.interface), &retired, false)
    }

    /// Send an advertisement to `to`; false when the bridge has no
    /// link-local address to send it from yet.
    fn send(&self, to: Ipv6Addr, now: Instant) -> bool {
        let Some(from) = socket::link_local(self.ifindex) else {
            return false;
        };
        let packet = self.packet(now);
        match socket::send(self.sock.get_ref().as_raw_fd(), &packet, from, to, self.ifindex) {
            Ok(()) => {
                crate::metrics::ra_sent(&self.plan.network);
                debug!("ra {}: advertisement to {to}", self.plan.network)
            }
            Err(e) => debug!("ra {}: advertisement to {to}: {e}", self.plan.network),
        }
        true
    }

    pub(crate) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let name = self.plan.network.clone();
        info!(
            "ra {name}: advertising {} on {}{}",
            self.plan.prefix,
            self.plan.interface,
            if self.plan.router_lifetime == 0 {
                " (no default route: isolated)"
            } else {
                ""
            }
        );
        let mut initial_left = INITIAL;
        let mut next = Instant::now();
        let mut had_address = true;
        let mut last_multicast: Option<Instant> = None;
        let mut pending_multicast: Option<Instant> = None;
        let mut limiter = Limiter::new(Instant::now().into_std());
        let mut invalid = 0u64;
        let mut last_complaint: Option<Instant> = None;
        let mut buf = vec![0u8; 1500];
        loop {
            let wake = pending_multicast.map_or(next, |p| p.min(next));
            tokio::select! {
                c = control.recv() => match c {
                    None => return,
                    Some(Control::Reconfigure(p)) => {
                        if p.prefix != self.plan.prefix {
                            info!("ra {name}: prefix {} replaces {} (the old one is announced deprecated)", p.prefix, self.plan.prefix);
                            self.retired.push((self.plan.prefix, Instant::now() + RETIRE_FOR));
                        }
                        self.retired.retain(|(r, until)| *until > Instant::now() && *r != p.prefix);
                        self.plan = *p;
                        // Say the news now, and a few times more soon.
                        initial_left = INITIAL;
                        next = Instant::now();
                    }
                },
                r = self.sock.readable() => {
                    let Ok(mut guard) = r else { return };
                    loop {
                        let fd = self.sock.get_ref().as_raw_fd();
                        match socket::recv(fd, &mut buf) {
                            Ok((n, from, hops)) => {
                                let now = Instant::now();
                                match wire::solicitation(&buf[..n], hops, *from.ip()) {
                                    Ok(_) if from.ip().is_unspecified() => {
                                        // No address to answer: the next multicast one.
                                        pending_multicast = Some(pace::multicast_at(
                                            last_multicast.map(|t| t.into_std()),
                                            now.into_std(),
                                        ).into());
                                    }
                                    Ok(_) => {
                                        if limiter.allow(now.into_std()) {
                                            self.send(*from.ip(), now);
                                        }
                                    }
                                    Err(e) => {
                                        invalid += 1;
                                        debug!("ra {name}: solicitation from {}: dropped: {e}", from.ip());
                                        if last_complaint.is_none_or(|t| now >= t + COMPLAIN_EVERY) {
                                            warn!("ra {name}: {invalid} invalid solicitation(s) dropped, the last from {}: {e}", from.ip());
                                            invalid = 0;
                                            last_complaint = Some(now);
                                        }
                                    }
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                guard.clear_ready();
                                break;
                            }
                            Err(e) => {
                                // Cleared too: a lasting error (the bridge
                                // going) must not spin this loop.
                                debug!("ra {name}: receive: {e}");
                                guard.clear_ready();
                                break;
                            }
                        }
                    }
                    if limiter.dropped > 0 && last_complaint.is_none_or(|t| Instant::now() >= t + COMPLAIN_EVERY) {
                        warn!("ra {name}: {} solicitation(s) past the rate limit left unanswered", limiter.dropped);
                        limiter.dropped = 0;
                        last_complaint = Some(Instant::now());
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if !self.send(ALL_NODES, now) {
                        // No port up yet: the first advertisements wait for one.
                        had_address = false;
                        next = now + NO_ADDRESS_RETRY;
                        continue;
                    }
                    if !had_address {
                        had_address = true;
                        initial_left = INITIAL;
                    }
                    last_multicast = Some(now);
                    pending_multicast = None;
                    if now >= next {
                        initial_left = initial_left.saturating_sub(1);
                        next = now + pace::next_interval(initial_left, unit_random());
                    }
                }
            }
        }
    }
}
