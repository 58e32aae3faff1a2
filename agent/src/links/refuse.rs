//! Links netagent will not touch though the plan names them as bridges: a
//! NIC (making it a "bridge" would enslave ports to it and readdress it),
//! and a bridge someone else made that the config does not adopt (a typo
//! must not take over `docker0`, change its MAC and drop its addresses).
//! Pure: the plan, the kernel and the ownership record in, reasons out.

use std::collections::BTreeSet;

use super::observe::Kernel;
use crate::plan::BridgePlan;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("bridge {bridge}: refused: it is a {kind}, not a bridge; netagent leaves it alone: name network \"{network}\"'s bridge something else")]
    NotABridge {
        bridge: String,
        network: String,
        kind: String,
    },
    #[error("bridge {bridge}: refused: it exists and netagent did not create it; netagent leaves it alone: set adopt = true in network \"{network}\" to let netagent manage it (its addresses and MAC become the config's), or name another bridge")]
    NotOurs { bridge: String, network: String },
}

/// Why the link `b` names must be left alone, if it must.
pub(crate) fn refusal(b: &BridgePlan, k: &Kernel, owned: &BTreeSet<String>) -> Option<Refusal> {
    let l = k.link(&b.name)?;
    if !l.is_bridge() {
        return Some(Refusal::NotABridge {
            bridge: b.name.clone(),
            network: b.network.clone(),
            kind: l.kind.clone().unwrap_or_else(|| "network interface".into()),
        });
    }
    (!b.adopt && !owned.contains(&b.name)).then(|| Refusal::NotOurs {
        bridge: b.name.clone(),
        network: b.network.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Kind};
    use crate::links::observe::Link;
    use crate::plan::plan;

    fn bridge(adopt: bool) -> BridgePlan {
        let src = format!(
            "[[network]]\nname = \"n\"\nkind = \"isolated\"\nbridge = \"br7\"\naddress = \"10.0.0.1/24\"\nadopt = {adopt}\n"
        );
        let cfg = config::parse(&src, "t.toml").unwrap_or_else(|p| panic!("{p}"));
        let p = plan(&cfg);
        assert_eq!(p.bridges[0].kind, Kind::Isolated);
        p.bridges[0].clone()
    }

    fn kernel(kind: Option<&str>) -> Kernel {
        Kernel {
            links: vec![Link {
                index: 5,
                name: "br7".into(),
                kind: kind.map(String::from),
                ..Link::default()
            }],
            ..Kernel::default()
        }
    }

    #[test]
    fn a_missing_bridge_is_created_not_refused() {
        assert_eq!(
            refusal(&bridge(false), &Kernel::default(), &BTreeSet::new()),
            None
        );
    }

    #[test]
    fn a_nic_is_never_a_bridge_even_when_adopted() {
        for adopt in [false, true] {
            let r = refusal(&bridge(adopt), &kernel(Some("veth")), &BTreeSet::new());
            assert!(
                matches!(r, Some(Refusal::NotABridge { ref kind, .. }) if kind == "veth"),
                "{r:?}"
            );
        }
        let r = refusal(&bridge(true), &kernel(None), &BTreeSet::new());
        assert!(r.is_some_and(|r| r.to_string().contains("it is a network interface, not a bridge")));
    }

    #[test]
    fn a_bridge_is_ours_when_we_made_it_or_the_config_adopts_it() {
        let k = kernel(Some("bridge"));
        let r = refusal(&bridge(false), &k, &BTreeSet::new());
        assert!(matches!(r, Some(Refusal::NotOurs { .. })), "{r:?}");
        assert_eq!(refusal(&bridge(true), &k, &BTreeSet::new()), None);
        let ours: BTreeSet<String> = ["br7".to_string()].into();
        assert_eq!(refusal(&bridge(false), &k, &ours), None);
    }
}
