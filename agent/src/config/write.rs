//! A checked `Config` written back as netagent TOML, in the order and style
//! of the example configs. `import-libvirt` uses it; parsing what it writes
//! gives the same `Config` back (tested over every example).

use std::fmt::Write;

use super::model::*;
use super::units::LeaseTime;

/// A TOML string literal, escaped by the toml crate.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list<T: ToString>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| q(&x.to_string())).collect();
    format!("[{}]", items.join(", "))
}

/// Lease times in the largest whole unit: "1h" rather than "3600s".
pub fn lease_time(t: LeaseTime) -> String {
    match t.seconds() {
        None => "infinite".into(),
        Some(s) => [(604800, "w"), (86400, "d"), (3600, "h"), (60, "m")]
            .iter()
            .find(|(n, _)| s % n == 0)
            .map(|(n, u)| format!("{}{u}", s / n))
            .unwrap_or_else(|| format!("{s}s")),
    }
}

pub fn write(cfg: &Config) -> String {
    let mut o = String::new();
    if let Some(u) = &cfg.uplink {
        o.push_str("[uplink]\n");
        let _ = match &u.interface {
            UplinkInterface::Auto => writeln!(o, "interface = \"auto\""),
            UplinkInterface::Named(n) => writeln!(o, "interface = {}", q(n)),
            UplinkInterface::Mac(m) => writeln!(o, "mac = {}", q(&m.to_string())),
            UplinkInterface::Path(p) => writeln!(o, "path = {}", q(p)),
        };
        match &u.addressing {
            Addressing::Dhcp => o.push_str("address = \"dhcp\"\n"),
            Addressing::Host => o.push_str("address = \"host\"\n"),
            Addressing::Static { address, gateway } => {
                let _ = writeln!(o, "address = {}", q(&address.to_string()));
                if let Some(g) = gateway {
                    let _ = writeln!(o, "gateway = {}", q(&g.to_string()));
                }
            }
        }
        if let Some(a) = u.address6 {
            let _ = writeln!(o, "address6 = {}", q(&a.to_string()));
        }
        if let Some(g) = u.gateway6 {
            let _ = writeln!(o, "gateway6 = {}", q(&g.to_string()));
        }
        if !u.dns.is_empty() {
            let _ = writeln!(o, "dns = {}", list(&u.dns));
        }
        if !u.ntp.is_empty() {
            let _ = writeln!(o, "ntp = {}", list(&u.ntp));
        }
    }
    for n in &cfg.networks {
        network(&mut o, n);
    }
    if let Some(e) = &cfg.evpn {
        o.push_str("\n[evpn]\n");
        let _ = writeln!(o, "asn = {}", e.asn);
        let _ = writeln!(o, "neighbors = {}", list(&e.neighbors));
        if let Some(r) = e.router_id {
            let _ = writeln!(o, "router_id = {}", q(&r.to_string()));
        }
        if e.vtysh != "vtysh" {
            let _ = writeln!(o, "vtysh = {}", q(&e.vtysh));
        }
        if let Some(p) = &e.pathspace {
            let _ = writeln!(o, "pathspace = {}", q(p));
        }
    }
    if let Some(st) = &cfg.status {
        o.push_str("\n[status]\n");
        let _ = writeln!(o, "listen = {}", list(&st.listen));
        if let Some(p) = &st.password {
            let _ = writeln!(o, "password = {}", q(p));
        }
    }
    o
}

fn span(o: &mut String, s: &Span) {
    o.push_str("\n[network.span]\n");
    let _ = writeln!(o, "vni = {}", s.vni);
    let _ = writeln!(o, "local = {}", q(&s.local.to_string()));
    if s.port != 4789 {
        let _ = writeln!(o, "port = {}", s.port);
    }
    match &s.flood {
        Flood::Static(peers) => {
            let _ = writeln!(o, "peers = {}", list(peers));
        }
        Flood::Evpn => o.push_str("evpn = true\n"),
    }
    let _ = writeln!(o, "home = {}", q(&s.home.to_string()));
    if s.underlay_mtu != 1500 {
        let _ = writeln!(o, "underlay_mtu = {}", s.underlay_mtu);
    }
}

fn network(o: &mut String, n: &Network) {
    if !o.is_empty() {
        o.push('\n');
    }
    o.push_str("[[network]]\n");
    let _ = writeln!(o, "name = {}", q(&n.name));
    let _ = writeln!(o, "kind = {}", q(n.kind.name()));
    let _ = writeln!(o, "bridge = {}", q(&n.bridge));
    if let Some(a) = n.address {
        let _ = writeln!(o, "address = {}", q(&a.to_string()));
    }
    if let Some(a) = n.address6 {
        let _ = writeln!(o, "address6 = {}", q(&a.to_string()));
    }
    match n.delegated {
        Some(Delegated::Auto) => o.push_str("address6 = \"pd\"\n"),
        Some(Delegated::Subnet(i)) => {
            let _ = writeln!(o, "address6 = \"pd:{i}\"");
        }
        None => {}
    }
    if let Some(m) = n.mac {
        let _ = writeln!(o, "mac = {}", q(&m.to_string()));
    }
    if let Some(m) = n.mtu {
        let _ = writeln!(o, "mtu = {m}");
    }
    if let Some(stp) = n.stp {
        let _ = writeln!(o, "stp = {stp}");
    }
    let _ = writeln!(o, "ports = {}", list(&n.ports));
    if n.port_isolation {
        o.push_str("port_isolation = true\n");
    }
    if let Some(e) = &n.egress {
        let _ = writeln!(o, "egress = {}", q(e));
    }
    if n.adopt {
        o.push_str("adopt = true\n");
    }
    if n.serve_lan {
        o.push_str("serve_lan = true\n");
    }
    if n.libvirt {
        o.push_str("libvirt = true\n");
    }
    for r in &n.routes {
        o.push_str("\n[[network.route]]\n");
        let _ = writeln!(o, "to = {}", q(&r.to.to_string()));
        let _ = writeln!(o, "via = {}", q(&r.via.to_string()));
        if let Some(m) = r.metric {
            let _ = writeln!(o, "metric = {m}");
        }
    }
    if let Some(nat) = &n.nat {
        if *nat != Nat::default() {
            o.push_str("\n[network.nat]\n");
            let _ = writeln!(
                o,
                "ports = {}",
                q(&format!("{}-{}", nat.ports.start, nat.ports.end))
            );
            if let Some(a) = nat.address {
                let _ = writeln!(o, "address = {}", q(&a.to_string()));
            }
            if nat.ipv6 {
                o.push_str("ipv6 = true\n");
            }
        }
    }
    for f in &n.forwards {
        o.push_str("\n[[network.forward]]\n");
        let _ = writeln!(o, "protocol = {}", q(f.protocol.name()));
        if f.ports.start == f.ports.end {
            let _ = writeln!(o, "port = {}", f.ports.start);
        } else {
            let _ = writeln!(o, "port = {}", q(&f.ports.to_string()));
        }
        let _ = writeln!(o, "to = {}", q(&f.to.to_string()));
        if f.to_port != f.ports.start {
            let _ = writeln!(o, "to_port = {}", f.to_port);
        }
        if !f.from.is_empty() {
            let _ = writeln!(o, "from = {}", list(&f.from));
        }
    }
    if let Some(d) = &n.dhcp {
        dhcp(o, d);
    }
    if let Some(d) = &n.dhcp6 {
        dhcp6(o, d);
    }
    if let Some(d) = &n.dns {
        dns(o, d);
    }
    if let Some(s) = &n.span {
        span(o, s);
    }
    if n.port_security != PortSecurity::default_for(n.kind) {
        port_security(o, &n.port_security);
    }
}

fn port_security(o: &mut String, p: &PortSecurity) {
    o.push_str("\n[network.port_security]\n");
    let _ = writeln!(o, "enabled = {}", p.enabled);
    if !p.enabled {
        return;
    }
    let _ = writeln!(o, "trusted = {}", list(&p.trusted));
    let _ = writeln!(o, "leases_per_port = {}", p.leases_per_port);
    for (mac, ip) in &p.allow {
        o.push_str("\n[[network.port_security.allow]]\n");
        let _ = writeln!(o, "mac = {}", q(&mac.to_string()));
        let _ = writeln!(o, "ip = {}", q(&ip.to_string()));
    }
}

fn dhcp6(o: &mut String, d: &Dhcp6) {
    o.push_str("\n[network.dhcp6]\n");
    let _ = writeln!(o, "ranges = {}", list(&d.ranges));
    let _ = writeln!(o, "lease_time = {}", q(&lease_time(d.lease_time)));
    for h in &d.hosts {
        o.push_str("\n[[network.dhcp6.host]]\n");
        match &h.client {
            Dhcp6Client::Duid(b) => {
                let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
                let _ = writeln!(o, "duid = {}", q(&hex.join(":")));
            }
            Dhcp6Client::Mac(m) => {
                let _ = writeln!(o, "mac = {}", q(&m.to_string()));
            }
        }
        let _ = writeln!(o, "ip = {}", q(&h.ip.to_string()));
        if let Some(name) = &h.name {
            let _ = writeln!(o, "name = {}", q(name));
        }
    }
}

fn dhcp(o: &mut String, d: &Dhcp) {
    o.push_str("\n[network.dhcp]\n");
    let _ = writeln!(o, "ranges = {}", list(&d.ranges));
    let _ = writeln!(o, "lease_time = {}", q(&lease_time(d.lease_time)));
    let _ = writeln!(o, "router = {}", d.router);
    if let Some(dom) = &d.domain {
        let _ = writeln!(o, "domain = {}", q(dom));
    }
    if !d.dns_servers.is_empty() {
        let _ = writeln!(o, "dns_servers = {}", list(&d.dns_servers));
    }
    if let Some(m) = d.mtu {
        let _ = writeln!(o, "mtu = {m}");
    }
    let _ = writeln!(o, "classless_routes = {}", d.classless_routes);
    if let Some(p) = &d.pxe {
        o.push_str("\n[network.dhcp.pxe]\n");
        let _ = writeln!(o, "file = {}", q(&p.file));
        if let Some(s) = p.server {
            let _ = writeln!(o, "server = {}", q(&s.to_string()));
        }
    }
    for x in &d.options {
        o.push_str("\n[[network.dhcp.option]]\n");
        match super::dhcp_option::name_of(x.code) {
            Some(name) => {
                let _ = writeln!(o, "name = {}", q(name));
            }
            None => {
                let _ = writeln!(o, "code = {}", x.code);
            }
        }
        let _ = writeln!(o, "value = {}", q(&x.value));
        if x.force {
            o.push_str("force = true\n");
        }
    }
    for h in &d.hosts {
        o.push_str("\n[[network.dhcp.host]]\n");
        let _ = writeln!(o, "mac = {}", q(&h.mac.to_string()));
        let _ = writeln!(o, "ip = {}", q(&h.ip.to_string()));
        if let Some(name) = &h.name {
            let _ = writeln!(o, "name = {}", q(name));
        }
    }
}

fn dns(o: &mut String, d: &Dns) {
    o.push_str("\n[network.dns]\n");
    let _ = writeln!(o, "enabled = {}", d.enabled);
    if let Some(dom) = &d.domain {
        let _ = writeln!(o, "domain = {}", q(dom));
    }
    if d.local_only {
        o.push_str("local_only = true\n");
    }
    if !d.forward_plain_names {
        o.push_str("forward_plain_names = false\n");
    }
    if d.local_ptr {
        o.push_str("local_ptr = true\n");
    }
    if let Some(h) = d.etc_hosts {
        let _ = writeln!(o, "etc_hosts = {h}");
    }
    for f in &d.forwarders {
        o.push_str("\n[[network.dns.forwarder]]\n");
        if let Some(dom) = &f.domain {
            let _ = writeln!(o, "domain = {}", q(dom));
        }
        if let Some(a) = f.addr {
            let _ = writeln!(o, "addr = {}", q(&a.to_string()));
        }
    }
    for h in &d.hosts {
        o.push_str("\n[[network.dns.host]]\n");
        let _ = writeln!(o, "ip = {}", q(&h.ip.to_string()));
        let _ = writeln!(o, "names = {}", list(&h.names));
    }
    for s in &d.srv {
        o.push_str("\n[[network.dns.srv]]\n");
        let _ = writeln!(o, "service = {}", q(&s.service));
        let _ = writeln!(o, "protocol = {}", q(&s.protocol));
        if let Some(dom) = &s.domain {
            let _ = writeln!(o, "domain = {}", q(dom));
        }
        if let Some(t) = &s.target {
            let _ = writeln!(o, "target = {}", q(t));
        }
        let _ = writeln!(o, "port = {}", s.port);
        let _ = writeln!(o, "priority = {}", s.priority);
        let _ = writeln!(o, "weight = {}", s.weight);
    }
    for t in &d.txt {
        o.push_str("\n[[network.dns.txt]]\n");
        let _ = writeln!(o, "name = {}", q(&t.name));
        let _ = writeln!(o, "value = {}", q(&t.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_times_in_whole_units() {
        assert_eq!(lease_time(LeaseTime::Seconds(3600)), "1h");
        assert_eq!(lease_time(LeaseTime::Seconds(5400)), "90m");
        assert_eq!(lease_time(LeaseTime::Seconds(125)), "125s");
        assert_eq!(lease_time(LeaseTime::Seconds(1_209_600)), "2w");
        assert_eq!(lease_time(LeaseTime::Infinite), "infinite");
    }
}
