//! Unknown keys are typos until proven otherwise: each one is reported with
//! its position and the keys that would have been accepted there.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::problem::Collector;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// serde_ignored's path as plain segments, without the private keys that
/// `Spanned` uses to carry positions through serde.
pub(super) fn segments(p: &serde_ignored::Path<'_>) -> Vec<Seg> {
    use serde_ignored::Path;
    let mut out = match p {
        Path::Root => return Vec::new(),
        Path::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Seg::Index(*index));
            v
        }
        Path::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            segments(parent)
        }
    };
    out.retain(|s| !matches!(s, Seg::Key(k) if k.starts_with("$__serde_spanned")));
    out
}

pub(super) fn report(c: &mut Collector<'_>, src: &str, paths: &[Vec<Seg>], names: &[Option<String>]) {
    if paths.is_empty() {
        return;
    }
    let Ok(doc) = DeTable::parse(src) else { return };
    for path in paths {
        let (span, name) = locate(doc.get_ref(), path).unwrap_or((0..0, path_text(path)));
        let mut parent = path_text(&path[..path.len().saturating_sub(1)]);
        // Name networks as every other message does: network "default" ...
        if let [Seg::Key(k), Seg::Index(i), ..] = path.as_slice() {
            if let (true, Some(Some(name))) = (k == "network", names.get(*i)) {
                let rest = path_text(&path[2..path.len().saturating_sub(1)]);
                parent = format!("network \"{name}\" {rest}").trim_end().to_string();
            }
        }
        let key = match path.last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => name.clone(),
        };
        let hint = match known_keys(&path[..path.len().saturating_sub(1)]) {
            Some(keys) => match keys.iter().find(|k| close(k, &key)) {
                Some(k) => format!("did you mean `{k}`? Keys here: {}", keys.join(", ")),
                None => format!("keys here: {}", keys.join(", ")),
            },
            None => "remove it".into(),
        };
        let field = match (parent.is_empty(), parent.ends_with('"')) {
            (true, _) => key.clone(),
            (false, true) => format!("{parent} {key}"),
            (false, false) => format!("{parent}.{key}"),
        };
        c.add(span, field, format!("unknown key `{key}`: {hint}"));
    }
}

fn path_text(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The span of the key at `path`, walking the parsed document.
fn locate(table: &DeTable<'_>, path: &[Seg]) -> Option<(std::ops::Range<usize>, String)> {
    let (Seg::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (k, v) = table.iter().find(|(k, _)| k.get_ref() == first)?;
    if rest.is_empty() {
        return Some((k.span(), first.clone()));
    }
    locate_value(v, rest)
}

fn locate_value(v: &Spanned<DeValue<'_>>, path: &[Seg]) -> Option<(std::ops::Range<usize>, String)> {
    match (v.get_ref(), path.first()?) {
        (DeValue::Table(t), Seg::Key(_)) => locate(t, path),
        (DeValue::Array(a), Seg::Index(i)) => {
            let item = a.get(*i)?;
            if path.len() == 1 {
                Some((item.span(), format!("[{i}]")))
            } else {
                locate_value(item, &path[1..])
            }
        }
        _ => None,
    }
}

/// The keys the schema accepts in the table at `parent` (array indices skipped).
fn known_keys(parent: &[Seg]) -> Option<&'static [&'static str]> {
    let keys: Vec<&str> = parent
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    Some(match keys.as_slice() {
        [] => &["uplink", "network", "evpn"],
        ["evpn"] => &["asn", "neighbors", "router_id", "vtysh", "pathspace"],
        ["network", "span"] => &["vni", "local", "port", "peers", "evpn", "home", "underlay_mtu"],
        ["network", "port_security"] => &["enabled", "trusted", "leases_per_port", "allow"],
        ["network", "port_security", "allow"] => &["mac", "ip"],
        ["uplink"] => &[
            "interface",
            "mac",
            "path",
            "address",
            "gateway",
            "address6",
            "gateway6",
            "dns",
        ],
        ["network"] => &[
            "name",
            "kind",
            "bridge",
            "address",
            "address6",
            "mac",
            "mtu",
            "stp",
            "ports",
            "port_isolation",
            "egress",
            "adopt",
            "serve_lan",
            "libvirt",
            "route",
            "nat",
            "dhcp",
            "dhcp6",
            "dns",
            "forward",
            "span",
            "port_security",
        ],
        ["network", "forward"] => &["protocol", "port", "to", "to_port", "from"],
        ["network", "route"] => &["to", "via", "metric"],
        ["network", "nat"] => &["ports", "address", "ipv6"],
        ["network", "dhcp"] => &[
            "ranges",
            "lease_time",
            "router",
            "domain",
            "dns_servers",
            "mtu",
            "classless_routes",
            "pxe",
            "host",
            "option",
        ],
        ["network", "dhcp", "option"] => &["code", "name", "value", "force"],
        ["network", "dhcp", "pxe"] => &["file", "server"],
        ["network", "dhcp", "host"] => &["mac", "ip", "name"],
        ["network", "dhcp6"] => &["ranges", "lease_time", "host"],
        ["network", "dhcp6", "host"] => &["duid", "mac", "ip", "name"],
        ["network", "dns"] => &[
            "enabled",
            "domain",
            "local_only",
            "forward_plain_names",
            "local_ptr",
            "etc_hosts",
            "forwarder",
            "host",
            "srv",
            "txt",
        ],
        ["network", "dns", "forwarder"] => &["domain", "addr"],
        ["network", "dns", "host"] => &["ip", "names"],
        ["network", "dns", "srv"] => &[
            "service", "protocol", "domain", "target", "port", "priority", "weight",
        ],
        ["network", "dns", "txt"] => &["name", "value"],
        _ => return None,
    })
}

/// A typo is one edit away, or the same letters with `-` for `_`.
fn close(known: &str, typed: &str) -> bool {
    if known == typed.replace('-', "_") {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (known.chars().collect(), typed.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}
