//! nftables' own change events (the NFNLGRP_NFTABLES netlink group): when
//! someone else touches our table (`nft flush ruleset`, a deleted chain),
//! the reconciler checks it at once instead of listing the table on a timer.

use netlink_sys::{protocols::NETLINK_NETFILTER, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use tokio::sync::mpsc;
use tracing::debug;

use super::TABLE;

/// The multicast group nf_tables announces every change on.
const NFNLGRP_NFTABLES: u32 = 7;
/// nfnetlink subsystem id of nf_tables (high byte of the message type).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// NFT_MSG_NEWGEN: the end of a batch, names no table.
const NFT_MSG_NEWGEN: u16 = 15;
/// In table, chain, rule, set, element, object and flowtable messages,
/// attribute 1 is the table's name.
const ATTR_TABLE: u16 = 1;
const NFPROTO_INET: u8 = 1;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// Whether a buffer of netlink messages from the nftables group changes
/// `inet <table>`. Pure, so it is tested on bytes; a malformed buffer
/// counts as a change (checking once too often costs one `nft list`).
pub(crate) fn touches_table(buf: &[u8], table: &str) -> bool {
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return true;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let body = &rest[NLMSG_HDRLEN..len];
        if kind >> 8 == NFNL_SUBSYS_NFTABLES && kind & 0xff != NFT_MSG_NEWGEN && message_names(body, table) {
            return true;
        }
        rest = &rest[align4(len).min(rest.len())..];
    }
    false
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One nf_tables message: its family is inet and its table attribute is `table`.
fn message_names(body: &[u8], table: &str) -> bool {
    if body.len() < NFGENMSG_LEN {
        return true;
    }
    if body[0] != NFPROTO_INET {
        return false;
    }
    let mut attrs = &body[NFGENMSG_LEN..];
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return true;
        }
        if kind == ATTR_TABLE {
            let name = &attrs[4..len];
            let name = name.split(|b| *b == 0).next().unwrap_or(name);
            return name == table.as_bytes();
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    false
}

/// A channel that receives a unit each time our table may have changed.
pub(crate) fn watch() -> std::io::Result<mpsc::Receiver<()>> {
    let mut sock = TokioSocket::new(NETLINK_NETFILTER)?;
    sock.socket_mut().bind(&SocketAddr::new(0, 0))?;
    sock.socket_ref().add_membership(NFNLGRP_NFTABLES)?;
    // Capacity 1: a burst of changes needs one check, not one each.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let wake = match sock.recv_from_full().await {
                Ok((buf, _)) => touches_table(&buf, TABLE),
                // ENOBUFS: events were lost; one of them may have been ours.
                Err(e) => {
                    debug!("nftables events: {e}");
                    true
                }
            };
            if wake && tx.try_send(()).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = 4 + payload.len();
        let mut v = (len as u16).to_ne_bytes().to_vec();
        v.extend(kind.to_ne_bytes());
        v.extend(payload);
        v.resize(align4(len), 0);
        v
    }

    fn msg(msg_type: u16, family: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![family, 0, 0, 0];
        for a in attrs {
            body.extend(a);
        }
        let len = NLMSG_HDRLEN + body.len();
        let mut v = (len as u32).to_ne_bytes().to_vec();
        v.extend((NFNL_SUBSYS_NFTABLES << 8 | msg_type).to_ne_bytes());
        v.extend([0u8; 10]);
        v.extend(body);
        v
    }

    #[test]
    fn a_change_to_our_table_wakes_the_reconciler_and_others_do_not() {
        const DELRULE: u16 = 8;
        const DELTABLE: u16 = 2;
        let ours = msg(
            DELRULE,
            NFPROTO_INET,
            &[attr(1, b"netagent\0"), attr(2, b"forward\0")],
        );
        let theirs = msg(DELRULE, NFPROTO_INET, &[attr(1, b"filter\0")]);
        let ip_family = msg(DELTABLE, 2, &[attr(1, b"netagent\0")]);
        let gen = msg(NFT_MSG_NEWGEN, 0, &[attr(1, b"\0\0\0\x07")]);
        assert!(touches_table(&ours, "netagent"));
        assert!(!touches_table(&theirs, "netagent"));
        assert!(
            !touches_table(&ip_family, "netagent"),
            "table ip netagent is not ours"
        );
        assert!(!touches_table(&gen, "netagent"));
        // Several messages in one read: `nft flush ruleset` deletes every table.
        let batch = [theirs.clone(), ours, gen].concat();
        assert!(touches_table(&batch, "netagent"));
    }

    #[test]
    fn a_truncated_buffer_counts_as_a_change() {
        let ours = msg(8, NFPROTO_INET, &[attr(1, b"netagent\0")]);
        let mut cut = ours.clone();
        cut[0] = 200;
        assert!(touches_table(&cut, "netagent"));
        assert!(!touches_table(&[], "netagent"));
    }
}
