//! The status page: one snapshot of what `netagent status`, `list`,
//! `nics` and `leases` say, as JSON for a program and as one HTML page
//! for a browser. The page is in the binary: no script, nothing fetched.

use serde::Serialize;
use serde_json::Value;

/// What the page shows, as the control socket's answers give it.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    pub version: &'static str,
    /// Unix seconds now (the remaining times are counted from it).
    pub now: u64,
    pub uptime_seconds: u64,
    /// `netagent status`: pid, config, errors, warnings, recent events.
    pub status: Value,
    pub networks: Value,
    pub nics: Value,
    pub leases: Value,
}

/// Text made safe for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A JSON value as a table cell's text.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => esc(s),
        Some(Value::Bool(b)) => (if *b { "yes" } else { "no" }).into(),
        Some(other) => esc(&other.to_string()),
    }
}

/// `3h 12m`, `45s`.
pub(crate) fn remaining(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn table(o: &mut String, title: &str, heads: &[&str], rows: &[Vec<String>]) {
    o.push_str(&format!("<h2>{}</h2>\n", esc(title)));
    if rows.is_empty() {
        o.push_str("<p class=\"none\">none</p>\n");
        return;
    }
    o.push_str(&format!(
        "<table id=\"{}\">\n<tr>",
        esc(&title.to_ascii_lowercase())
    ));
    for h in heads {
        o.push_str(&format!("<th>{}</th>", esc(h)));
    }
    o.push_str("</tr>\n");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            o.push_str(&format!("<td>{c}</td>"));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
}

fn rows(v: &Value, keys: &[&str]) -> Vec<Vec<String>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| keys.iter().map(|k| cell(r.get(k))).collect())
                .collect()
        })
        .unwrap_or_default()
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#eee}.problem{color:#a00}.none{color:#777}";

/// The page, for a browser; `token` is what a write would have to send.
pub(crate) fn html(s: &Snapshot, token: &str) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str(&format!("<meta name=\"csrf-token\" content=\"{}\">", esc(token)));
    o.push_str(&format!(
        "<title>netagent</title><style>{STYLE}</style></head><body>\n<h1>netagent {}</h1>\n",
        esc(s.version)
    ));
    o.push_str(&format!(
        "<p>up {}, config {}</p>\n",
        remaining(s.uptime_seconds),
        cell(s.status.get("config"))
    ));
    let mut problems: Vec<String> = Vec::new();
    for key in ["errors", "warnings"] {
        if let Some(a) = s.status.get(key).and_then(Value::as_array) {
            problems.extend(a.iter().filter_map(Value::as_str).map(esc));
        }
    }
    o.push_str("<h2>Problems</h2>\n");
    if problems.is_empty() {
        o.push_str("<p class=\"none\">none</p>\n");
    } else {
        o.push_str("<ul>\n");
        for p in &problems {
            o.push_str(&format!("<li class=\"problem\">{p}</li>\n"));
        }
        o.push_str("</ul>\n");
    }
    let service = |n: &Value, key: &str| match n.get(key) {
        None | Some(Value::Null) => "-".to_string(),
        Some(v) => cell(v.get("state")),
    };
    let nets: Vec<Vec<String>> = s
        .networks
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    let mut r: Vec<String> = ["name", "kind", "bridge", "address", "state"]
                        .iter()
                        .map(|k| cell(n.get(k)))
                        .collect();
                    r.push(service(n, "dhcp"));
                    r.push(service(n, "dns"));
                    r.push(cell(n.get("leases")));
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &mut o,
        "Networks",
        &[
            "Name", "Kind", "Bridge", "Address", "State", "DHCP", "DNS", "Leases",
        ],
        &nets,
    );
    // The uplink as the first network that leaves by it sees it.
    let uplink: Vec<Vec<String>> = s
        .networks
        .as_array()
        .and_then(|a| a.iter().find_map(|n| n.get("uplink").filter(|u| !u.is_null())))
        .map(|u| {
            let addresses = u
                .get("addresses")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(esc)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![vec![
                cell(u.get("interface")),
                cell(u.get("addressing")),
                if addresses.is_empty() {
                    "-".into()
                } else {
                    addresses
                },
                cell(u.get("gateway")),
            ]]
        })
        .unwrap_or_default();
    table(
        &mut o,
        "Uplink",
        &["Interface", "Addressing", "Addresses", "Gateway"],
        &uplink,
    );
    table(
        &mut o,
        "NICs",
        &["Name", "Role", "MAC", "Driver", "Bus", "Carrier"],
        &rows(&s.nics, &["name", "role", "mac", "driver", "bus", "carrier"]),
    );
    let leases: Vec<Vec<String>> = s
        .leases
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let left = match l.get("expires").and_then(Value::as_u64) {
                        Some(e) => remaining(e.saturating_sub(s.now)),
                        None => "never expires".into(),
                    };
                    let mut r: Vec<String> = ["network", "address", "mac", "hostname"]
                        .iter()
                        .map(|k| cell(l.get(k)))
                        .collect();
                    r.push(left);
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &mut o,
        "Leases",
        &["Network", "Address", "MAC", "Hostname", "Remaining"],
        &leases,
    );
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_shows_leases_problems_and_escapes_what_guests_chose() {
        let s = Snapshot {
            version: "0.1.0",
            now: 1000,
            uptime_seconds: 3700,
            status: json!({"config": "/etc/netagent.toml", "errors": ["dhcp x: <broken>"], "warnings": []}),
            networks: json!([{"name": "default", "kind": "nat", "bridge": "virbr0", "address": "192.168.122.1/24", "state": "active", "leases": 1,
                "dhcp": {"state": "serving"}, "dns": {"state": "not serving: socket on virbr0: in use"},
                "uplink": {"interface": "eth0", "addressing": "dhcp", "addresses": ["10.0.2.15/24"], "gateway": "10.0.2.2"}}]),
            nics: json!([]),
            leases: json!([{"network": "default", "address": "192.168.122.45/24", "mac": "52:54:00:aa:bb:cc", "hostname": "<script>x</script>", "expires": 4600}]),
        };
        let h = html(&s, "t0k");
        assert!(h.contains("<td>52:54:00:aa:bb:cc</td>") && h.contains("<td>192.168.122.45/24</td>"));
        assert!(h.contains("&lt;script&gt;x&lt;/script&gt;") && !h.contains("<script>"));
        assert!(h.contains("<td>1h 0m</td>"), "remaining time:\n{h}");
        assert!(h.contains("dhcp x: &lt;broken&gt;"));
        assert!(h.contains("up 1h 1m"));
        assert!(
            h.contains("<td>serving</td><td>not serving: socket on virbr0: in use</td>"),
            "{h}"
        );
        assert!(
            h.contains("<td>eth0</td><td>dhcp</td><td>10.0.2.15/24</td><td>10.0.2.2</td>"),
            "{h}"
        );
        assert!(h.contains("content=\"t0k\""));
    }

    #[test]
    fn remaining_times_read_as_people_say_them() {
        assert_eq!(remaining(45), "45s");
        assert_eq!(remaining(125), "2m 5s");
        assert_eq!(remaining(3 * 3600 + 720), "3h 12m");
        assert_eq!(remaining(2 * 86400 + 3600), "2d 1h");
    }
}
