//! The one place that speaks rtnetlink. Typed methods, each error naming the
//! object it failed on: "bridge virbr0: add 192.168.122.1/24: File exists".

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::{IpNet, Ipv4Net};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use rtnetlink::packet_route::link::{
    BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoVxlan, LinkAttribute,
    LinkExtentMask, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, RouteMessageBuilder};

use super::observe::{Addr, Kernel, Link, Route};
use crate::config::MacAddr;

/// Why the kernel refused a request: its errno, or a reply rtnetlink could
/// not read. Decisions branch on this, never on the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The kernel's answer, as a positive errno (`libc::EEXIST`, ...).
    Errno(i32),
    /// Not an errno: a malformed or missing reply.
    Protocol(String),
    /// The object was gone by the time we acted on it.
    Gone,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Errno(code) => {
                let text = std::io::Error::from_raw_os_error(*code).to_string();
                // Strip Rust's " (os error N)" suffix: the user wants the words.
                f.write_str(text.split(" (os error").next().unwrap_or(&text))
            }
            Cause::Protocol(m) => f.write_str(m),
            Cause::Gone => f.write_str("it disappeared"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("netlink: cannot open a route socket: {0}")]
    Socket(std::io::Error),
    #[error("{object}: {action}: {cause}")]
    Op {
        object: String,
        action: String,
        cause: Cause,
    },
    /// A link the plan names that netagent will not touch.
    #[error(transparent)]
    Refused(#[from] super::refuse::Refusal),
}

impl LinkError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Op {
                cause: Cause::Errno(c),
                ..
            } => Some(*c),
            _ => None,
        }
    }

    /// Whether the failure means the kernel lacks a feature (no bridge
    /// module, no such link kind) rather than a mistake.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::ENOENT)
        )
    }
}

pub(super) fn op(object: impl Into<String>, action: impl Into<String>, e: rtnetlink::Error) -> LinkError {
    let cause = match &e {
        rtnetlink::Error::NetlinkError(m) => match m.code.map(|c| -c.get()) {
            Some(code) => Cause::Errno(code),
            None => Cause::Protocol(e.to_string()),
        },
        other => Cause::Protocol(other.to_string()),
    };
    LinkError::Op {
        object: object.into(),
        action: action.into(),
        cause,
    }
}

#[derive(Clone)]
pub struct Netlink {
    pub(super) handle: Handle,
    /// The netlink thread's runtime: dumps run there too (see `connect`).
    pub(super) thread: tokio::runtime::Handle,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

impl Netlink {
    /// Open a route netlink socket, driven on a thread of its own, where
    /// the dumps (`dump.rs`) run too.
    ///
    /// The kernel does a request's work inside the system call that
    /// carries it (a dump's, in each read), much of it under the one lock
    /// every network namespace's link changes share (RTNL): deleting a
    /// bridge holds the caller ~50 ms here, and another namespace being
    /// torn down can hold that lock for seconds. On the thread that serves
    /// DNS and DHCP, that time is time no guest is answered (a reload lost
    /// a DNS query this way); here only the request waits. The thread ends
    /// when the last handle is dropped.
    pub fn connect() -> Result<Netlink, LinkError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("netlink".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                // The socket is made here, so its readiness comes from
                // this thread's runtime.
                let conn = rt.block_on(async { rtnetlink::new_connection() });
                match conn {
                    Ok((conn, handle, _)) => {
                        let _ = tx.send(Ok((handle, rt.handle().clone())));
                        rt.block_on(conn);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .map_err(LinkError::Socket)?;
        let (handle, thread) = rx
            .recv()
            .map_err(|_| LinkError::Socket(std::io::Error::other("the netlink thread ended")))?
            .map_err(LinkError::Socket)?;
        Ok(Netlink { handle, thread })
    }

    pub async fn observe(&self) -> Result<Kernel, LinkError> {
        let links = self.links().await?;
        let addrs = self.addrs().await?;
        let routes = self.routes().await?;
        let routes6 = self.routes6().await?;
        let flood = if links.iter().any(Link::is_vxlan) {
            self.floods().await?
        } else {
            Vec::new()
        };
        Ok(Kernel {
            links,
            addrs,
            routes,
            routes6,
            flood,
            names: Default::default(),
        })
    }

    /// The IPv6 default routes of the main table.
    pub(crate) async fn routes6(&self) -> Result<Vec<super::observe::Route6>, LinkError> {
        let req = RouteMessageBuilder::<std::net::Ipv6Addr>::new().build();
        self.dump("IPv6 routes", RouteNetlinkMessage::GetRoute(req), |m, out| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                out.extend(route6_from(r));
            }
        })
        .await
    }

    /// Add (or delete) the IPv6 default route via `via` on `dev`, marked
    /// as ours.
    pub async fn default6(
        &self,
        dev: &Link,
        via: Option<std::net::Ipv6Addr>,
        add: bool,
    ) -> Result<(), LinkError> {
        let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix(std::net::Ipv6Addr::UNSPECIFIED, 0)
            .output_interface(dev.index)
            .protocol(RouteProtocol::Other(super::diff::RTPROT_NETAGENT));
        if let Some(g) = via {
            b = b.gateway(g);
        }
        let msg = b.build();
        let what = format!(
            "{} route ::/0{}",
            if add { "add" } else { "delete" },
            via.map(|g| format!(" via {g}")).unwrap_or_default()
        );
        let r = if add {
            self.handle.route().add(msg).execute().await
        } else {
            self.handle.route().del(msg).execute().await
        };
        r.map_err(|e| op(describe(dev), what, e))
    }

    /// Every link, without statistics (the kernel leaves them out: most of
    /// each message), read with `dump` (see dump.rs).
    pub async fn links(&self) -> Result<Vec<Link>, LinkError> {
        let mut req = LinkMessage::default();
        req.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.dump("links", RouteNetlinkMessage::GetLink(req), |m, out| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                out.push(link_from(l));
            }
        })
        .await
    }

    pub(crate) async fn addrs(&self) -> Result<Vec<Addr>, LinkError> {
        // Both families: IPv4, and IPv6 for the bridges that have a prefix.
        let req = AddressMessage::default();
        self.dump("addresses", RouteNetlinkMessage::GetAddress(req), |m, out| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                out.extend(addr_from(a));
            }
        })
        .await
    }

    /// One link by index, read afresh; None when it is gone.
    pub(crate) async fn link_by_index(&self, index: u32) -> Result<Option<Link>, LinkError> {
        let mut req = self.handle.link().get().match_index(index);
        req.message_mut()
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let mut stream = std::pin::pin!(req.execute());
        match stream.try_next().await {
            Ok(m) => Ok(m.map(|m| link_from(&m))),
            Err(e) => {
                let e = op(format!("link {index}"), "read", e);
                if e.errno() == Some(libc::ENODEV) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(crate) async fn routes(&self) -> Result<Vec<Route>, LinkError> {
        let req = RouteMessageBuilder::<Ipv4Addr>::new().build();
        self.dump("routes", RouteNetlinkMessage::GetRoute(req), |m, out| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                out.extend(route_from(r));
            }
        })
        .await
    }

    /// Create a bridge. Forward delay 0 goes first, while STP is still off,
    /// because the kernel refuses a delay under 2 s once STP is on; libvirt
    /// sets it the same way so ports forward at once.
    pub async fn create_bridge(
        &self,
        name: &str,
        mac: Option<MacAddr>,
        mtu: Option<u32>,
        stp: bool,
    ) -> Result<(), LinkError> {
        // Made up at once: one request less per bridge on a cold start.
        let mut b = LinkBridge::new(name)
            .forward_delay(0)
            .stp_state(if stp {
                BridgeStpState::KernelStp
            } else {
                BridgeStpState::Disabled
            })
            .up();
        if let Some(m) = mac {
            b = b.address(m.0.to_vec());
        }
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| op(format!("bridge {name}"), "create", e))
    }

    /// STP on or off, with libvirt's forward delay of 0 (a bridge made by
    /// someone else has the kernel's 15 s, which would hold new ports back).
    /// The kernel reads the delay before the STP state and refuses one
    /// under 2 s while STP is on: turning STP off, the state goes first, in
    /// a message of its own; turning it on, the delay goes first.
    pub async fn set_stp(&self, link: &Link, stp: bool) -> Result<(), LinkError> {
        let state = if stp {
            BridgeStpState::KernelStp
        } else {
            BridgeStpState::Disabled
        };
        let msgs = if stp {
            vec![LinkBridge::new(&link.name)
                .forward_delay(0)
                .stp_state(state)
                .build()]
        } else {
            vec![
                LinkBridge::new(&link.name).stp_state(state).build(),
                LinkBridge::new(&link.name).forward_delay(0).build(),
            ]
        };
        for mut msg in msgs {
            msg.header.index = link.index;
            self.handle.link().change(msg).execute().await.map_err(|e| {
                op(
                    format!("bridge {}", link.name),
                    format!("set stp {}", if stp { "on" } else { "off" }),
                    e,
                )
            })?;
        }
        Ok(())
    }

    pub async fn set_up(&self, link: &Link) -> Result<(), LinkError> {
        self.set(
            link,
            LinkUnspec::new_with_index(link.index).up().build(),
            "set up",
        )
        .await
    }

    pub async fn set_mtu(&self, link: &Link, mtu: u32) -> Result<(), LinkError> {
        self.set(
            link,
            LinkUnspec::new_with_index(link.index).mtu(mtu).build(),
            &format!("set mtu {mtu}"),
        )
        .await
    }

    pub async fn set_mac(&self, link: &Link, mac: MacAddr) -> Result<(), LinkError> {
        let msg = LinkUnspec::new_with_index(link.index)
            .address(mac.0.to_vec())
            .build();
        self.set(link, msg, &format!("set mac {mac}")).await
    }

    pub async fn enslave(&self, port: &Link, bridge: &Link) -> Result<(), LinkError> {
        let msg = LinkUnspec::new_with_index(port.index)
            .controller(bridge.index)
            .up()
            .build();
        self.set(port, msg, &format!("add to bridge {}", bridge.name))
            .await
    }

    pub async fn release(&self, port: &Link) -> Result<(), LinkError> {
        let msg = LinkUnspec::new_with_index(port.index).nocontroller().build();
        self.set(port, msg, "remove from its bridge").await
    }

    pub async fn set_isolated(&self, port: &Link, on: bool) -> Result<(), LinkError> {
        let msg = LinkBridgePort::new(port.index).isolated(on).build();
        self.handle.link().set_port(msg).execute().await.map_err(|e| {
            op(
                format!("port {}", port.name),
                format!("set isolated {}", if on { "on" } else { "off" }),
                e,
            )
        })
    }

    async fn set(&self, link: &Link, msg: LinkMessage, action: &str) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| op(describe(link), action, e))
    }

    /// A veth pair (`netagent doctor`'s probe port).
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<(), LinkError> {
        self.handle
            .link()
            .add(rtnetlink::LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(|e| op(format!("veth {name}"), "create", e))
    }

    pub async fn delete(&self, link: &Link) -> Result<(), LinkError> {
        self.handle
            .link()
            .del(link.index)
            .execute()
            .await
            .map_err(|e| op(describe(link), "delete", e))
    }

    pub async fn add_addr(&self, link: &Link, net: IpNet) -> Result<(), LinkError> {
        let mut req = self
            .handle
            .address()
            .add(link.index, net.addr(), net.prefix_len());
        if net.addr().is_ipv6() {
            // Usable at once: no duplicate address detection holding the
            // router's address tentative (DNS could not bind it, guests
            // would see a router without its address). Guests take their
            // addresses from the rest of the prefix.
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| op(describe(link), format!("add {net}"), e))
    }

    pub async fn del_addr(&self, link: &Link, net: IpNet) -> Result<(), LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = match net {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        };
        msg.header.index = link.index;
        msg.header.prefix_len = net.prefix_len();
        if net.addr().is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(net.addr()));
        }
        msg.attributes.push(AddressAttribute::Address(net.addr()));
        self.handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|e| op(describe(link), format!("delete {net}"), e))
    }

    fn route_msg(to: Ipv4Net, via: Option<Ipv4Addr>, dev: &Link, metric: Option<u32>) -> RouteMessage {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(to.network(), to.prefix_len())
            .output_interface(dev.index)
            .protocol(RouteProtocol::Other(super::diff::RTPROT_NETAGENT));
        if let Some(g) = via {
            b = b.gateway(g);
        } else {
            b = b.scope(RouteScope::Link);
        }
        if let Some(m) = metric {
            b = b.priority(m);
        }
        b.build()
    }

    pub async fn add_route(
        &self,
        to: Ipv4Net,
        via: Option<Ipv4Addr>,
        dev: &Link,
        metric: Option<u32>,
    ) -> Result<(), LinkError> {
        let msg = Self::route_msg(to, via, dev, metric);
        let what = match via {
            Some(g) => format!("add route {to} via {g}"),
            None => format!("add route {to}"),
        };
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| op(describe(dev), what, e))
    }

    pub async fn del_route(&self, r: &Route, dev: &Link) -> Result<(), LinkError> {
        let msg = Self::route_msg(r.to, r.via, dev, r.metric);
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|e| op(describe(dev), format!("delete route {}", r.to), e))
    }
}

/// "bridge virbr0" or "link eth0", for error messages.
pub(crate) fn describe(link: &Link) -> String {
    if link.is_bridge() {
        format!("bridge {}", link.name)
    } else if link.is_vxlan() {
        format!("vxlan {}", link.name)
    } else {
        format!("link {}", link.name)
    }
}

pub(crate) fn addr_from(m: &AddressMessage) -> Option<Addr> {
    let ip = match m.header.family {
        AddressFamily::Inet => m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) => Some(IpAddr::V4(*ip)),
            _ => None,
        })?,
        // Global scope only: link-local addresses are the kernel's.
        AddressFamily::Inet6 if m.header.scope == AddressScope::Universe => {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V6(ip)) => Some(IpAddr::V6(*ip)),
                _ => None,
            })?
        }
        _ => return None,
    };
    Some(Addr {
        index: m.header.index,
        net: IpNet::new(ip, m.header.prefix_len).ok()?,
    })
}

/// An IPv6 default route of the main table.
pub(crate) fn route6_from(m: &RouteMessage) -> Option<super::observe::Route6> {
    if m.header.table != RouteHeader::RT_TABLE_MAIN
        || m.header.address_family != AddressFamily::Inet6
        || m.header.destination_prefix_length != 0
    {
        return None;
    }
    let mut r = super::observe::Route6 {
        proto: u8::from(m.header.protocol),
        via: None,
        oif: None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(RouteAddress::Inet6(g)) => r.via = Some(*g),
            RouteAttribute::Oif(i) => r.oif = Some(*i),
            _ => {}
        }
    }
    Some(r)
}

/// An IPv4 route of the main table.
pub(crate) fn route_from(m: &RouteMessage) -> Option<Route> {
    if m.header.table != RouteHeader::RT_TABLE_MAIN || m.header.address_family != AddressFamily::Inet {
        return None;
    }
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut r = Route {
        proto: u8::from(m.header.protocol),
        to: Ipv4Net::default(),
        via: None,
        oif: None,
        metric: None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => r.via = Some(*g),
            RouteAttribute::Oif(i) => r.oif = Some(*i),
            RouteAttribute::Priority(p) => r.metric = Some(*p),
            _ => {}
        }
    }
    r.to = Ipv4Net::new(dst, m.header.destination_prefix_length).ok()?;
    Some(r)
}

pub(crate) fn link_from(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        up: m.header.flags.contains(LinkFlags::Up),
        loopback: m.header.link_layer_type == LinkLayerType::Loopback,
        ..Link::default()
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(v) => l.mtu = *v,
            LinkAttribute::Controller(c) => l.controller = Some(*c),
            LinkAttribute::Carrier(c) => l.carrier = Some(*c != 0),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(b);
                l.mac = Some(MacAddr(mac));
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => l.kind = Some(kind_name(k)),
                        LinkInfo::Data(InfoData::Bridge(opts)) => {
                            for o in opts {
                                if let InfoBridge::StpState(s) = o {
                                    l.stp = Some(*s != BridgeStpState::Disabled);
                                }
                            }
                        }
                        LinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                            for o in opts {
                                match o {
                                    InfoBridgePort::Isolated(v) => l.isolated = Some(*v),
                                    InfoBridgePort::Learning(v) => l.learning = Some(*v),
                                    InfoBridgePort::NeighSupress(v) => l.neigh_suppress = Some(*v),
                                    _ => {}
                                }
                            }
                        }
                        LinkInfo::Data(InfoData::Vxlan(opts)) => {
                            let mut v = super::observe::Vxlan::default();
                            for o in opts {
                                match o {
                                    InfoVxlan::Id(id) => v.vni = *id,
                                    InfoVxlan::Local(a) => v.local = Some(*a),
                                    InfoVxlan::Port(p) => v.port = *p,
                                    InfoVxlan::Learning(b) => v.learning = *b,
                                    _ => {}
                                }
                            }
                            l.vxlan = Some(v);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // A NIC backed by a device has /sys/class/net/NAME/device; software links
    // (bridges, veths, taps, dummies) do not.
    if !l.loopback {
        l.bus = std::fs::canonicalize(format!("/sys/class/net/{}/device", l.name))
            .ok()
            .map(|p| {
                p.to_string_lossy()
                    .trim_start_matches("/sys/devices/")
                    .to_string()
            });
        if l.bus.is_some() {
            l.driver = std::fs::read_link(format!("/sys/class/net/{}/device/driver", l.name))
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        }
    }
    l.physical = l.bus.is_some();
    l
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::Tun => "tun".into(),
        InfoKind::Dummy => "dummy".into(),
        InfoKind::Vxlan => "vxlan".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}
