//! DHCP options beyond the ones netagent sets itself
//! (`[[network.dhcp.option]]`, libvirt's `<option number='42' value=.../>`,
//! dnsmasq's `dhcp-option`): a code or a name, and a value written as text
//! that is typed by what the option holds (addresses, text, a domain list,
//! a number), the way dnsmasq reads `dhcp-option=42,192.168.122.1`. Pure.

use std::net::Ipv4Addr;

/// How an option's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One or more IPv4 addresses, comma-separated.
    Addrs,
    Text,
    /// RFC 3397's domain search list: names, comma-separated.
    Domains,
    U8,
    I32,
    /// Unknown to netagent: addresses if the value reads as addresses,
    /// bytes if written `01:02:ff`, else text (dnsmasq's guess).
    Guess,
}

/// (code, name, shape) of the options people set by hand.
const KNOWN: &[(u8, &str, Shape)] = &[
    (2, "time-offset", Shape::I32),
    (4, "time-servers", Shape::Addrs),
    (5, "name-servers", Shape::Addrs),
    (7, "log-servers", Shape::Addrs),
    (9, "lpr-servers", Shape::Addrs),
    (17, "root-path", Shape::Text),
    (40, "nis-domain", Shape::Text),
    (41, "nis-servers", Shape::Addrs),
    (42, "ntp-servers", Shape::Addrs),
    (44, "netbios-ns", Shape::Addrs),
    (45, "netbios-dd", Shape::Addrs),
    (46, "netbios-node-type", Shape::U8),
    (47, "netbios-scope", Shape::Text),
    (64, "nis+-domain", Shape::Text),
    (65, "nis+-servers", Shape::Addrs),
    (66, "tftp-server-name", Shape::Text),
    (67, "bootfile-name", Shape::Text),
    (69, "smtp-servers", Shape::Addrs),
    (70, "pop3-servers", Shape::Addrs),
    (100, "posix-timezone", Shape::Text),
    (101, "tzdb-timezone", Shape::Text),
    (119, "domain-search", Shape::Domains),
    (150, "tftp-servers", Shape::Addrs),
    (252, "wpad", Shape::Text),
];

/// The options netagent sets from its own settings, with the setting to use.
const OWN: &[(u8, &str)] = &[
    (0, "0 is padding, not an option"),
    (1, "the subnet mask comes from the network's address"),
    (
        3,
        "the router is the bridge's address: use router = true or false",
    ),
    (6, "use dns_servers = [...]"),
    (12, "the host name is the client's own"),
    (15, "use domain = \"...\""),
    (26, "use mtu = ..."),
    (28, "the broadcast address comes from the network's address"),
    (50, "the requested address is the client's to send"),
    (51, "use lease_time = ..."),
    (52, "option overload is netagent's encoding"),
    (53, "the message type is netagent's"),
    (54, "the server identifier is the bridge's address"),
    (55, "the parameter request list is the client's to send"),
    (57, "the maximum message size is the client's to send"),
    (58, "renewal follows lease_time"),
    (59, "rebinding follows lease_time"),
    (61, "the client identifier is the client's to send"),
    (81, "the client FQDN is answered from the lease's name"),
    (82, "relay agent information is the relay's"),
    (121, "use classless_routes = true with [[network.route]]"),
    (255, "255 ends the options"),
];

/// The code a name stands for.
pub fn code_of(name: &str) -> Option<u8> {
    KNOWN.iter().find(|(_, n, _)| *n == name).map(|(c, _, _)| *c)
}

/// The name of a code netagent knows.
pub fn name_of(code: u8) -> Option<&'static str> {
    KNOWN.iter().find(|(c, _, _)| *c == code).map(|(_, n, _)| *n)
}

/// Why `code` cannot be set by hand, if it cannot.
pub fn own(code: u8) -> Option<&'static str> {
    OWN.iter().find(|(c, _)| *c == code).map(|(_, why)| *why)
}

fn addrs(value: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for a in value.split(',').map(str::trim) {
        let ip: Ipv4Addr = a.parse().map_err(|_| format!("\"{a}\" is not an IPv4 address"))?;
        out.extend_from_slice(&ip.octets());
    }
    Ok(out)
}

/// RFC 1035 labels, uncompressed (RFC 3397 allows either).
fn domains(value: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for d in value.split(',').map(|d| d.trim().trim_end_matches('.')) {
        if d.is_empty() {
            return Err("an empty domain in the list".into());
        }
        for label in d.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(format!("\"{d}\" is not a domain name"));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }
    Ok(out)
}

/// `01:02:ff` as bytes.
fn hex(value: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    parts.iter().map(|p| u8::from_str_radix(p, 16).ok()).collect()
}

/// The option's data for `value`, or what is wrong with it.
pub fn encode(code: u8, value: &str) -> Result<Vec<u8>, String> {
    if let Some(why) = own(code) {
        return Err(format!("option {code} is netagent's own: {why}"));
    }
    let shape = KNOWN
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(Shape::Guess, |(_, _, s)| *s);
    let data = match shape {
        Shape::Addrs => addrs(value)?,
        Shape::Text if value.is_empty() => return Err("an empty value".into()),
        Shape::Text => value.as_bytes().to_vec(),
        Shape::Domains => domains(value)?,
        Shape::U8 => vec![value
            .trim()
            .parse::<u8>()
            .map_err(|_| format!("\"{value}\" is not a number from 0 to 255"))?],
        Shape::I32 => value
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("\"{value}\" is not a whole number of seconds"))?
            .to_be_bytes()
            .to_vec(),
        Shape::Guess => match (addrs(value), hex(value)) {
            (Ok(a), _) => a,
            (_, Some(b)) => b,
            _ if value.is_empty() => return Err("an empty value".into()),
            _ => value.as_bytes().to_vec(),
        },
    };
    if data.len() > 255 {
        return Err(format!("{} bytes: an option holds at most 255", data.len()));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_by_what_the_option_holds() {
        assert_eq!(
            encode(42, "10.0.0.1, 10.0.0.2"),
            Ok(vec![10, 0, 0, 1, 10, 0, 0, 2])
        );
        assert_eq!(
            encode(252, "http://wpad/wpad.dat"),
            Ok(b"http://wpad/wpad.dat".to_vec())
        );
        assert_eq!(
            encode(119, "lab.example, example"),
            Ok(b"\x03lab\x07example\x00\x07example\x00".to_vec())
        );
        assert_eq!(encode(46, "8"), Ok(vec![8]));
        assert_eq!(encode(2, "-3600"), Ok((-3600i32).to_be_bytes().to_vec()));
        // Unknown codes: addresses, hex bytes, or text.
        assert_eq!(encode(224, "10.0.0.9"), Ok(vec![10, 0, 0, 9]));
        assert_eq!(encode(224, "01:02:ff"), Ok(vec![1, 2, 255]));
        assert_eq!(encode(224, "hello"), Ok(b"hello".to_vec()));
    }

    #[test]
    fn bad_values_and_netagents_own_options_are_refused_with_why() {
        assert!(encode(42, "ntp.example")
            .unwrap_err()
            .contains("not an IPv4 address"));
        assert!(encode(119, "bad..name")
            .unwrap_err()
            .contains("not a domain name"));
        assert!(encode(46, "300").unwrap_err().contains("0 to 255"));
        assert!(encode(3, "10.0.0.1").unwrap_err().contains("router = true"));
        assert!(encode(6, "10.0.0.1").unwrap_err().contains("dns_servers"));
        assert!(encode(224, &"x".repeat(300)).unwrap_err().contains("at most 255"));
        assert_eq!(code_of("ntp-servers"), Some(42));
        assert_eq!(name_of(252), Some("wpad"));
    }
}
