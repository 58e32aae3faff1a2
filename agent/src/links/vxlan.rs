//! VXLAN devices for spanned networks: making one, its bridge port's
//! learning and neighbour suppression, and its flood list (the all-zero
//! FDB entries `bridge fdb append 00:00:00:00:00:00 dev vx100 dst PEER`
//! makes), read and written over rtnetlink.

use std::net::Ipv4Addr;

use futures::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{LinkBridgePort, LinkVxlan};

use super::netlink::{describe, op, Cause, LinkError, Netlink};
use super::observe::{Flood, Link};

const ZERO_MAC: [u8; 6] = [0; 6];

/// How a VXLAN device is made (its settings cannot change afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewVxlan {
    pub name: String,
    pub vni: u32,
    pub local: Ipv4Addr,
    pub port: u16,
    pub learning: bool,
    pub mtu: u32,
}

impl Netlink {
    pub(crate) async fn create_vxlan(&self, v: &NewVxlan) -> Result<(), LinkError> {
        let msg = LinkVxlan::new(&v.name, v.vni)
            .local(v.local)
            .port(v.port)
            .learning(v.learning)
            .mtu(v.mtu)
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| op(format!("vxlan {}", v.name), format!("create (VNI {})", v.vni), e))
    }

    /// The bridge port's learning and neighbour suppression.
    pub(crate) async fn set_port_flags(
        &self,
        port: &Link,
        learning: bool,
        suppress: bool,
    ) -> Result<(), LinkError> {
        let msg = LinkBridgePort::new(port.index)
            .learning(learning)
            .neigh_suppress(suppress)
            .build();
        self.handle.link().set_port(msg).execute().await.map_err(|e| {
            op(
                format!("port {}", port.name),
                format!(
                    "set learning {} neigh_suppress {}",
                    on_off(learning),
                    on_off(suppress)
                ),
                e,
            )
        })
    }

    /// Every VXLAN device's flood-list entries.
    pub(crate) async fn floods(&self) -> Result<Vec<Flood>, LinkError> {
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Bridge;
        self.dump("bridge FDB", RouteNetlinkMessage::GetNeighbour(req), |m, out| {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                out.extend(flood_from(n));
            }
        })
        .await
    }

    /// Add (`append`) or remove the flood entry for `dst` on `dev`.
    pub(crate) async fn flood(&self, dev: &Link, dst: Ipv4Addr, add: bool) -> Result<(), LinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = dev.index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(ZERO_MAC.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        let (payload, flags) = if add {
            (
                RouteNetlinkMessage::NewNeighbour(msg),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
            )
        } else {
            (RouteNetlinkMessage::DelNeighbour(msg), NLM_F_REQUEST | NLM_F_ACK)
        };
        let mut req = NetlinkMessage::from(payload);
        req.header.flags = flags;
        let action = format!("{} flood entry {dst}", if add { "add" } else { "delete" });
        let mut handle = self.handle.clone();
        let mut answers = handle
            .request(req)
            .map_err(|e| op(describe(dev), action.clone(), e))?;
        while let Some(m) = answers.next().await {
            if let NetlinkPayload::Error(e) = m.payload {
                if let Some(code) = e.code {
                    return Err(LinkError::Op {
                        object: describe(dev),
                        action,
                        cause: Cause::Errno(-code.get()),
                    });
                }
            }
        }
        Ok(())
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// A flood entry: the device's own (not the bridge's) all-zero MAC entry
/// with an IPv4 destination.
fn flood_from(n: &NeighbourMessage) -> Option<Flood> {
    if !n.header.flags.contains(NeighbourFlags::Own) {
        return None;
    }
    let mut zero = false;
    let mut dst = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(m) => zero = m.as_slice() == ZERO_MAC,
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => dst = Some(*ip),
            // The bridge family's entries carry the remote's address as
            // raw bytes (the parser knows addresses only by the family).
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                dst = <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from);
            }
            _ => {}
        }
    }
    let dst = dst.filter(|_| zero)?;
    Some(Flood {
        index: n.header.ifindex,
        dst,
    })
}
