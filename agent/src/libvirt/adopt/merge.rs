//! The config file that serves the adopted networks (pure). A host may run
//! netagent already: its uplink and its own networks stay, and the adopted
//! networks join them (replacing a network of the same name or bridge).
//! `--undo` takes them out again.

use super::judge::Adoption;
use crate::config::{self, Addressing, Config, Kind, Uplink, UplinkInterface};

/// The existing config (if any) with the adopted networks in it.
pub fn merge(existing: Option<Config>, adopted: &[Adoption]) -> Config {
    let mut cfg = existing.unwrap_or(Config {
        uplink: None,
        networks: Vec::new(),
        evpn: None,
        status: None,
    });
    cfg.networks.retain(|n| {
        !adopted
            .iter()
            .any(|a| a.network.name == n.name || a.bridge == n.bridge)
    });
    cfg.networks.extend(adopted.iter().map(|a| a.network.clone()));
    if cfg.uplink.is_none() && cfg.networks.iter().any(|n| n.kind != Kind::Isolated) {
        // As `import-libvirt` does: the host keeps configuring its own NIC
        // (the one libvirt forwarded out of, if it named one).
        let dev = cfg.networks.iter().find_map(|n| n.egress.clone());
        cfg.uplink = Some(Uplink {
            interface: dev.map(UplinkInterface::Named).unwrap_or(UplinkInterface::Auto),
            addressing: Addressing::Host,
            address6: None,
            gateway6: None,
            dns: Vec::new(),
            ntp: Vec::new(),
        });
    }
    cfg
}

/// The config without the networks `names`; None when none would be left.
pub fn without(mut cfg: Config, names: &[String]) -> Option<Config> {
    cfg.networks.retain(|n| !names.contains(&n.name));
    (!cfg.networks.is_empty()).then_some(cfg)
}

/// The file's text: `header` lines as comments, then the config, checked
/// as `netagent run` will check it.
pub fn text(cfg: &Config, header: &[String]) -> Result<String, String> {
    let mut t = String::new();
    for h in header {
        for line in h.lines() {
            t.push_str("# ");
            t.push_str(line);
            t.push('\n');
        }
    }
    if !header.is_empty() {
        t.push('\n');
    }
    t.push_str(&config::write::write(cfg));
    config::parse(&t, "the adopted config")
        .map_err(|p| format!("the adopted config does not pass the check:\n{p}"))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::adopt::judge::{judge, Found, Verdict};

    fn adoption(name: &str, bridge: &str, third: u8) -> Adoption {
        let xml = format!(
            "<network><name>{name}</name><uuid>00000000-0000-0000-0000-0000000000{third:02}</uuid><forward mode='nat'/><bridge name='{bridge}'/>\
             <ip address='192.168.{third}.1' netmask='255.255.255.0'><dhcp><range start='192.168.{third}.2' end='192.168.{third}.254'/></dhcp></ip></network>"
        );
        let f = Found {
            name: name.into(),
            xml,
            active: true,
            autostart: true,
            persistent: true,
        };
        match judge(&f, false) {
            Verdict::Adopt(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_host_without_netagent_gets_the_networks_and_a_host_mode_uplink() {
        let cfg = merge(None, &[adoption("default", "virbr0", 122)]);
        let u = cfg.uplink.as_ref().unwrap();
        assert_eq!(u.addressing, Addressing::Host);
        assert_eq!(u.interface, UplinkInterface::Auto);
        let t = text(&cfg, &["adopted from libvirt".into()]).unwrap();
        assert!(t.starts_with("# adopted from libvirt\n"), "{t}");
        assert!(t.contains("libvirt = true"), "{t}");
        assert!(!t.contains("adopt = true"), "{t}");
    }

    #[test]
    fn netagents_own_networks_and_uplink_stay_and_a_namesake_is_replaced() {
        let mine = config::parse(
            "[uplink]\ninterface = \"eth0\"\naddress = \"dhcp\"\n\
             [[network]]\nname = \"lab\"\nkind = \"isolated\"\nbridge = \"lab0\"\naddress = \"10.9.0.1/24\"\n\
             [[network]]\nname = \"old\"\nbridge = \"virbr0\"\naddress = \"10.8.0.1/24\"\n",
            "t.toml",
        )
        .unwrap();
        let cfg = merge(Some(mine), &[adoption("default", "virbr0", 122)]);
        let names: Vec<&str> = cfg.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["lab", "default"]);
        assert_eq!(cfg.uplink.as_ref().unwrap().addressing, Addressing::Dhcp);
        text(&cfg, &[]).unwrap();
        let back = without(cfg.clone(), &["default".into()]).unwrap();
        assert_eq!(back.networks.len(), 1);
        assert!(without(back, &["lab".into()]).is_none());
    }
}
