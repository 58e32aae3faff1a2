//! Which of libvirt's networks `adopt-libvirt` takes over, and what libvirt
//! keeps of each (pure). An adopted network stays defined in libvirt under
//! its name and UUID, as a host-bridge network (`<forward mode='bridge'/>`)
//! on the same bridge: libvirt makes nothing for such a network, and plugs
//! the taps of the domains that name it into the bridge netagent keeps.
//! Every domain's XML stays as it is.

use roxmltree::{Document, Node};

use crate::config::Network;
use crate::libvirt::network;
use crate::libvirt::xml::{child, children};

/// One of libvirt's networks, as `virsh` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// `virsh net-dumpxml --inactive`: the definition, not the running state.
    pub xml: String,
    pub active: bool,
    pub autostart: bool,
    pub persistent: bool,
}

/// What becomes of one network.
#[derive(Debug)]
pub enum Verdict {
    Adopt(Box<Adoption>),
    /// Not netagent's kind of network: libvirt keeps running it.
    Leave(String),
    /// It could be adopted only by losing something: refused unless forced.
    Refuse(String),
}

/// A network to take over.
#[derive(Debug, Clone)]
pub struct Adoption {
    pub name: String,
    pub uuid: String,
    pub bridge: String,
    /// The network as netagent serves it (`libvirt = true`).
    pub network: Network,
    /// The host-bridge definition libvirt keeps in its place.
    pub host_bridge_xml: String,
    pub active: bool,
    pub autostart: bool,
    /// What libvirt had that netagent does not do (from the importer).
    pub warnings: Vec<String>,
    /// What `--force` dropped from libvirt's definition.
    pub dropped: Vec<String>,
}

/// Judge one network: adopt it, leave it to libvirt, or refuse.
pub fn judge(f: &Found, force: bool) -> Verdict {
    let doc = match Document::parse(&f.xml) {
        Ok(d) => d,
        Err(e) => return Verdict::Refuse(format!("network \"{}\": its XML does not parse: {e}", f.name)),
    };
    let root = doc.root_element();
    let mode = child(root, "forward").map(|fw| fw.attribute("mode").unwrap_or("nat"));
    match mode {
        None | Some("nat" | "route" | "open") => {}
        Some("bridge") if child(root, "bridge").is_some() => {
            return Verdict::Leave(format!(
                "network \"{}\" is a host-bridge network: libvirt makes nothing for it (already adopted, or a bridge of the host's own)",
                f.name
            ))
        }
        Some(m) => {
            return Verdict::Leave(format!(
                "network \"{}\" (forward mode '{m}') connects guests to host NICs directly, without a bridge netagent could serve",
                f.name
            ))
        }
    }
    if !f.persistent {
        return Verdict::Leave(format!(
            "network \"{}\" is transient: libvirt forgets it once stopped; make it persistent first (virsh net-dumpxml {} > x.xml; virsh net-define x.xml)",
            f.name, f.name
        ));
    }
    let Some(uuid) = child(root, "uuid")
        .and_then(|u| u.text())
        .map(|u| u.trim().to_string())
    else {
        return Verdict::Refuse(format!("network \"{}\" has no <uuid>", f.name));
    };
    let Some(bridge) = child(root, "bridge").and_then(|b| b.attribute("name")) else {
        return Verdict::Refuse(format!(
            "network \"{}\" names no bridge (<bridge name=...>): start it once so libvirt picks one",
            f.name
        ));
    };

    // What a host-bridge network cannot keep: QoS on the bridge libvirt
    // made, and guaranteed minimums (floor) shared out by its network.
    let mut losses = Vec::new();
    if child(root, "bandwidth").is_some() {
        losses.push("its <bandwidth> (QoS on the bridge libvirt made)".to_string());
    }
    for pg in children(root, "portgroup") {
        if has_floor(pg) {
            losses.push(format!(
                "the floor of portgroup '{}' (a guaranteed minimum libvirt shares out only on networks it runs)",
                pg.attribute("name").unwrap_or("?")
            ));
        }
    }
    if !losses.is_empty() && !force {
        return Verdict::Refuse(format!(
            "network \"{}\" cannot be kept as it is: a host-bridge network has no {}; nothing was changed (--force adopts it without them)",
            f.name,
            losses.join(", nor ")
        ));
    }

    let imported = match network::import(&f.xml) {
        Ok(i) => i,
        Err(e) => return Verdict::Refuse(e),
    };
    let mut net = imported.network;
    net.libvirt = true;
    // libvirt plugs its domains' taps in itself.
    net.adopt = false;
    net.ports = Vec::new();
    // libvirt's `stp='on' delay='0'` means no delay, but the kernel holds a
    // port 2 + 2 s with STP on whatever the delay: every guest would lose
    // 4 s at the takeover and every new domain its first 4 s. A bridge of
    // taps cannot close a loop; netagent's own choice (on where NICs or
    // other ports could) applies, and `stp = true` in the config keeps it.
    let mut notes = Vec::new();
    if net.stp == Some(true) {
        notes.push(format!(
            "network \"{}\": STP was on; netagent turns it on only where ports can close a loop (its taps cannot), so no guest waits 4 s for its port: set stp = true to keep it",
            f.name
        ));
        net.stp = None;
    }
    // libvirt keeps the portgroups (and port isolation): not lost.
    let warnings = imported
        .warnings
        .into_iter()
        .filter(|w| !w.contains("<portgroup>"))
        .chain(notes)
        .collect();
    Verdict::Adopt(Box::new(Adoption {
        name: f.name.clone(),
        uuid: uuid.clone(),
        bridge: bridge.to_string(),
        host_bridge_xml: host_bridge_xml(&f.xml, root, &f.name, &uuid, bridge),
        network: net,
        active: f.active,
        autostart: f.autostart,
        warnings,
        dropped: losses,
    }))
}

fn has_floor(pg: Node<'_, '_>) -> bool {
    pg.descendants().any(|n| {
        n.is_element()
            && matches!(n.tag_name().name(), "inbound" | "outbound")
            && n.attribute("floor").is_some()
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The definition libvirt keeps: name, UUID, a host-bridge forward on the
/// same bridge, port isolation, and the portgroups (their text as it was,
/// less any `<bandwidth>` holding a floor, which only `--force` lets by).
fn host_bridge_xml(src: &str, root: Node<'_, '_>, name: &str, uuid: &str, bridge: &str) -> String {
    let mut x = format!(
        "<network>\n  <name>{}</name>\n  <uuid>{}</uuid>\n  <forward mode='bridge'/>\n  <bridge name='{}'/>\n",
        escape(name),
        escape(uuid),
        escape(bridge)
    );
    if let Some(p) = child(root, "port") {
        x.push_str("  ");
        x.push_str(&src[p.range()]);
        x.push('\n');
    }
    for pg in children(root, "portgroup") {
        let mut text = src[pg.range()].to_string();
        if let Some(b) = child(pg, "bandwidth").filter(|b| has_floor(*b)) {
            let r = b.range();
            let start = r.start - pg.range().start;
            text.replace_range(start..start + r.len(), "");
        }
        x.push_str("  ");
        x.push_str(&text);
        x.push('\n');
    }
    x.push_str("</network>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(xml: &str) -> Found {
        Found {
            name: "default".into(),
            xml: xml.into(),
            active: true,
            autostart: true,
            persistent: true,
        }
    }

    const NAT: &str = "<network>\n  <name>default</name>\n  <uuid>7a3c1f52-1b5e-4a4e-9d0c-2f8e6b1c0a11</uuid>\n  <forward mode='nat'/>\n  <bridge name='virbr0' stp='on' delay='0'/>\n  <mac address='52:54:00:aa:bb:01'/>\n  <domain name='lab'/>\n  <ip address='192.168.122.1' netmask='255.255.255.0'>\n    <dhcp>\n      <range start='192.168.122.2' end='192.168.122.254'/>\n    </dhcp>\n  </ip>\n</network>\n";

    fn adopted(v: Verdict) -> Adoption {
        match v {
            Verdict::Adopt(a) => *a,
            other => panic!("not adopted: {other:?}"),
        }
    }

    #[test]
    fn a_nat_network_is_adopted_and_libvirt_keeps_a_host_bridge_of_its_name() {
        let a = adopted(judge(&found(NAT), false));
        assert_eq!(a.bridge, "virbr0");
        assert_eq!(a.uuid, "7a3c1f52-1b5e-4a4e-9d0c-2f8e6b1c0a11");
        assert_eq!(
            a.host_bridge_xml,
            "<network>\n  <name>default</name>\n  <uuid>7a3c1f52-1b5e-4a4e-9d0c-2f8e6b1c0a11</uuid>\n  <forward mode='bridge'/>\n  <bridge name='virbr0'/>\n</network>\n"
        );
        // netagent serves it as libvirt did: same bridge, MAC, subnet, DHCP.
        let n = &a.network;
        assert!(n.libvirt && !n.adopt && n.ports.is_empty());
        assert_eq!(n.bridge, "virbr0");
        assert_eq!(n.mac.map(|m| m.to_string()).as_deref(), Some("52:54:00:aa:bb:01"));
        assert_eq!(
            n.address.map(|a| a.to_string()).as_deref(),
            Some("192.168.122.1/24")
        );
        assert!(n.dhcp.is_some());
        assert!(a.dropped.is_empty());
    }

    #[test]
    fn host_bridges_macvtap_and_transient_networks_are_left_to_libvirt() {
        let host =
            "<network><name>br</name><uuid>u</uuid><forward mode='bridge'/><bridge name='br0'/></network>";
        assert!(matches!(judge(&found(host), false), Verdict::Leave(w) if w.contains("host-bridge")));
        let macvtap =
            "<network><name>d</name><forward mode='bridge'><interface dev='eth0'/></forward></network>";
        assert!(matches!(judge(&found(macvtap), false), Verdict::Leave(w) if w.contains("directly")));
        let hostdev = "<network><name>d</name><forward mode='hostdev'/></network>";
        assert!(matches!(judge(&found(hostdev), false), Verdict::Leave(_)));
        let mut t = found(NAT);
        t.persistent = false;
        assert!(matches!(judge(&t, false), Verdict::Leave(w) if w.contains("transient")));
    }

    #[test]
    fn bandwidth_and_floors_are_refused_unless_forced_and_portgroups_are_kept() {
        let qos = NAT.replace(
            "</network>",
            "  <bandwidth><inbound average='1000'/></bandwidth>\n  <port isolated='yes'/>\n  <portgroup name='web' default='yes'>\n    <bandwidth><inbound average='500' floor='100'/></bandwidth>\n  </portgroup>\n  <portgroup name='db'>\n    <bandwidth><inbound average='200'/></bandwidth>\n  </portgroup>\n</network>",
        );
        match judge(&found(&qos), false) {
            Verdict::Refuse(why) => {
                assert!(why.contains("<bandwidth>"), "{why}");
                assert!(why.contains("portgroup 'web'"), "{why}");
                assert!(why.contains("--force"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let a = adopted(judge(&found(&qos), true));
        assert_eq!(a.dropped.len(), 2);
        let x = &a.host_bridge_xml;
        assert!(x.contains("<port isolated='yes'/>"), "{x}");
        assert!(x.contains("<portgroup name='web' default='yes'>"), "{x}");
        assert!(!x.contains("floor"), "{x}");
        assert!(x.contains("<inbound average='200'/>"), "{x}");
        assert!(!x.contains("average='1000'"), "{x}");
        // libvirt's own parser takes it.
        assert!(Document::parse(x).is_ok());
        assert!(
            !a.warnings.iter().any(|w| w.contains("portgroup")),
            "{:?}",
            a.warnings
        );
    }

    #[test]
    fn names_are_escaped_in_the_definition() {
        let odd = NAT.replace("<name>default</name>", "<name>a&amp;b</name>");
        let mut f = found(&odd);
        f.name = "a&b".into();
        let a = adopted(judge(&f, false));
        assert!(a.host_bridge_xml.contains("<name>a&amp;b</name>"));
    }
}
