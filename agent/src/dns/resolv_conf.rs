//! The host's resolvers, for an uplink the host configures itself
//! (`address = "host"`): the `nameserver` lines of /etc/resolv.conf, as
//! dnsmasq reads them.

use std::net::Ipv4Addr;

pub(crate) const PATH: &str = "/etc/resolv.conf";

/// IPv4 nameservers in file order; comments, IPv6 and junk are skipped.
pub(crate) fn nameservers(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok())?
        })
        .collect()
}

/// The host's IPv4 resolvers now; none if the file cannot be read.
pub(crate) fn read() -> Vec<Ipv4Addr> {
    std::fs::read_to_string(PATH)
        .map(|t| nameservers(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_lines_only() {
        let t = "# generated\nsearch lan\nnameserver 127.0.0.53\nnameserver ::1\n  nameserver 10.0.0.1 # x\nnameserverx 1.1.1.1\noptions edns0\n";
        assert_eq!(
            nameservers(t),
            vec![Ipv4Addr::new(127, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 1)]
        );
    }
}
