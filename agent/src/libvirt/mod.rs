//! `netagent import-libvirt FILE.xml...`: libvirt network definitions (as
//! `virsh net-dumpxml` prints them, or from /etc/libvirt/qemu/networks/)
//! become one netagent config. The output is checked before it is printed:
//! what comes out, `netagent run` accepts.

pub mod adopt;
pub mod hook;
mod network;
mod services;
pub mod status;
mod xml;

pub use network::Imported;

use std::collections::HashMap;

use crate::config::{self, Addressing, Config, Kind, Uplink, UplinkInterface};

/// The TOML text and the warnings, which are also at its top as comments.
#[derive(Debug)]
pub struct Output {
    pub toml: String,
    pub warnings: Vec<String>,
    /// The documents that could not be imported (a macvtap or hostdev
    /// network...), each with why: the others are in `toml`.
    pub refused: Vec<String>,
}

/// Import the documents (name, XML text); `name` labels errors. A document
/// that cannot be imported is named in `refused` and the rest go on; Err
/// only when none could be, or the rest do not fit together.
/// `attached` is what the kernel has on each bridge now (bridge -> ports),
/// empty unless the user asked to keep the taps where libvirt put them.
pub fn import(docs: &[(String, String)], attached: &HashMap<String, Vec<String>>) -> Result<Output, String> {
    let mut imported = Vec::new();
    let mut refused = Vec::new();
    for (file, xml) in docs {
        match network::import(xml) {
            Ok(i) => imported.push(i),
            Err(e) => refused.push(format!("{file}: {e}")),
        }
    }
    if imported.is_empty() {
        return Err(refused.join("\n"));
    }
    let mut warnings: Vec<String> = Vec::new();
    let mut nets: Vec<config::Network> = Vec::new();
    for i in &imported {
        if nets.iter().any(|n| n.name == i.network.name) {
            return Err(format!("two files define network \"{}\"", i.network.name));
        }
        warnings.extend(i.warnings.iter().cloned());
        nets.push(i.network.clone());
    }

    // Bridges libvirt would have named itself.
    for i in 0..nets.len() {
        if nets[i].bridge.is_empty() {
            let free = (0..)
                .map(|k| format!("virbr{k}"))
                .find(|b| !nets.iter().any(|n| &n.bridge == b))
                .unwrap_or_default();
            warnings.push(format!(
                "network \"{}\": no <bridge name=...>; bridge {free} chosen, as libvirt would",
                nets[i].name
            ));
            nets[i].bridge = free;
        }
    }

    // libvirt attaches a guest's tap by network name; netagent by interface
    // name. The first network takes libvirt's tap names (vnet*); another
    // network gets the taps on its bridge now, by name (a name beats a
    // pattern), and a guest started later needs its tap listed there.
    let first = nets
        .iter()
        .find(|n| n.name == "default")
        .or(nets.first())
        .map(|n| n.name.clone());
    if let Some(first) = first {
        for n in nets.iter_mut() {
            if n.name == first {
                n.ports = vec!["vnet*".into()];
                continue;
            }
            let mut now = attached.get(&n.bridge).cloned().unwrap_or_default();
            now.sort();
            let hint = format!(
                "libvirt's taps (vnet*) go to network \"{first}\"; list this network's guests' taps in ports (name them with <target dev='...'/> in the domain XML, e.g. ports = [\"{}-*\"])",
                n.name
            );
            if now.is_empty() {
                warnings.push(format!("network \"{}\": no ports; {hint}", n.name));
            } else {
                warnings.push(format!(
                    "network \"{}\": ports are the taps on {} now ({}); {hint}",
                    n.name,
                    n.bridge,
                    now.join(", ")
                ));
            }
            n.ports = now;
        }
    }

    // The host keeps configuring its own NIC; netagent only routes through it.
    let devs: Vec<&str> = imported.iter().filter_map(|i| i.forward_dev.as_deref()).collect();
    let interface = match devs.first() {
        Some(d) => {
            if devs.iter().any(|x| x != d) {
                warnings.push(format!(
                    "networks forward out of different devices ({}); netagent's uplink (its DHCP client, its default route) is {d}, and each network's traffic still leaves by its own device (egress)",
                    devs.join(", ")
                ));
            }
            UplinkInterface::Named(d.to_string())
        }
        None => UplinkInterface::Auto,
    };
    let needs_uplink = nets.iter().any(|n| n.kind != Kind::Isolated);
    let cfg = Config {
        uplink: needs_uplink.then_some(Uplink {
            interface,
            addressing: Addressing::Host,
            address6: None,
            gateway6: None,
            dns: Vec::new(),
            ntp: Vec::new(),
        }),
        networks: nets,
        evpn: None,
        status: None,
    };

    let mut toml = String::from("# Imported from libvirt by `netagent import-libvirt`.\n");
    toml.push_str("# The uplink is left to the host's own network tools (address = \"host\").\n");
    if !refused.is_empty() {
        toml.push_str("#\n# Networks NOT imported:\n");
        for r in &refused {
            toml.push_str(&format!("# - {r}\n"));
        }
    }
    if !warnings.is_empty() {
        toml.push_str("#\n# Not imported or changed (no netagent equivalent):\n");
        for w in &warnings {
            toml.push_str(&format!("# - {w}\n"));
        }
    }
    toml.push('\n');
    toml.push_str(&config::write::write(&cfg));
    // A bug of the importer's if it fails: the text is shown with its line
    // numbers, since it was never written anywhere.
    if let Err(p) = config::parse(&toml, "the imported config") {
        let numbered: String = toml
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:4} | {l}\n", i + 1))
            .collect();
        return Err(format!(
            "the imported config does not pass the check:\n{p}\n{numbered}"
        ));
    }
    Ok(Output {
        toml,
        warnings,
        refused,
    })
}
