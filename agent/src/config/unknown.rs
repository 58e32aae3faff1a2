//! Unknown keys are typos until proven otherwise: each one is reported with
//! its position and the keys that would have been accepted there.

use toml::de::{DeTable, DeValue};

use super::problem::Collector;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Report every key the schema does not accept, in document order. The
/// walk uses `known_keys`, the one list of what each table holds (a test
/// holds it equal to the fields of `raw`'s structs), so the config's
/// deserializer is not instantiated a second time to watch for ignored
/// keys (that doubled its code: ~145 KB of the binary).
pub(super) fn report(c: &mut Collector<'_>, doc: &DeTable<'_>, names: &[Option<String>]) {
    let mut path = Vec::new();
    walk(c, doc, &mut path, names);
}

fn walk(c: &mut Collector<'_>, table: &DeTable<'_>, path: &mut Vec<Seg>, names: &[Option<String>]) {
    let Some(keys) = known_keys(path) else { return };
    for (k, v) in table.iter() {
        let key = k.get_ref().to_string();
        if !keys.contains(&key.as_str()) {
            unknown(c, k.span(), path, &key, keys, names);
            continue;
        }
        path.push(Seg::Key(key));
        match v.get_ref() {
            DeValue::Table(t) => walk(c, t, path, names),
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    if let DeValue::Table(t) = item.get_ref() {
                        path.push(Seg::Index(i));
                        walk(c, t, path, names);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

fn unknown(
    c: &mut Collector<'_>,
    span: std::ops::Range<usize>,
    parent_path: &[Seg],
    key: &str,
    keys: &[&str],
    names: &[Option<String>],
) {
    let mut parent = path_text(parent_path);
    // Name networks as every other message does: network "default" ...
    if let [Seg::Key(k), Seg::Index(i), rest @ ..] = parent_path {
        if let (true, Some(Some(name))) = (k == "network", names.get(*i)) {
            parent = format!("network \"{name}\" {}", path_text(rest))
                .trim_end()
                .to_string();
        }
    }
    let hint = match keys.iter().find(|k| close(k, key)) {
        Some(k) => format!("did you mean `{k}`? Keys here: {}", keys.join(", ")),
        None => format!("keys here: {}", keys.join(", ")),
    };
    let field = match (parent.is_empty(), parent.ends_with('"')) {
        (true, _) => key.to_string(),
        (false, true) => format!("{parent} {key}"),
        (false, false) => format!("{parent}.{key}"),
    };
    c.add(span, field, format!("unknown key `{key}`: {hint}"));
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
        [] => &["uplink", "network", "evpn", "status"],
        ["status"] => &["listen", "password"],
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
            "ntp",
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

#[cfg(test)]
mod tests {
    use super::super::raw::*;
    use super::*;
    use serde::de::{self, Deserialize, Visitor};

    /// The field names serde derived for `T`, caught from the one call its
    /// `Deserialize` makes.
    fn fields<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
        struct Rec;
        impl<'de> de::Deserializer<'de> for Rec {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                FIELDS.with(|f| f.set(fields));
                Err(de::Error::custom("recorded"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        thread_local!(static FIELDS: std::cell::Cell<&'static [&'static str]> = const { std::cell::Cell::new(&[]) });
        assert!(T::deserialize(Rec).is_err());
        let mut f = FIELDS.with(|f| f.get()).to_vec();
        f.sort_unstable();
        f
    }

    fn known(path: &[&str]) -> Vec<&'static str> {
        let segs: Vec<Seg> = path.iter().map(|k| Seg::Key(k.to_string())).collect();
        let mut k = known_keys(&segs)
            .unwrap_or_else(|| panic!("no keys for {path:?}"))
            .to_vec();
        k.sort_unstable();
        k
    }

    #[test]
    fn the_key_list_is_the_schema() {
        let cases: Vec<(&[&str], Vec<&str>)> = vec![
            (&[], fields::<RawConfig>()),
            (&["status"], fields::<RawStatus>()),
            (&["evpn"], fields::<RawEvpn>()),
            (&["uplink"], fields::<RawUplink>()),
            (&["network"], fields::<RawNetwork>()),
            (&["network", "span"], fields::<RawSpan>()),
            (&["network", "port_security"], fields::<RawPortSecurity>()),
            (&["network", "port_security", "allow"], fields::<RawAllow>()),
            (&["network", "forward"], fields::<RawForward>()),
            (&["network", "route"], fields::<RawRoute>()),
            (&["network", "nat"], fields::<RawNat>()),
            (&["network", "dhcp"], fields::<RawDhcp>()),
            (&["network", "dhcp", "option"], fields::<RawDhcpOption>()),
            (&["network", "dhcp", "pxe"], fields::<RawPxe>()),
            (&["network", "dhcp", "host"], fields::<RawDhcpHost>()),
            (&["network", "dhcp6"], fields::<RawDhcp6>()),
            (&["network", "dhcp6", "host"], fields::<RawDhcp6Host>()),
            (&["network", "dns"], fields::<RawDns>()),
            (&["network", "dns", "forwarder"], fields::<RawForwarder>()),
            (&["network", "dns", "host"], fields::<RawDnsHost>()),
            (&["network", "dns", "srv"], fields::<RawSrv>()),
            (&["network", "dns", "txt"], fields::<RawTxt>()),
        ];
        for (path, fields) in cases {
            assert!(fields.len() > 1, "{path:?}: {fields:?}");
            assert_eq!(known(path), fields, "known_keys({path:?}) differs from raw.rs");
        }
    }

    fn problems(src: &str) -> String {
        match super::super::parse(src, "t.toml") {
            Ok(_) => String::new(),
            Err(p) => p.to_string(),
        }
    }

    #[test]
    fn unknown_keys_are_found_in_inline_and_array_tables() {
        let base =
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"b0\"\naddress = \"10.1.0.1/24\"\n";
        let p = problems(&format!(
            "{base}[network.dhcp]\nhost = [{{ mac = \"52:54:00:00:00:01\", ipp = \"10.1.0.5\" }}]\n\
             [[network.forward]]\nprotocol = \"tcp\"\nport = 80\nto = \"10.1.0.5\"\ntoo = 1\n\
             [status]\nlisen = [\"127.0.0.1:9189\"]\n"
        ));
        assert!(
            p.contains("t.toml:7:38: network \"n\" dhcp.host[0].ipp: unknown key `ipp`: did you mean `ip`?"),
            "{p}"
        );
        assert!(
            p.contains("network \"n\" forward[0].too: unknown key `too`"),
            "{p}"
        );
        assert!(
            p.contains("status.lisen: unknown key `lisen`: did you mean `listen`?"),
            "{p}"
        );
        let p = problems(&format!("statsu = 1\n{base}"));
        assert!(p.contains("did you mean `status`?"), "{p}");
        assert_eq!(problems(base), "");
    }
}
