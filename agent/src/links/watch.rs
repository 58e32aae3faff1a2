//! Link events from the kernel: a VM's tap (`vnet7`) appearing, a bridge
//! deleted by hand. Each event wakes the reconciler, which does the rest.

use futures::StreamExt;
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

use super::netlink::LinkError;

/// A channel that receives a unit each time links, addresses or routes change.
pub fn watch() -> Result<mpsc::Receiver<()>, LinkError> {
    let (conn, _handle, mut events) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv4Route,
        // Forwarding and rp_filter changes (`sysctl net.ipv4.ip_forward=0`),
        // and IPv6 switched back on for a bridge (its addresses appear).
        MulticastGroup::Ipv4Netconf,
        MulticastGroup::Ipv6Netconf,
        MulticastGroup::Ipv6Ifaddr,
    ])
    .map_err(LinkError::Socket)?;
    tokio::spawn(conn);
    // Capacity 1: a burst of events needs one reconcile, not one each.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while events.next().await.is_some() {
            let _ = tx.try_send(());
        }
    });
    Ok(rx)
}
