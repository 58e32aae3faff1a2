//! Other firewalls on the same hooks. nftables runs every base chain hooked
//! at forward (or input), table after table, and a drop in any of them is
//! final: netagent's own accept does not save a guest's packet from
//! Docker's `iptables -P FORWARD DROP`, ufw's default policy or firewalld's
//! closing reject. This finds the base chains of other tables that would
//! drop what netagent's networks forward (forward hook) or ask of netagent
//! itself, DHCP and DNS (input hook), and says how to let it through.
//! Pure: it reads the JSON of `nft -j list ruleset`, which shows
//! iptables-nft's tables too.

use serde_json::Value;

use super::TABLE;
use crate::config::Kind;
use crate::plan::Plan;

/// What a conflict is judged against: one network of the plan.
#[derive(Debug, Clone)]
pub struct Net {
    network: String,
    bridge: String,
    /// Its guests' traffic is forwarded (NAT, routed, open).
    forwards: bool,
    /// Its guests ask netagent for DHCP or DNS.
    serves: bool,
}

/// The plan's networks with an address (the others are the LAN's).
pub fn networks(plan: &Plan) -> Vec<Net> {
    plan.bridges
        .iter()
        .filter(|b| b.address.is_some())
        .map(|b| Net {
            network: b.network.clone(),
            bridge: b.name.clone(),
            forwards: matches!(b.kind, Kind::Nat | Kind::Route | Kind::Open),
            serves: b.dns || plan.dhcp.iter().any(|p| p.network == b.network),
        })
        .collect()
}

/// One base chain of another table that drops our networks' traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub hook: String,
    /// "policy drop", or the rule that drops everything.
    pub why: String,
    /// (network, bridge) whose traffic the chain drops.
    pub networks: Vec<(String, String)>,
    /// Another chain of the same table to put the fix in (Docker's
    /// DOCKER-USER, which Docker leaves alone when it rewrites its rules).
    pub user_chain: Option<String>,
}

impl Conflict {
    /// iptables-nft's tables: `ip filter` with upper-case chains.
    fn is_iptables(&self) -> bool {
        matches!(self.family.as_str(), "ip" | "ip6")
            && self.table == "filter"
            && self
                .chain
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_')
    }

    /// The commands that let the networks' traffic through this chain.
    pub fn fix(&self) -> Vec<String> {
        let chain = self.user_chain.as_deref().unwrap_or(&self.chain);
        let mut out = Vec::new();
        for (_, br) in &self.networks {
            match (self.is_iptables(), self.hook.as_str()) {
                (true, "forward") => {
                    out.push(format!("iptables -I {chain} -i {br} -j ACCEPT"));
                    out.push(format!("iptables -I {chain} -o {br} -j ACCEPT"));
                }
                (true, _) => {
                    out.push(format!(
                        "iptables -I {chain} -i {br} -p udp -m multiport --dports 53,67 -j ACCEPT"
                    ));
                    out.push(format!("iptables -I {chain} -i {br} -p tcp --dport 53 -j ACCEPT"));
                }
                (false, "forward") => {
                    let t = format!("{} {} {chain}", self.family, self.table);
                    out.push(format!("nft insert rule {t} iifname \"{br}\" accept"));
                    out.push(format!("nft insert rule {t} oifname \"{br}\" accept"));
                }
                (false, _) => out.push(format!(
                    "nft insert rule {} {} {chain} iifname \"{br}\" meta l4proto {{ tcp, udp }} th dport {{ 53, 67 }} accept",
                    self.family, self.table
                )),
            }
        }
        out
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nets: Vec<String> = self.networks.iter().map(|(n, b)| format!("{n} ({b})")).collect();
        let what = if self.hook == "forward" {
            "forwarded traffic"
        } else {
            "DHCP and DNS to netagent"
        };
        write!(
            f,
            "firewall: table {} {}, chain {} ({} hook): {}: the {what} of network{} {} is dropped there after netagent's own rules accept it; let it through: {}",
            self.family,
            self.table,
            self.chain,
            self.hook,
            self.why,
            if nets.len() == 1 { "" } else { "s" },
            nets.join(", "),
            self.fix().join("; ")
        )
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether a rule's statements end in drop or reject with nothing to match
/// before (counters, logs, comments aside): it drops everything that gets
/// that far.
fn drops_everything(expr: &[Value]) -> bool {
    let terminal = expr
        .iter()
        .any(|s| s.get("drop").is_some() || s.get("reject").is_some());
    let matches = expr.iter().any(|s| {
        s.as_object().is_some_and(|o| {
            o.keys()
                .any(|k| !matches!(k.as_str(), "drop" | "reject" | "counter" | "log" | "comment"))
        })
    });
    terminal && !matches
}

/// Whether a rule accepts traffic naming `bridge` as its `dir` interface
/// (`iifname` or `oifname`): the admin already let the network through.
fn accepts(expr: &[Value], dir: &str, bridge: &str) -> bool {
    let accept = expr.iter().any(|s| s.get("accept").is_some());
    let names = expr.iter().any(|s| {
        let Some(m) = s.get("match") else { return false };
        let key = m
            .get("left")
            .and_then(|l| l.get("meta"))
            .map(|meta| str_of(meta, "key"))
            .unwrap_or_default();
        key == dir && m.get("right").and_then(Value::as_str) == Some(bridge)
    });
    accept && names
}

/// The base chains of other tables that drop what `bridges` need.
pub fn conflicts(ruleset: &Value, nets: &[Net]) -> Vec<Conflict> {
    let items: Vec<&Value> = ruleset
        .get("nftables")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let chains = items.iter().filter_map(|i| i.get("chain"));
    let rules: Vec<&Value> = items.iter().filter_map(|i| i.get("rule")).collect();
    let mut out = Vec::new();
    for c in chains {
        let (family, table, name, hook) = (
            str_of(c, "family"),
            str_of(c, "table"),
            str_of(c, "name"),
            str_of(c, "hook"),
        );
        if !matches!(family, "ip" | "inet")
            || !matches!(hook, "forward" | "input")
            || str_of(c, "type") != "filter"
        {
            continue;
        }
        if family == "inet" && table == TABLE {
            continue;
        }
        let own: Vec<&[Value]> = rules
            .iter()
            .filter(|r| {
                str_of(r, "family") == family && str_of(r, "table") == table && str_of(r, "chain") == name
            })
            .filter_map(|r| r.get("expr").and_then(Value::as_array).map(Vec::as_slice))
            .collect();
        let why = if str_of(c, "policy") == "drop" {
            "policy drop".to_string()
        } else if let Some(n) = own.iter().position(|e| drops_everything(e)) {
            format!("its rule {} drops or rejects everything that reaches it", n + 1)
        } else {
            continue;
        };
        let networks: Vec<(String, String)> = nets
            .iter()
            .filter(|n| if hook == "forward" { n.forwards } else { n.serves })
            .filter(|n| {
                let through = |dir| own.iter().any(|e| accepts(e, dir, &n.bridge));
                match hook {
                    "forward" => !(through("iifname") && through("oifname")),
                    _ => !through("iifname"),
                }
            })
            .map(|n| (n.network.clone(), n.bridge.clone()))
            .collect();
        if networks.is_empty() {
            continue;
        }
        let user_chain = (hook == "forward")
            .then(|| {
                items
                    .iter()
                    .filter_map(|i| i.get("chain"))
                    .find(|u| {
                        str_of(u, "family") == family
                            && str_of(u, "table") == table
                            && str_of(u, "name") == "DOCKER-USER"
                    })
                    .map(|_| "DOCKER-USER".to_string())
            })
            .flatten();
        out.push(Conflict {
            family: family.into(),
            table: table.into(),
            chain: name.into(),
            hook: hook.into(),
            why,
            networks,
            user_chain,
        });
    }
    out
}

/// The conflicts on this host now: `nft -j list ruleset`, read. None when
/// nft cannot say (then nothing is claimed either way).
pub fn read(nets: &[Net]) -> Option<Vec<Conflict>> {
    let raw = nftables::helper::get_current_ruleset_raw(
        nftables::helper::DEFAULT_NFT,
        nftables::helper::DEFAULT_ARGS,
    )
    .ok()?;
    let v: Value = serde_json::from_str(&raw).ok()?;
    Some(conflicts(&v, nets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::plan::plan;

    fn bridges() -> Vec<Net> {
        let cfg = config::parse(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"default\"\nbridge = \"virbr0\"\naddress = \"192.168.122.1/24\"\n[network.dhcp]\n\
             [[network]]\nname = \"iso\"\nkind = \"isolated\"\nbridge = \"virbr1\"\naddress = \"10.1.0.1/24\"\n",
            "t.toml",
        )
        .unwrap_or_else(|p| panic!("{p}"));
        networks(&plan(&cfg))
    }

    /// What `iptables -P FORWARD DROP` (Docker) shows through nft -j.
    fn docker() -> Value {
        serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "filter", "handle": 1}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 2}},
            {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 3, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"jump": {"target": "DOCKER-USER"}}]}},
            {"table": {"family": "inet", "name": "netagent", "handle": 2}},
            {"chain": {"family": "inet", "table": "netagent", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}
        ]})
    }

    #[test]
    fn a_drop_policy_on_forward_names_table_chain_network_and_fix() {
        let c = conflicts(&docker(), &bridges());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].table.as_str(), c[0].chain.as_str()), ("filter", "FORWARD"));
        // The isolated network forwards nothing: only default is hit.
        assert_eq!(c[0].networks, vec![("default".to_string(), "virbr0".to_string())]);
        let text = c[0].to_string();
        assert!(
            text.contains("table ip filter, chain FORWARD (forward hook): policy drop"),
            "{text}"
        );
        assert!(
            text.contains("iptables -I DOCKER-USER -i virbr0 -j ACCEPT"),
            "{text}"
        );
        assert!(
            text.contains("iptables -I DOCKER-USER -o virbr0 -j ACCEPT"),
            "{text}"
        );
    }

    #[test]
    fn rules_that_let_the_bridge_through_clear_it() {
        let mut v = docker();
        let items = v["nftables"].as_array_mut().expect("array");
        for (i, dir) in [(10, "iifname"), (11, "oifname")] {
            items.push(serde_json::json!({"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": i, "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": dir}}, "right": "virbr0"}},
                {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}}));
        }
        assert_eq!(conflicts(&v, &bridges()), vec![]);
    }

    #[test]
    fn a_closing_reject_and_an_input_drop_are_found_too() {
        let v = serde_json::json!({"nftables": [
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "type": "filter", "hook": "forward", "prio": 10, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "expr": [
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "expr": [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}},
            {"chain": {"family": "inet", "table": "mine", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}
        ]});
        let c = conflicts(&v, &bridges());
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].why.contains("rule 2"), "{}", c[0].why);
        assert!(c[0]
            .to_string()
            .contains("nft insert rule inet firewalld filter_FORWARD iifname \"virbr0\" accept"));
        // Input: DHCP and DNS of every network that serves them; the
        // isolated one serves DNS too.
        assert_eq!(c[1].networks.len(), 2, "{:?}", c[1].networks);
        assert!(c[1].to_string().contains("DHCP and DNS to netagent"));
    }
}
