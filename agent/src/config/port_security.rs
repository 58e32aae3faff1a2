//! `[network.port_security]`: what a guest's port may send. On by default
//! on every network netagent runs (nat, route, open, isolated): no guest
//! can be another's DHCP server or router, use another's MAC or address,
//! or take the whole pool. A `bridge` network (the host's LAN) keeps what
//! it had unless the config turns it on.

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::check::Checker;
use super::ifname::invalid_port_pattern;
use super::model::{Kind, PortSecurity};
use super::raw::{RawPortSecurity, S};
use super::units::MacAddr;

/// Leases one port may hold at once unless told.
pub const LEASES_PER_PORT: u32 = 4;

impl PortSecurity {
    /// What a network of `kind` gets when its config says nothing.
    pub fn default_for(kind: Kind) -> PortSecurity {
        PortSecurity {
            enabled: kind != Kind::Bridge,
            trusted: Vec::new(),
            leases_per_port: LEASES_PER_PORT,
            allow: Vec::new(),
        }
    }
}

impl Checker<'_, '_> {
    /// A network's port security, from its table (or the default).
    pub(super) fn port_security(
        &mut self,
        raw: Option<&S<RawPortSecurity>>,
        field: &str,
        kind: Kind,
        subnets: (Option<Ipv4Net>, Option<Ipv6Net>),
    ) -> PortSecurity {
        let mut ps = PortSecurity::default_for(kind);
        let Some(raw) = raw else { return ps };
        let r = raw.get_ref();
        let f = |k: &str| format!("{field}.{k}");
        if let Some(v) = &r.enabled {
            ps.enabled = *v.get_ref();
        }
        for (i, p) in r.trusted.iter().enumerate() {
            match invalid_port_pattern(p.get_ref()) {
                Some(msg) => self.c.add(p.span(), f(&format!("trusted[{i}]")), msg),
                None => ps.trusted.push(p.get_ref().clone()),
            }
        }
        if let Some(v) = &r.leases_per_port {
            if let Some(n) = self.int(v, &f("leases_per_port"), 1, 65536) {
                ps.leases_per_port = n as u32;
            }
        }
        for (i, a) in r.allow.iter().enumerate() {
            let fi = f(&format!("allow[{i}]"));
            let (mac, ip) = (&a.get_ref().mac, &a.get_ref().ip);
            let mac = match mac {
                Some(v) => match v.get_ref().parse::<MacAddr>() {
                    Ok(m) => Some(m),
                    Err(e) => {
                        self.c.add(v.span(), format!("{fi}.mac"), e);
                        None
                    }
                },
                None => {
                    self.missing(a.span(), &fi, "mac = \"52:54:00:...\" (the guest's MAC)");
                    None
                }
            };
            let ip = match ip {
                Some(v) => match v.get_ref().parse::<IpAddr>() {
                    Ok(ip) if in_subnets(ip, subnets) => Some(ip),
                    Ok(ip) => {
                        self.c.add(
                            v.span(),
                            format!("{fi}.ip"),
                            format!("{ip} is not in this network's subnets: a guest's static address is one of the network's"),
                        );
                        None
                    }
                    Err(_) => {
                        self.c.add(
                            v.span(),
                            format!("{fi}.ip"),
                            format!("`{}` is not an IP address", v.get_ref()),
                        );
                        None
                    }
                },
                None => {
                    self.missing(a.span(), &fi, "ip = \"...\" (the address the guest set itself)");
                    None
                }
            };
            if let (Some(mac), Some(ip)) = (mac, ip) {
                ps.allow.push((mac, ip));
            }
        }
        if !ps.enabled && (!r.trusted.is_empty() || r.leases_per_port.is_some() || !r.allow.is_empty()) {
            self.c.add(
                raw.span(),
                field,
                "enabled = false turns port security off: trusted, leases_per_port and allow then mean nothing; remove them, or turn it on",
            );
        }
        ps
    }
}

fn in_subnets(ip: IpAddr, (v4, v6): (Option<Ipv4Net>, Option<Ipv6Net>)) -> bool {
    match ip {
        IpAddr::V4(a) => v4.is_some_and(|n| n.contains(&a) && a != n.addr()),
        IpAddr::V6(a) => v6.is_some_and(|n| n.contains(&a) && a != n.addr()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, Kind, PortSecurity};

    fn net(body: &str) -> Result<crate::config::Config, String> {
        parse(
            &format!(
                "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br7\"\naddress = \"10.0.0.1/24\"\naddress6 = \"fd00::1/64\"\n{body}"
            ),
            "t.toml",
        )
        .map_err(|p| p.to_string())
    }

    #[test]
    fn on_by_default_with_four_leases_a_port_and_off_on_the_hosts_lan() {
        let c = net("").unwrap();
        assert_eq!(
            c.networks[0].port_security,
            PortSecurity::default_for(Kind::Isolated)
        );
        assert!(c.networks[0].port_security.enabled);
        assert_eq!(c.networks[0].port_security.leases_per_port, 4);
        assert!(!PortSecurity::default_for(Kind::Bridge).enabled);
    }

    #[test]
    fn trusted_ports_lease_caps_and_static_guests_are_read() {
        let c = net(
            "[network.port_security]\ntrusted = [\"router-*\"]\nleases_per_port = 8\n\
             [[network.port_security.allow]]\nmac = \"52:54:00:00:00:07\"\nip = \"10.0.0.7\"\n\
             [[network.port_security.allow]]\nmac = \"52:54:00:00:00:07\"\nip = \"fd00::7\"\n",
        )
        .unwrap();
        let ps = &c.networks[0].port_security;
        assert_eq!(ps.trusted, ["router-*"]);
        assert_eq!(ps.leases_per_port, 8);
        assert_eq!(ps.allow.len(), 2);
    }

    #[test]
    fn each_mistake_is_named_where_it_is() {
        for (body, field, says) in [
            (
                "[network.port_security]\nleases_per_port = 0\n",
                "port_security.leases_per_port",
                "out of range",
            ),
            (
                "[network.port_security]\ntrusted = [\"a b\"]\n",
                "port_security.trusted[0]",
                "",
            ),
            (
                "[[network.port_security.allow]]\nmac = \"52:54:00:00:00:07\"\nip = \"10.9.0.7\"\n",
                "port_security.allow[0].ip",
                "not in this network's subnets",
            ),
            (
                "[[network.port_security.allow]]\nip = \"10.0.0.7\"\n",
                "port_security.allow[0]",
                "missing: mac",
            ),
            (
                "[network.port_security]\nenabled = false\ntrusted = [\"x\"]\n",
                "port_security",
                "turns port security off",
            ),
            (
                "[network.port_security]\nguard = true\n",
                "port_security.guard",
                "",
            ),
        ] {
            let e = net(body).expect_err(body);
            assert!(
                e.contains(&format!("network \"n\" {field}")) || e.contains(field),
                "{body}: {e}"
            );
            assert!(e.contains(says), "{body}: {e}");
            assert!(e.contains("t.toml:"), "{e}");
        }
    }
}
