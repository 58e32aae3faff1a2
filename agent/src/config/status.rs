//! `[status]`, checked against the networks and the uplink: the page never
//! listens on an address this host does not have, and never without a
//! password where anything but the host itself can reach it.

use std::net::{IpAddr, SocketAddr};

use super::check::Checker;
use super::model::{Addressing, Network, Status, Uplink};
use super::raw::{RawStatus, S};

/// A password shorter than this is refused: the page shows every guest.
const PASSWORD_MIN: usize = 12;

impl Checker<'_, '_> {
    pub(super) fn status(
        &mut self,
        raw: &S<RawStatus>,
        uplink: Option<&Uplink>,
        nets: &[&Network],
    ) -> Option<Status> {
        let r = raw.get_ref();
        if r.listen.is_empty() {
            self.missing(
                raw.span(),
                "status.listen",
                "listen = [\"127.0.0.1:9189\"] (loopback; or a network's address, like \"192.168.122.1:9189\", with a password)",
            );
            return None;
        }
        let password = match &r.password {
            Some(p) if p.get_ref().chars().count() < PASSWORD_MIN => {
                self.c.add(
                    p.span(),
                    "status.password",
                    format!("too short: use at least {PASSWORD_MIN} characters (the page shows every guest)"),
                );
                return None;
            }
            Some(p) => Some(p.get_ref().clone()),
            None => None,
        };
        let uplink_ip = uplink.and_then(|u| match u.addressing {
            Addressing::Static { address, .. } => Some(IpAddr::V4(address.addr())),
            _ => None,
        });
        let mut listen = Vec::new();
        let mut ok = true;
        for (i, v) in r.listen.iter().enumerate() {
            let field = format!("status.listen[{i}]");
            let Some(a) = self.parse::<SocketAddr>(
                v,
                &field,
                "an address and port (like 127.0.0.1:9189 or [::1]:9189)",
            ) else {
                ok = false;
                continue;
            };
            let ip = a.ip();
            let of_a_network = nets.iter().any(|n| {
                n.address.is_some_and(|x| IpAddr::V4(x.addr()) == ip)
                    || n.address6.is_some_and(|x| IpAddr::V6(x.addr()) == ip)
            });
            let known = ip.is_loopback() || ip.is_unspecified() || of_a_network || uplink_ip == Some(ip);
            let problem = if a.port() == 0 {
                Some("port 0: name the port to listen on (like 9189)".to_string())
            } else if !known {
                Some(format!(
                    "{ip} is no address of this host's networks: use 127.0.0.1, a network's address or the uplink's"
                ))
            } else if !ip.is_loopback() && password.is_none() {
                Some(format!(
                    "{a} can be reached from {}: set password = \"...\" in [status], or listen on 127.0.0.1",
                    if of_a_network {
                        "the network's guests"
                    } else {
                        "the uplink's side"
                    }
                ))
            } else if listen.contains(&a) {
                Some(format!("{a} is listed twice"))
            } else {
                None
            };
            match problem {
                Some(p) => {
                    self.c.add(v.span(), field, p);
                    ok = false;
                }
                None => listen.push(a),
            }
        }
        ok.then_some(Status { listen, password })
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    const NET: &str = "[[network]]\nname = \"default\"\nkind = \"isolated\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\n";

    fn problems(status: &str) -> String {
        match parse(&format!("{NET}\n[status]\n{status}"), "t.toml") {
            Ok(_) => String::new(),
            Err(p) => p.to_string(),
        }
    }

    #[test]
    fn loopback_needs_no_password_and_anything_else_does() {
        let c = parse(
            &format!("{NET}\n[status]\nlisten = [\"127.0.0.1:9189\"]\n"),
            "t.toml",
        )
        .expect("valid");
        let s = c.status.expect("status");
        assert_eq!(s.listen, vec!["127.0.0.1:9189".parse().unwrap()]);
        let p = problems("listen = [\"192.168.122.1:9189\"]\n");
        assert!(p.contains("t.toml:8:11") && p.contains("password"), "{p}");
        let p = problems("listen = [\"0.0.0.0:9189\"]\n");
        assert!(p.contains("uplink's side"), "{p}");
        assert_eq!(
            problems("listen = [\"192.168.122.1:9189\"]\npassword = \"correct horse battery\"\n"),
            ""
        );
    }

    #[test]
    fn an_address_nothing_here_has_a_short_password_and_no_listen_are_refused() {
        let p = problems("listen = [\"10.9.9.9:9189\"]\npassword = \"correct horse battery\"\n");
        assert!(p.contains("no address of this host's networks"), "{p}");
        assert!(problems("listen = [\"127.0.0.1:9189\"]\npassword = \"short\"\n").contains("too short"));
        assert!(problems("password = \"correct horse battery\"\n").contains("status.listen"));
        assert!(problems("listen = [\"127.0.0.1\"]\n").contains("address and port"));
        assert!(problems("listen = [\"127.0.0.1:0\"]\n").contains("port 0"));
        assert!(problems("listn = [\"127.0.0.1:9189\"]\n").contains("listn"));
    }
}
