//! libvirt's firewall rules for an adopted bridge that outlived its
//! network. `virsh net-destroy` removes the rules it knows of; a libvirtd
//! that crashed, or was restarted between versions, can leave copies
//! behind, and those would keep rejecting the guests' traffic beside
//! netagent's own table. Only libvirt's rules are touched, only those that
//! name the adopted bridge or its subnets: the other networks libvirt
//! still runs keep theirs.
//!
//! - iptables backend (libvirt < 10, iptables-nft): the chains
//!   `LIBVIRT_INP/OUT/FWI/FWO/FWX/PRT` of the `ip`/`ip6` tables `filter`,
//!   `nat` and `mangle`;
//! - nftables backend (libvirt >= 10): the `ip`/`ip6 libvirt_network` tables.
//!
//! Found in `nft -j list ruleset` (pure) and deleted by handle, in one
//! atomic batch.

use std::borrow::Cow;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::schema::{NfCmd, NfListObject, Rule};
use nftables::types::NfFamily;
use serde_json::Value;

/// One of libvirt's rules to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u32,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} handle {}",
            self.family, self.table, self.chain, self.handle
        )
    }
}

const IPTABLES_CHAINS: [&str; 6] = [
    "LIBVIRT_INP",
    "LIBVIRT_OUT",
    "LIBVIRT_FWI",
    "LIBVIRT_FWO",
    "LIBVIRT_FWX",
    "LIBVIRT_PRT",
];

/// Whether a chain holds libvirt's rules.
fn libvirts(family: &str, table: &str, chain: &str) -> bool {
    matches!(family, "ip" | "ip6")
        && (table == "libvirt_network"
            || (matches!(table, "filter" | "nat" | "mangle") && IPTABLES_CHAINS.contains(&chain)))
}

/// Whether an expression names `bridge` as an interface, or one of
/// `subnets` as a prefix (`ip saddr 192.168.122.0/24`).
fn names(v: &Value, bridge: &str, subnets: &[IpNet]) -> bool {
    match v {
        Value::Object(o) => {
            if let Some(m) = o.get("match") {
                let key = m
                    .get("left")
                    .and_then(|l| l.get("meta"))
                    .and_then(|meta| meta.get("key"))
                    .and_then(Value::as_str);
                if matches!(key, Some("iifname" | "oifname"))
                    && m.get("right").and_then(Value::as_str) == Some(bridge)
                {
                    return true;
                }
            }
            if let Some(p) = o.get("prefix") {
                let net = p
                    .get("addr")
                    .and_then(Value::as_str)
                    .zip(p.get("len").and_then(Value::as_u64))
                    .and_then(|(a, l)| format!("{a}/{l}").parse::<IpNet>().ok());
                if net.is_some_and(|n| subnets.contains(&n)) {
                    return true;
                }
            }
            o.values().any(|x| names(x, bridge, subnets))
        }
        Value::Array(a) => a.iter().any(|x| names(x, bridge, subnets)),
        _ => false,
    }
}

/// libvirt's rules in `ruleset` (the JSON of `nft -j list ruleset`) that
/// name `bridge` or one of `subnets` (given truncated to their prefix).
pub fn find(ruleset: &Value, bridge: &str, subnets: &[IpNet]) -> Vec<Leftover> {
    let items = ruleset
        .get("nftables")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter_map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let (family, table, chain) = (s("family"), s("table"), s("chain"));
            if !libvirts(&family, &table, &chain) || !names(r.get("expr")?, bridge, subnets) {
                return None;
            }
            Some(Leftover {
                family,
                table,
                chain,
                handle: u32::try_from(r.get("handle")?.as_u64()?).ok()?,
            })
        })
        .collect()
}

/// Delete `rules` in one batch: all of them, or none.
pub fn remove(rules: &[Leftover]) -> Result<(), String> {
    if rules.is_empty() {
        return Ok(());
    }
    let mut b = Batch::new();
    for r in rules {
        let family = if r.family == "ip6" {
            NfFamily::IP6
        } else {
            NfFamily::IP
        };
        b.add_cmd(NfCmd::Delete(NfListObject::Rule(Rule {
            family,
            table: Cow::Owned(r.table.clone()),
            chain: Cow::Owned(r.chain.clone()),
            handle: Some(r.handle),
            ..Rule::default()
        })));
    }
    nftables::helper::apply_ruleset(&b.to_nftables())
        .map_err(|e| format!("nft: delete libvirt's leftover rules: {e}"))
}

/// The host's ruleset now.
pub fn ruleset() -> Result<Value, String> {
    let raw = nftables::helper::get_current_ruleset_raw(
        nftables::helper::DEFAULT_NFT,
        nftables::helper::DEFAULT_ARGS,
    )
    .map_err(|e| format!("nft: list ruleset: {e}"))?;
    serde_json::from_str(&raw).map_err(|e| format!("nft: list ruleset: unreadable JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `nft -j list ruleset` after libvirt 9.0 started two NAT
    /// networks (lvbr0 on 192.168.133.0/24, lvbr1 on .134), plus the
    /// nftables backend's table of libvirt 10 and someone else's rule.
    fn ruleset() -> Value {
        let m = |dir: &str, br: &str| serde_json::json!({"match": {"op": "==", "left": {"meta": {"key": dir}}, "right": br}});
        let pfx = |a: &str| serde_json::json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": a, "len": 24}}}});
        let rule = |f: &str, t: &str, c: &str, h: u32, expr: Vec<Value>| serde_json::json!({"rule": {"family": f, "table": t, "chain": c, "handle": h, "expr": expr}});
        serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            rule("ip", "filter", "LIBVIRT_INP", 5, vec![m("iifname", "lvbr0"), serde_json::json!({"accept": null})]),
            rule("ip", "filter", "LIBVIRT_INP", 6, vec![m("iifname", "lvbr1"), serde_json::json!({"accept": null})]),
            rule("ip", "filter", "LIBVIRT_FWI", 9, vec![m("oifname", "lvbr0"), serde_json::json!({"reject": null})]),
            rule("ip", "nat", "LIBVIRT_PRT", 12, vec![pfx("192.168.133.0"), serde_json::json!({"masquerade": null})]),
            rule("ip", "nat", "LIBVIRT_PRT", 13, vec![pfx("192.168.134.0"), serde_json::json!({"masquerade": null})]),
            rule("ip", "mangle", "LIBVIRT_PRT", 20, vec![m("oifname", "lvbr0"), serde_json::json!({"xt": {"type": "target", "name": "CHECKSUM"}})]),
            rule("ip", "libvirt_network", "guest_output", 30, vec![m("iifname", "lvbr0"), serde_json::json!({"accept": null})]),
            rule("ip", "filter", "FORWARD", 40, vec![m("iifname", "lvbr0"), serde_json::json!({"accept": null})]),
            rule("inet", "netagent", "forward", 50, vec![m("iifname", "lvbr0"), serde_json::json!({"accept": null})]),
        ]})
    }

    #[test]
    fn libvirts_rules_for_the_bridge_and_its_subnet_are_found_and_no_others() {
        let subnet: IpNet = "192.168.133.0/24".parse().unwrap();
        let found: Vec<u32> = find(&ruleset(), "lvbr0", &[subnet])
            .iter()
            .map(|l| l.handle)
            .collect();
        // Not lvbr1's, not the admin's FORWARD rule, never netagent's own.
        assert_eq!(found, [5, 9, 12, 20, 30]);
        let other: Vec<u32> = find(&ruleset(), "lvbr1", &[]).iter().map(|l| l.handle).collect();
        assert_eq!(other, [6]);
        assert!(find(&serde_json::json!({}), "lvbr0", &[subnet]).is_empty());
    }
}
