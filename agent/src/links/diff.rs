//! What must change for the kernel to match the plan. Pure: a plan and a
//! snapshot in, a list of actions out; running it on its own result yields
//! nothing, which is what makes reconciling idempotent.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::observe::{Kernel, Link};
use super::refuse::{refusal, Refusal};
use super::vxlan::NewVxlan;
use crate::config::ifname::{glob_match, ALL_NICS};
use crate::config::{Kind, MacAddr, UplinkInterface};
use crate::plan::BridgePlan;

/// The route protocol number netagent marks its routes with, so it can tell
/// them from everyone else's without keeping state (like `proto static`).
pub(crate) const RTPROT_NETAGENT: u8 = 78;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    CreateBridge {
        name: String,
        mac: Option<MacAddr>,
        mtu: Option<u32>,
        stp: bool,
    },
    DeleteBridge {
        name: String,
    },
    SetMtu {
        link: String,
        mtu: u32,
    },
    SetMac {
        link: String,
        mac: MacAddr,
    },
    SetStp {
        link: String,
        stp: bool,
    },
    Up {
        link: String,
    },
    Enslave {
        port: String,
        bridge: String,
    },
    Isolate {
        port: String,
        on: bool,
    },
    AddAddr {
        link: String,
        net: IpNet,
    },
    DelAddr {
        link: String,
        net: IpNet,
    },
    AddRoute {
        to: Ipv4Net,
        via: Option<Ipv4Addr>,
        dev: String,
        metric: Option<u32>,
    },
    DelRoute {
        to: Ipv4Net,
        via: Option<Ipv4Addr>,
        dev: String,
        metric: Option<u32>,
    },
    /// A spanned network's VXLAN device.
    CreateVxlan(NewVxlan),
    /// A VXLAN device netagent made that the plan no longer has, or must
    /// make again with other settings (the kernel fixes them at creation).
    DeleteVxlan {
        name: String,
    },
    /// A VXLAN port's learning and neighbour suppression.
    PortFlags {
        port: String,
        learning: bool,
        neigh_suppress: bool,
    },
    /// A static peer in a VXLAN device's flood list.
    AddFlood {
        dev: String,
        dst: Ipv4Addr,
    },
    DelFlood {
        dev: String,
        dst: Ipv4Addr,
    },
    /// The uplink's IPv6 default route (`uplink.gateway6`).
    AddDefault6 {
        via: std::net::Ipv6Addr,
        dev: String,
    },
    DelDefault6 {
        via: Option<std::net::Ipv6Addr>,
        dev: String,
    },
}

/// The uplink as it must be: its name (resolved from `auto`) and, when
/// netagent addresses it, the address and gateway (static, or from DHCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UplinkState {
    pub name: String,
    /// False when the host's own tools own the uplink: hands off entirely.
    pub managed: bool,
    pub address: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// A static IPv6 address and default route (else SLAAC's, left alone).
    pub address6: Option<Ipv6Net>,
    pub gateway6: Option<std::net::Ipv6Addr>,
}

/// A route as the kernel reports it, with its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedRoute {
    pub to: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub dev: String,
    pub metric: Option<u32>,
}

/// The uplink the config names. `auto` is the NIC first in hardware
/// order (the lowest bus path) that is not loopback, a bridge or a guest
/// port: on a box with an on-board NIC and a card, or a VM with virtio and
/// e1000 NICs, the driver that loads first takes `eth0`, so ifindex order
/// changes from boot to boot and bus order does not. Devices backed by
/// hardware win over software links, so a veth or tap never becomes the
/// uplink when a real NIC exists.
pub(crate) fn resolve_uplink(
    want: &UplinkInterface,
    kernel: &Kernel,
    bridges: &[BridgePlan],
) -> Option<String> {
    match want {
        UplinkInterface::Named(n) => return Some(n.clone()),
        UplinkInterface::Mac(m) => {
            return kernel
                .links
                .iter()
                .filter(|l| l.mac == Some(*m) && !l.is_bridge())
                .min_by_key(|l| (!l.physical, l.index))
                .map(|l| l.name.clone());
        }
        UplinkInterface::Path(p) => {
            return kernel
                .links
                .iter()
                .filter(|l| l.bus.as_deref().is_some_and(|b| b.contains(p.as_str())))
                .min_by(|a, b| a.bus.cmp(&b.bus))
                .map(|l| l.name.clone());
        }
        UplinkInterface::Auto => {}
    }
    // Never a bridge's port (it carries no traffic of its own), nor one of
    // libvirt's guest taps (vnetN, macvtapN): on a host with no NIC left
    // for it, a guest's tap must not become the way out.
    let candidates = || {
        kernel.links.iter().filter(|l| {
            !l.loopback
                && !l.is_bridge()
                && l.controller.is_none()
                && !glob_match("vnet*", &l.name)
                && !glob_match("macvtap*", &l.name)
                && !bridges.iter().any(|b| b.name == l.name)
                && !bridges
                    .iter()
                    .flat_map(|b| &b.ports)
                    .any(|p| p != ALL_NICS && glob_match(p, &l.name))
        })
    };
    // Hardware order first (the bus path), then software links by index.
    candidates()
        .filter(|l| l.physical)
        .min_by(|a, b| (&a.bus, a.index).cmp(&(&b.bus, b.index)))
        .or_else(|| candidates().min_by_key(|l| l.index))
        .map(|l| l.name.clone())
}

/// Whether a network names `link` outright (not by a pattern).
#[cfg(test)]
fn names_it(bridges: &[BridgePlan], link: &str) -> bool {
    bridges.iter().any(|b| b.ports.iter().any(|p| p == link))
}

/// Which planned bridge `link` should be a port of, if any: the plain
/// statement of the rule, which `PortIndex` answers faster (a test holds
/// them equal).
#[cfg(test)]
pub(crate) fn bridge_for<'a>(
    link: &Link,
    bridges: &'a [BridgePlan],
    uplink: Option<&str>,
) -> Option<&'a BridgePlan> {
    if link.loopback || link.is_bridge() || Some(link.name.as_str()) == uplink {
        return None;
    }
    if bridges.iter().any(|b| b.name == link.name) {
        return None;
    }
    // A network that names the link outright wins over one whose pattern
    // (`vnet*`) happens to match it.
    bridges
        .iter()
        .find(|b| b.ports.iter().any(|p| p == &link.name))
        .or_else(|| {
            bridges.iter().find(|b| {
                b.ports.iter().any(|p| {
                    if p == ALL_NICS {
                        link.physical
                    } else {
                        glob_match(p, &link.name)
                    }
                })
            })
        })
}

/// `bridge_for` and `names_it` for every link of one pass, without
/// comparing each link with every network: at 1,000 networks of a few
/// links each that was millions of name compares and glob matches a pass.
/// Same answers: a network naming the link outright first (the first such
/// in config order), else the first whose pattern matches.
pub(crate) struct PortIndex<'a> {
    bridges: &'a [BridgePlan],
    names: std::collections::HashSet<&'a str>,
    /// Port name -> the first network naming it.
    exact: std::collections::HashMap<&'a str, usize>,
    /// Patterns by their literal head (what comes before `*` or `?`;
    /// `@nics` under ""), each with its network's place in the config.
    globs: std::collections::HashMap<&'a str, Vec<(usize, &'a str)>>,
}

impl<'a> PortIndex<'a> {
    pub(crate) fn new(bridges: &'a [BridgePlan]) -> PortIndex<'a> {
        let mut exact = std::collections::HashMap::new();
        let mut globs: std::collections::HashMap<&str, Vec<(usize, &str)>> = std::collections::HashMap::new();
        for (i, b) in bridges.iter().enumerate() {
            for p in &b.ports {
                if p == ALL_NICS {
                    globs.entry("").or_default().push((i, p));
                } else if crate::config::ifname::is_glob(p) {
                    let head = &p[..p.find(['*', '?']).unwrap_or(p.len())];
                    globs.entry(head).or_default().push((i, p));
                }
                exact.entry(p.as_str()).or_insert(i);
            }
        }
        PortIndex {
            bridges,
            names: bridges.iter().map(|b| b.name.as_str()).collect(),
            exact,
            globs,
        }
    }

    /// Whether a network names `link` outright.
    pub(crate) fn names_it(&self, link: &str) -> bool {
        self.exact.contains_key(link)
    }

    /// Which planned bridge `link` should be a port of, if any.
    pub(crate) fn bridge_for(&self, link: &Link, uplink: Option<&str>) -> Option<&'a BridgePlan> {
        if link.loopback || link.is_bridge() || Some(link.name.as_str()) == uplink {
            return None;
        }
        if self.names.contains(link.name.as_str()) {
            return None;
        }
        if let Some(&i) = self.exact.get(link.name.as_str()) {
            return self.bridges.get(i);
        }
        // Every head the name starts with, "" included.
        let name = link.name.as_str();
        (0..=name.len())
            .filter(|&k| name.is_char_boundary(k))
            .filter_map(|k| self.globs.get(&name[..k]))
            .flatten()
            .filter(|(_, p)| match *p {
                ALL_NICS => link.physical,
                p => glob_match(p, name),
            })
            .map(|&(i, _)| i)
            .min()
            .and_then(|i| self.bridges.get(i))
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Desired<'a> {
    pub bridges: &'a [BridgePlan],
    pub uplink: Option<&'a UplinkState>,
    /// Bridges netagent created earlier that the plan no longer has.
    pub stale_bridges: &'a [String],
    /// Bridges netagent created (the ownership record): others are left
    /// alone unless the config adopts them.
    pub owned: &'a std::collections::BTreeSet<String>,
    /// The config has an uplink that is not chosen yet.
    pub uplink_pending: bool,
}

impl Desired<'_> {
    /// Why each planned bridge netagent may not touch is left alone.
    pub(crate) fn refusals(&self, k: &Kernel) -> Vec<Refusal> {
        self.bridges
            .iter()
            .filter_map(|b| refusal(b, k, self.owned))
            .collect()
    }
}

pub(crate) fn diff(want: &Desired<'_>, k: &Kernel, owned_routes: &[OwnedRoute]) -> Vec<Action> {
    let mut out = Vec::new();
    let uplink_name = want.uplink.map(|u| u.name.as_str());
    // The planned bridges netagent may not touch, decided once per diff.
    let refused: std::collections::HashSet<&str> = want
        .bridges
        .iter()
        .filter(|b| refusal(b, k, want.owned).is_some())
        .map(|b| b.name.as_str())
        .collect();
    let usable = || want.bridges.iter().filter(|b| !refused.contains(b.name.as_str()));
    let ports = PortIndex::new(want.bridges);

    for name in want.stale_bridges {
        match k.link(name) {
            Some(l) if l.is_bridge() => out.push(Action::DeleteBridge { name: name.clone() }),
            Some(l) if l.is_vxlan() => out.push(Action::DeleteVxlan { name: name.clone() }),
            _ => {}
        }
    }
    spans(want, k, &mut out, &usable().collect::<Vec<_>>());

    for b in usable() {
        let Some(l) = k.link(&b.name) else {
            out.push(Action::CreateBridge {
                name: b.name.clone(),
                mac: b.mac,
                mtu: b.mtu,
                stp: b.stp,
            });
            continue;
        };
        if let Some(m) = b.mtu {
            if l.mtu != m {
                out.push(Action::SetMtu {
                    link: b.name.clone(),
                    mtu: m,
                });
            }
        }
        if let Some(m) = b.mac {
            if l.mac != Some(m) {
                out.push(Action::SetMac {
                    link: b.name.clone(),
                    mac: m,
                });
            }
        }
        if !b.keep_stp && l.stp.is_some_and(|s| s != b.stp) {
            out.push(Action::SetStp {
                link: b.name.clone(),
                stp: b.stp,
            });
        }
        if !l.up {
            out.push(Action::Up { link: b.name.clone() });
        }
        let have: Vec<Ipv4Net> = k.addrs_of(l.index).collect();
        if let Some(a) = b.address {
            if !have.contains(&a) {
                out.push(Action::AddAddr {
                    link: b.name.clone(),
                    net: a.into(),
                });
            }
        }
        // A guest bridge has exactly the planned address. A `bridge` network's
        // bridge may carry the uplink's address, which the uplink part handles.
        let manages_addrs = b.kind != Kind::Bridge || b.address.is_some();
        if manages_addrs && Some(b.name.as_str()) != uplink_name {
            for a in have.iter().filter(|a| Some(**a) != b.address) {
                out.push(Action::DelAddr {
                    link: b.name.clone(),
                    net: (*a).into(),
                });
            }
        }
        // IPv6 the same way; a host's bridge without a prefix in the plan
        // keeps the addresses its LAN's router gave it.
        let have6: Vec<Ipv6Net> = k.addrs6_of(l.index).collect();
        if let Some(a) = b.address6 {
            if !have6.contains(&a) {
                out.push(Action::AddAddr {
                    link: b.name.clone(),
                    net: a.into(),
                });
            }
        }
        let manages6 = b.kind != Kind::Bridge || b.address6.is_some();
        if manages6 && Some(b.name.as_str()) != uplink_name {
            for a in have6.iter().filter(|a| Some(**a) != b.address6) {
                out.push(Action::DelAddr {
                    link: b.name.clone(),
                    net: (*a).into(),
                });
            }
        }
    }

    // Ports: every link that matches a network's ports joins its bridge.
    for l in &k.links {
        // `@nics` waits for the uplink to be chosen: it must not take the
        // uplink-to-be as a port.
        if want.uplink_pending && l.physical && !ports.names_it(&l.name) {
            continue;
        }
        let Some(b) = ports.bridge_for(l, uplink_name) else {
            continue;
        };
        let Some(br) = k.link(&b.name).filter(|_| !refused.contains(b.name.as_str())) else {
            continue;
        };
        if l.controller != Some(br.index) {
            // Leave ports of other bridges alone unless they are ours.
            let current = l.controller.and_then(|c| k.by_index(c));
            let foreign = current.is_some_and(|c| !want.bridges.iter().any(|wb| wb.name == c.name));
            // A pattern (`vnet*`, `@nics`) claims links nobody placed; a tap
            // that libvirt or QEMU attached to another of our bridges stays
            // there. Naming the link outright moves it.
            let placed = current.is_some() && !b.ports.iter().any(|p| p == &l.name);
            if foreign || placed {
                continue;
            }
            // Enslaved now; brought up and isolated in the same pass (the
            // actions' stages put those after the enslaving).
            out.push(Action::Enslave {
                port: l.name.clone(),
                bridge: b.name.clone(),
            });
        }
        if !l.up {
            out.push(Action::Up { link: l.name.clone() });
        }
        if l.isolated.unwrap_or(false) != b.port_isolation {
            out.push(Action::Isolate {
                port: l.name.clone(),
                on: b.port_isolation,
            });
        }
        // A VXLAN port: learning and neighbour suppression as its span
        // says (the kernel's defaults, on and off, before it is a port).
        if let Some(s) = b.span.as_ref().filter(|s| s.device == l.name) {
            if l.learning.unwrap_or(true) != s.learning()
                || l.neigh_suppress.unwrap_or(false) != s.neigh_suppress()
            {
                out.push(Action::PortFlags {
                    port: l.name.clone(),
                    learning: s.learning(),
                    neigh_suppress: s.neigh_suppress(),
                });
            }
        }
    }

    // The uplink: up, and addressed when netagent addresses it.
    if let Some(u) = want.uplink {
        if let Some(l) = k.link(&u.name).filter(|_| u.managed) {
            if !l.up {
                out.push(Action::Up { link: u.name.clone() });
            }
            if let Some(a) = u.address {
                let have: Vec<Ipv4Net> = k.addrs_of(l.index).collect();
                if !have.contains(&a) {
                    out.push(Action::AddAddr {
                        link: u.name.clone(),
                        net: a.into(),
                    });
                }
                for old in have.iter().filter(|h| **h != a) {
                    out.push(Action::DelAddr {
                        link: u.name.clone(),
                        net: (*old).into(),
                    });
                }
            }
            // A static IPv6 address joins what SLAAC may also have given.
            if let Some(a) = u.address6 {
                if !k.addrs6_of(l.index).any(|h| h == a) {
                    out.push(Action::AddAddr {
                        link: u.name.clone(),
                        net: a.into(),
                    });
                }
            }
            // The IPv6 default route: ours is the planned one, any other
            // of ours goes (an advertised one is the kernel's, left alone).
            let ours = |r: &&super::observe::Route6| r.proto == RTPROT_NETAGENT;
            for r in k.routes6.iter().filter(ours) {
                if u.gateway6 != r.via || r.oif != Some(l.index) {
                    out.push(Action::DelDefault6 {
                        via: r.via,
                        dev: k
                            .by_index(r.oif.unwrap_or(0))
                            .map(|x| x.name.clone())
                            .unwrap_or_else(|| u.name.clone()),
                    });
                }
            }
            if let Some(gw) = u.gateway6 {
                if !k
                    .routes6
                    .iter()
                    .any(|r| r.via == Some(gw) && r.oif == Some(l.index) && r.proto == RTPROT_NETAGENT)
                {
                    out.push(Action::AddDefault6 {
                        via: gw,
                        dev: u.name.clone(),
                    });
                }
            }
        }
    }

    // Routes marked as ours are exactly the planned ones.
    let mut routes: Vec<OwnedRoute> = usable()
        .flat_map(|b| b.routes.iter())
        .map(|r| OwnedRoute {
            to: r.to,
            via: Some(r.via),
            dev: r.dev.clone(),
            metric: r.metric,
        })
        .collect();
    if let Some(u) = want.uplink {
        if let (Some(gw), Some(_)) = (u.gateway, u.address) {
            routes.push(OwnedRoute {
                to: Ipv4Net::default(),
                via: Some(gw),
                dev: u.name.clone(),
                metric: None,
            });
        }
    }
    for r in owned_routes.iter().filter(|r| !routes.contains(r)) {
        out.push(Action::DelRoute {
            to: r.to,
            via: r.via,
            dev: r.dev.clone(),
            metric: r.metric,
        });
    }
    for r in routes.iter().filter(|r| !owned_routes.contains(r)) {
        if k.link(&r.dev).is_some() {
            out.push(Action::AddRoute {
                to: r.to,
                via: r.via,
                dev: r.dev.clone(),
                metric: r.metric,
            });
        }
    }
    out
}

/// The spanned networks' VXLAN devices: made as planned (again, when
/// netagent made one with other settings: the kernel fixes a VXLAN
/// device's VNI, address and port when it is made), and with static peers,
/// a flood list of exactly those peers. With EVPN the flood list is FRR's.
fn spans(want: &Desired<'_>, k: &Kernel, out: &mut Vec<Action>, usable: &[&BridgePlan]) {
    for s in usable.iter().filter_map(|b| b.span.as_ref()) {
        let Some(l) = k.link(&s.device) else {
            out.push(Action::CreateVxlan(NewVxlan {
                name: s.device.clone(),
                vni: s.vni,
                local: s.local,
                port: s.port,
                learning: s.learning(),
                mtu: s.mtu,
            }));
            continue;
        };
        // A link of another kind, or someone else's VXLAN device, under
        // the name is left alone: never delete what netagent did not make.
        if !l.is_vxlan() {
            continue;
        }
        let made = l.vxlan.clone().unwrap_or_default();
        let same = made.vni == s.vni
            && made.local == Some(s.local)
            && made.port == s.port
            && made.learning == s.learning();
        if !same {
            if want.owned.contains(&s.device) {
                out.push(Action::DeleteVxlan {
                    name: s.device.clone(),
                });
            }
            continue;
        }
        if l.mtu != s.mtu {
            out.push(Action::SetMtu {
                link: s.device.clone(),
                mtu: s.mtu,
            });
        }
        if s.evpn {
            continue;
        }
        let have: Vec<Ipv4Addr> = k
            .flood
            .iter()
            .filter(|f| f.index == l.index)
            .map(|f| f.dst)
            .collect();
        for dst in s.flood.iter().filter(|d| !have.contains(d)) {
            out.push(Action::AddFlood {
                dev: s.device.clone(),
                dst: *dst,
            });
        }
        for dst in have.iter().filter(|d| !s.flood.contains(d)) {
            out.push(Action::DelFlood {
                dev: s.device.clone(),
                dst: *dst,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_config;
    use crate::plan::plan;

    fn link(index: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(String::from),
            mtu: 1500,
            up: true,
            ..Link::default()
        }
    }

    /// The ownership record after netagent created the default plan's bridge.
    fn ours() -> std::collections::BTreeSet<String> {
        ["virbr0".to_string()].into()
    }

    fn kernel() -> Kernel {
        let mut eth0 = link(2, "eth0", None);
        eth0.physical = true;
        let mut eth1 = link(3, "eth1", None);
        eth1.physical = true;
        let mut lo = link(1, "lo", None);
        lo.loopback = true;
        Kernel {
            links: vec![lo, eth0, eth1, link(7, "vnet0", Some("tun"))],
            ..Kernel::default()
        }
    }

    fn settled(k: &mut Kernel, p: &crate::plan::Plan) {
        let b = &p.bridges[0];
        let mut br = link(10, &b.name, Some("bridge"));
        br.mac = b.mac;
        br.stp = Some(true);
        k.links.push(br);
        k.addrs.push(super::super::observe::Addr {
            index: 10,
            net: b.address.unwrap().into(),
        });
        for l in k
            .links
            .iter_mut()
            .filter(|l| l.name == "eth1" || l.name == "vnet0")
        {
            l.controller = Some(10);
            l.isolated = Some(false);
        }
    }

    #[test]
    fn auto_uplink_is_the_first_physical_nic() {
        let p = plan(&default_config());
        assert_eq!(
            resolve_uplink(&UplinkInterface::Auto, &kernel(), &p.bridges).as_deref(),
            Some("eth0")
        );
        let named = UplinkInterface::Named("eth1".into());
        assert_eq!(
            resolve_uplink(&named, &kernel(), &p.bridges).as_deref(),
            Some("eth1")
        );
    }

    /// A host with no NIC left (a namespace, a VM host whose NIC is in a
    /// bridge of its own): a software link may be the uplink, but never a
    /// bridge's port nor a guest's tap, named by a pattern or not.
    #[test]
    fn auto_never_takes_a_port_or_a_guests_tap() {
        let adopted = crate::config::parse(
            "[uplink]\ninterface = \"auto\"\naddress = \"host\"\n[[network]]\nname = \"default\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\nlibvirt = true\n",
            "t.toml",
        )
        .unwrap();
        let p = plan(&adopted);
        let mut enslaved = link(4, "veth0", Some("veth"));
        enslaved.controller = Some(9);
        let mut k = Kernel {
            links: vec![
                link(2, "vnet3", Some("tun")),
                link(3, "macvtap0", Some("macvtap")),
                enslaved,
            ],
            ..Kernel::default()
        };
        assert_eq!(resolve_uplink(&UplinkInterface::Auto, &k, &p.bridges), None);
        k.links.push(link(5, "up0", Some("veth")));
        assert_eq!(
            resolve_uplink(&UplinkInterface::Auto, &k, &p.bridges).as_deref(),
            Some("up0")
        );
    }

    /// The e1000 at 00:04.0 loaded first and is eth0; the virtio NIC at
    /// 00:02.0 is eth1. `auto` takes the lower bus address, not the lower
    /// index; a MAC or a path names one outright.
    #[test]
    fn auto_follows_the_bus_not_the_driver_load_order() {
        let mut k = kernel();
        for (name, bus, mac) in [
            ("eth0", "pci0000:00/0000:00:04.0/net/eth0", 0x04),
            ("eth1", "pci0000:00/0000:00:02.0/virtio0/net/eth1", 0x02),
        ] {
            let l = k.links.iter_mut().find(|l| l.name == name).unwrap();
            l.bus = Some(bus.into());
            l.mac = Some(MacAddr([0x52, 0x54, 0, 0, 0, mac]));
        }
        let p = plan(&default_config());
        assert_eq!(
            resolve_uplink(&UplinkInterface::Auto, &k, &p.bridges).as_deref(),
            Some("eth1")
        );
        let by_mac = UplinkInterface::Mac(MacAddr([0x52, 0x54, 0, 0, 0, 0x04]));
        assert_eq!(resolve_uplink(&by_mac, &k, &p.bridges).as_deref(), Some("eth0"));
        let by_path = UplinkInterface::Path("0000:00:04.0".into());
        assert_eq!(resolve_uplink(&by_path, &k, &p.bridges).as_deref(), Some("eth0"));
        let nowhere = UplinkInterface::Path("0000:00:09.0".into());
        assert_eq!(resolve_uplink(&nowhere, &k, &p.bridges), None);
    }

    #[test]
    fn a_fresh_kernel_gets_the_bridge_then_its_ports() {
        let p = plan(&default_config());
        let up = UplinkState {
            name: "eth0".into(),
            managed: true,
            address: None,
            gateway: None,
            address6: None,
            gateway6: None,
        };
        let want = Desired {
            bridges: &p.bridges,
            uplink: Some(&up),
            stale_bridges: &[],
            owned: &ours(),
            uplink_pending: false,
        };
        let mut k = kernel();
        let acts = diff(&want, &k, &[]);
        assert_eq!(
            acts,
            vec![Action::CreateBridge {
                name: "virbr0".into(),
                mac: p.bridges[0].mac,
                mtu: None,
                stp: true
            }]
        );
        let mut br = link(10, "virbr0", Some("bridge"));
        br.stp = Some(true);
        br.up = false;
        k.links.push(br);
        let acts = diff(&want, &k, &[]);
        assert!(acts.contains(&Action::Up {
            link: "virbr0".into()
        }));
        assert!(acts.contains(&Action::SetMac {
            link: "virbr0".into(),
            mac: p.bridges[0].mac.unwrap()
        }));
        assert!(acts.contains(&Action::AddAddr {
            link: "virbr0".into(),
            net: "192.168.122.1/24".parse().unwrap()
        }));
        // @nics takes eth1 (a NIC that is not the uplink), vnet* takes the tap; never the uplink.
        assert!(acts.contains(&Action::Enslave {
            port: "eth1".into(),
            bridge: "virbr0".into()
        }));
        assert!(acts.contains(&Action::Enslave {
            port: "vnet0".into(),
            bridge: "virbr0".into()
        }));
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::Enslave { port, .. } if port == "eth0")));
    }

    #[test]
    fn a_settled_kernel_needs_nothing() {
        let p = plan(&default_config());
        let up = UplinkState {
            name: "eth0".into(),
            managed: true,
            address: None,
            gateway: None,
            address6: None,
            gateway6: None,
        };
        let want = Desired {
            bridges: &p.bridges,
            uplink: Some(&up),
            stale_bridges: &[],
            owned: &ours(),
            uplink_pending: false,
        };
        let mut k = kernel();
        settled(&mut k, &p);
        assert_eq!(diff(&want, &k, &[]), vec![]);
    }

    #[test]
    fn stray_addresses_and_routes_go_and_planned_ones_come() {
        let p = plan(&default_config());
        let up = UplinkState {
            name: "eth0".into(),
            managed: true,
            address: Some("10.0.2.15/24".parse().unwrap()),
            gateway: Some("10.0.2.2".parse().unwrap()),
            address6: None,
            gateway6: None,
        };
        let want = Desired {
            bridges: &p.bridges,
            uplink: Some(&up),
            stale_bridges: &["virbr9".to_string()],
            owned: &ours(),
            uplink_pending: false,
        };
        let mut k = kernel();
        settled(&mut k, &p);
        k.addrs.push(super::super::observe::Addr {
            index: 10,
            net: "10.9.9.9/24".parse().unwrap(),
        });
        k.addrs.push(super::super::observe::Addr {
            index: 2,
            net: "10.0.3.15/24".parse().unwrap(),
        });
        k.links.push(link(11, "virbr9", Some("bridge")));
        let old = OwnedRoute {
            to: "10.50.0.0/16".parse().unwrap(),
            via: Some("192.168.122.9".parse().unwrap()),
            dev: "virbr0".into(),
            metric: None,
        };
        let acts = diff(&want, &k, std::slice::from_ref(&old));
        assert!(acts.contains(&Action::DeleteBridge {
            name: "virbr9".into()
        }));
        assert!(acts.contains(&Action::DelAddr {
            link: "virbr0".into(),
            net: "10.9.9.9/24".parse().unwrap()
        }));
        assert!(acts.contains(&Action::AddAddr {
            link: "eth0".into(),
            net: "10.0.2.15/24".parse().unwrap()
        }));
        assert!(acts.contains(&Action::DelAddr {
            link: "eth0".into(),
            net: "10.0.3.15/24".parse().unwrap()
        }));
        assert!(acts.contains(&Action::DelRoute {
            to: old.to,
            via: old.via,
            dev: old.dev,
            metric: None
        }));
        assert!(acts.contains(&Action::AddRoute {
            to: Ipv4Net::default(),
            via: up.gateway,
            dev: "eth0".into(),
            metric: None
        }));
    }

    #[test]
    fn ports_of_someone_elses_bridge_are_left_alone() {
        let p = plan(&default_config());
        let up = UplinkState {
            name: "eth0".into(),
            managed: true,
            address: None,
            gateway: None,
            address6: None,
            gateway6: None,
        };
        let want = Desired {
            bridges: &p.bridges,
            uplink: Some(&up),
            stale_bridges: &[],
            owned: &ours(),
            uplink_pending: false,
        };
        let mut k = kernel();
        settled(&mut k, &p);
        k.links.push(link(20, "docker0", Some("bridge")));
        let mut v = link(21, "vnet5", Some("tun"));
        v.controller = Some(20);
        k.links.push(v);
        assert_eq!(diff(&want, &k, &[]), vec![]);
    }

    #[test]
    fn a_pattern_never_moves_a_tap_placed_on_another_of_our_bridges() {
        let cfg = crate::config::parse(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"a\"\nbridge = \"virbr0\"\naddress = \"10.1.0.1/24\"\nports = [\"vnet*\"]\n[[network]]\nname = \"b\"\nbridge = \"virbr1\"\naddress = \"10.2.0.1/24\"\nports = [\"lab0\"]\n",
            "t.toml",
        )
        .expect("valid");
        let p = plan(&cfg);
        let want = Desired {
            bridges: &p.bridges,
            uplink: None,
            stale_bridges: &[],
            owned: &["virbr0".to_string(), "virbr1".to_string()].into(),
            uplink_pending: false,
        };
        let mut k = kernel();
        settled(&mut k, &p);
        k.links.push(link(11, "virbr1", Some("bridge")));
        // libvirt put vnet7 on virbr1 (a `type='bridge'` interface).
        let mut v = link(30, "vnet7", Some("tun"));
        v.controller = Some(11);
        k.links.push(v);
        let enslaves = |k: &Kernel| -> Vec<Action> {
            diff(&want, k, &[])
                .into_iter()
                .filter(|a| matches!(a, Action::Enslave { .. }))
                .collect()
        };
        assert_eq!(enslaves(&k), vec![]);
        // Named outright, a link moves.
        let mut lab = link(31, "lab0", Some("tun"));
        lab.controller = Some(10);
        k.links.push(lab);
        assert_eq!(
            enslaves(&k),
            vec![Action::Enslave {
                port: "lab0".into(),
                bridge: "virbr1".into()
            }]
        );
    }

    /// A host's own LAN bridge (a `bridge` network, made by the admin)
    /// keeps its STP unless the config states it: turning STP on would
    /// hold its ports ~30 s and send BPDUs to the LAN's switch.
    #[test]
    fn a_host_bridge_keeps_its_stp_unless_the_config_states_it() {
        let with = |stp: &str| {
            let cfg = crate::config::parse(
                &format!("[[network]]\nname = \"lan\"\nkind = \"bridge\"\nbridge = \"br0\"\nports = [\"vnet*\", \"eth1\"]\nadopt = true\n{stp}"),
                "t.toml",
            )
            .expect("valid");
            plan(&cfg)
        };
        let mut k = kernel();
        let mut br = link(12, "br0", Some("bridge"));
        br.stp = Some(true);
        k.links.push(br);
        let stp_acts = |p: &crate::plan::Plan| -> Vec<Action> {
            let want = Desired {
                bridges: &p.bridges,
                uplink: None,
                stale_bridges: &[],
                owned: &Default::default(),
                uplink_pending: false,
            };
            diff(&want, &k, &[])
                .into_iter()
                .filter(|a| matches!(a, Action::SetStp { .. }))
                .collect()
        };
        assert_eq!(stp_acts(&with("")), vec![]);
        assert_eq!(
            stp_acts(&with("stp = false\n")),
            vec![Action::SetStp {
                link: "br0".into(),
                stp: false
            }]
        );
    }

    #[test]
    fn port_isolation_follows_the_plan() {
        let mut cfg = default_config();
        cfg.networks[0].port_isolation = true;
        let p = plan(&cfg);
        let up = UplinkState {
            name: "eth0".into(),
            managed: true,
            address: None,
            gateway: None,
            address6: None,
            gateway6: None,
        };
        let want = Desired {
            bridges: &p.bridges,
            uplink: Some(&up),
            stale_bridges: &[],
            owned: &ours(),
            uplink_pending: false,
        };
        let mut k = kernel();
        settled(&mut k, &p);
        let acts = diff(&want, &k, &[]);
        assert!(
            acts.contains(&Action::Isolate {
                port: "vnet0".into(),
                on: true
            }),
            "{acts:?}"
        );
    }

    /// A spanned network: the VXLAN device is made, then its flood list is
    /// exactly the peers; a device netagent made with another VNI is made
    /// again, someone else's is left alone.
    #[test]
    fn a_span_gets_its_device_and_exactly_its_flood_list() {
        let src = "[uplink]\ninterface = \"eth0\"\naddress = \"10.0.0.1/24\"\n[[network]]\nname = \"s\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\nports = [\"vnet*\"]\n[network.span]\nvni = 150\nhome = \"10.0.0.1\"\npeers = [\"10.0.0.2\", \"10.0.0.3\"]\n";
        let p = plan(&crate::config::parse(src, "t").expect("valid"));
        fn want<'a>(p: &'a crate::plan::Plan, owned: &'a std::collections::BTreeSet<String>) -> Desired<'a> {
            Desired {
                bridges: &p.bridges,
                uplink: None,
                stale_bridges: &[],
                owned,
                uplink_pending: false,
            }
        }
        let mut owned = ours();
        let mut k = kernel();
        settled(&mut k, &p);
        let acts = diff(&want(&p, &owned), &k, &[]);
        assert!(
            acts.iter().any(|a| matches!(a, Action::CreateVxlan(v) if v.name == "vx150" && v.vni == 150 && v.learning && v.mtu == 1450)),
            "{acts:?}"
        );
        // Made and enslaved, with one stale peer and one missing.
        if let Some(br) = k.links.iter_mut().find(|l| l.name == "virbr0") {
            (br.mtu, br.stp) = (1450, Some(false));
        }
        let mut vx = link(11, "vx150", Some("vxlan"));
        vx.mtu = 1450;
        vx.controller = Some(10);
        vx.isolated = Some(false);
        vx.vxlan = Some(crate::links::observe::Vxlan {
            vni: 150,
            local: Some("10.0.0.1".parse().unwrap()),
            port: 4789,
            learning: true,
        });
        k.links.push(vx);
        let flood = |d: &str| crate::links::observe::Flood {
            index: 11,
            dst: d.parse().unwrap(),
        };
        k.flood = vec![flood("10.0.0.2"), flood("10.0.0.9")];
        owned.insert("vx150".into());
        let acts = diff(&want(&p, &owned), &k, &[]);
        assert_eq!(
            acts,
            vec![
                Action::AddFlood {
                    dev: "vx150".into(),
                    dst: "10.0.0.3".parse().unwrap()
                },
                Action::DelFlood {
                    dev: "vx150".into(),
                    dst: "10.0.0.9".parse().unwrap()
                },
            ]
        );
        k.flood = vec![flood("10.0.0.2"), flood("10.0.0.3")];
        assert!(diff(&want(&p, &owned), &k, &[]).is_empty(), "not idempotent");
        // Made by netagent with another VNI: made again. Not netagent's: left alone.
        if let Some(v) = k
            .links
            .iter_mut()
            .find(|l| l.name == "vx150")
            .and_then(|l| l.vxlan.as_mut())
        {
            v.vni = 151;
        }
        assert_eq!(
            diff(&want(&p, &owned), &k, &[]),
            vec![Action::DeleteVxlan { name: "vx150".into() }]
        );
        owned.remove("vx150");
        assert!(diff(&want(&p, &owned), &k, &[]).is_empty());
    }

    #[test]
    fn the_port_index_answers_as_the_plain_rule_does() {
        let mut bridges = Vec::new();
        let ports: [&[&str]; 6] = [
            &["vnet*", "eth1"],
            &["p1x*", "tap?"],
            &["@nics"],
            &["p1*", "vnet0"],
            &["*x9", "eth1"],
            &["q*", "p1x2"],
        ];
        for (i, ps) in ports.iter().enumerate() {
            let mut b = crate::plan::plan(&crate::config::default_config())
                .bridges
                .remove(0);
            b.name = format!("br{i}");
            b.ports = ps.iter().map(|p| p.to_string()).collect();
            bridges.push(b);
        }
        let names = [
            "vnet0", "vnet7", "eth0", "eth1", "p1x2", "p1x3", "p12", "tap1", "tap12", "ax9", "q", "br0",
            "lo", "up0", "x", "p1x9", "é1",
        ];
        for prefix in [0usize, 2, 4] {
            let bs = &bridges[prefix..];
            let idx = PortIndex::new(bs);
            for n in names {
                for physical in [false, true] {
                    let mut l = link(9, n, None);
                    l.physical = physical;
                    l.loopback = n == "lo";
                    let plain = bridge_for(&l, bs, Some("up0")).map(|b| b.name.clone());
                    let fast = idx.bridge_for(&l, Some("up0")).map(|b| b.name.clone());
                    assert_eq!(
                        fast, plain,
                        "{n} (physical {physical}) with bridges from {prefix}"
                    );
                    assert_eq!(idx.names_it(n), names_it(bs, n), "{n}");
                }
            }
        }
    }
}
