//! The host's resolvers, for an uplink the host configures itself
//! (`address = "host"`): the `nameserver` lines of /etc/resolv.conf, as
//! dnsmasq reads them.

use std::net::IpAddr;

pub(crate) const PATH: &str = "/etc/resolv.conf";

/// Nameservers in file order, IPv4 and IPv6; comments, link-local ones
/// with a zone (`fe80::1%eth0`, which name an interface of the host's) and
/// junk are skipped.
pub(crate) fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok())?
        })
        .collect()
}

/// The host's resolvers now; none if the file cannot be read.
pub(crate) fn read() -> Vec<IpAddr> {
    std::fs::read_to_string(PATH)
        .map(|t| nameservers(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn nameserver_lines_only() {
        let t = "# generated\nsearch lan\nnameserver 127.0.0.53\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\n  nameserver 10.0.0.1 # x\nnameserverx 1.1.1.1\noptions edns0\n";
        assert_eq!(
            nameservers(t),
            vec![
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)),
                "2001:db8::53".parse::<IpAddr>().unwrap(),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
            ]
        );
    }
}
