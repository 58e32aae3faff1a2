//! libvirt's network hook: libvirt runs every program in
//! `/etc/libvirt/hooks/network.d/` as `PROG NETWORK OPERATION begin -` with
//! the network's and, for a port, the port's XML on stdin. Before a
//! domain's tap is made it says `port-created` with the owner's name and
//! the MAC; when the port goes, `port-deleted`. `adopt-libvirt` installs a
//! small script there that hands both to `netagent libvirt-hook`, so a
//! guest is named after its domain even when it sends no hostname.
//!
//! The hook must never fail and never wait long: libvirt refuses to plug a
//! port whose `port-created` hook fails, and the guest's start waits for it.

use roxmltree::Document;
use serde::{Deserialize, Serialize};

use super::xml::child;
use crate::config::MacAddr;

/// A domain's port on a network: made (`created`) or gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortEvent {
    /// libvirt's name of the network.
    pub network: String,
    /// The bridge the port is plugged into.
    pub bridge: String,
    pub mac: MacAddr,
    /// The domain's name.
    pub owner: String,
    pub created: bool,
}

/// The file name of netagent's hook in libvirt's hook directory.
pub const HOOK_NAME: &str = "50-netagent";
/// libvirt's directory of network hooks (read when libvirt's daemon starts
/// or reloads).
pub const HOOK_DIR: &str = "/etc/libvirt/hooks/network.d";

/// What a hook call with `args` (after the program's name) and `stdin`
/// means for netagent: a port made or gone, or nothing (another operation,
/// or a port of another kind).
pub fn parse(args: &[String], stdin: &str) -> Option<PortEvent> {
    let created = match args.get(1).map(String::as_str) {
        Some("port-created") => true,
        Some("port-deleted") => false,
        _ => return None,
    };
    let doc = Document::parse(stdin).ok()?;
    let port = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "networkport")?;
    let owner = child(port, "owner")
        .and_then(|o| child(o, "name"))?
        .text()?
        .trim()
        .to_string();
    let mac = child(port, "mac")?.attribute("address")?.parse().ok()?;
    let plug = child(port, "plug")?;
    if !matches!(plug.attribute("type"), Some("bridge" | "network")) {
        return None;
    }
    let bridge = plug.attribute("bridge")?.to_string();
    let network = args.first().cloned().unwrap_or_default();
    Some(PortEvent {
        network,
        bridge,
        mac,
        owner,
        created,
    })
}

/// The hook script: it runs `netagent` (at `exe`) and always succeeds.
/// stdin is drained even when netagent is gone (uninstalled), since
/// libvirt fails the hook if it cannot write the port's XML.
pub fn script(exe: &str, state_dir: &str) -> String {
    // Single-quoted for sh: a quote inside is closed, escaped and reopened.
    let q = |s: &str| s.replace('\'', "'\\''");
    let (exe, state_dir) = (q(exe), q(state_dir));
    format!(
        "#!/bin/sh\n\
         # Installed by `netagent adopt-libvirt` (removed by --undo): tells\n\
         # netagent which domain owns each port of its networks, so guests are\n\
         # named after their domains. It never fails and never waits long: a\n\
         # domain's start must not depend on it.\n\
         if [ -x '{exe}' ]; then\n\
         \x20   '{exe}' libvirt-hook --state-dir '{state_dir}' \"$@\" >/dev/null 2>&1\n\
         else\n\
         \x20   cat >/dev/null\n\
         fi\n\
         exit 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What libvirt 9.0 wrote on the hook's stdin when a domain's port was
    /// made on a host-bridge network.
    const CREATED: &str = r#"<hookData>
  <network connections='1'>
    <name>default</name>
    <uuid>7a3c1f52-1b5e-4a4e-9d0c-2f8e6b1c0a11</uuid>
    <forward mode='bridge'/>
    <bridge name='lvbr0'/>
  </network>
  <networkport>
    <uuid>6dee4c45-2162-45be-be79-29b3dcd9069f</uuid>
    <owner>
      <name>vm2</name>
      <uuid>ae393cc3-4ea6-41a4-bd44-36d4fa293cc9</uuid>
    </owner>
    <mac address='52:54:00:10:00:02'/>
    <plug type='bridge' bridge='lvbr0'/>
  </networkport>
</hookData>"#;

    fn args(op: &str) -> Vec<String> {
        ["default", op, "begin", "-"].map(String::from).to_vec()
    }

    #[test]
    fn a_port_made_and_gone_names_its_domain_and_mac() {
        let e = parse(&args("port-created"), CREATED).unwrap();
        assert_eq!(e.network, "default");
        assert_eq!(e.bridge, "lvbr0");
        assert_eq!(e.owner, "vm2");
        assert_eq!(e.mac.to_string(), "52:54:00:10:00:02");
        assert!(e.created);
        assert!(!parse(&args("port-deleted"), CREATED).unwrap().created);
    }

    #[test]
    fn other_operations_and_other_ports_mean_nothing() {
        assert_eq!(parse(&args("started"), CREATED), None);
        assert_eq!(parse(&args("port-created"), "not xml"), None);
        assert_eq!(
            parse(
                &args("port-created"),
                &CREATED.replace("type='bridge'", "type='direct'")
            ),
            None
        );
        assert_eq!(
            parse(&args("port-created"), &CREATED.replace("52:54:00:10:00:02", "zz")),
            None
        );
        assert_eq!(parse(&[], CREATED), None);
    }

    #[test]
    fn the_script_always_succeeds_and_always_reads_its_input() {
        let s = script("/usr/local/sbin/netagent", "/run/netagent");
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("'/usr/local/sbin/netagent' libvirt-hook --state-dir '/run/netagent' \"$@\""));
        assert!(s.contains("cat >/dev/null"));
        assert!(s.trim_end().ends_with("exit 0"));
        let odd = script("/opt/it's/netagent", "/run/netagent");
        assert!(odd.contains("'/opt/it'\\''s/netagent'"), "{odd}");
    }
}
