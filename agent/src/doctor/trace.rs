//! What `nft monitor trace` printed for the probe, read back: the path of
//! the packet through every table's chains, and each table's verdict. Pure.

/// One line of the trace: `trace id ID FAMILY TABLE CHAIN WHAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    /// "inet netagent", "ip filter".
    pub table: String,
    pub chain: String,
    /// "packet: ...", "rule ... (verdict accept)", "policy drop"...
    pub what: String,
}

pub fn parse_line(line: &str) -> Option<Step> {
    let rest = line.trim().strip_prefix("trace id ")?;
    let mut w = rest.splitn(5, ' ');
    let id = w.next()?.to_string();
    let family = w.next()?;
    let table = w.next()?;
    let chain = w.next()?.to_string();
    let what = w.next().unwrap_or_default().trim().to_string();
    Some(Step {
        id,
        table: format!("{family} {table}"),
        chain,
        what,
    })
}

/// The steps of the packets whose `packet:` line shows `saddr` (the
/// probe's source; one probe is sent). The kernel gives the same packet a
/// new trace id at some hooks, so every id showing the source counts; the
/// ids of other packets that happened to be traced are left out.
pub fn of_probe(lines: &[String], saddr: &str) -> Vec<Step> {
    let steps: Vec<Step> = lines.iter().filter_map(|l| parse_line(l)).collect();
    let needle = format!("ip saddr {saddr} ");
    let ids: std::collections::HashSet<String> = steps
        .iter()
        .filter(|s| s.what.starts_with("packet:") && format!("{} ", s.what).contains(&needle))
        .map(|s| s.id.clone())
        .collect();
    steps.into_iter().filter(|s| ids.contains(&s.id)).collect()
}

/// A final verdict of one table on one hook: the chain and line that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub table: String,
    pub chain: String,
    /// "accept", "drop".
    pub verdict: String,
    /// The rule, or "policy".
    pub by: String,
}

fn verdict_of(what: &str) -> Option<(String, String)> {
    if let Some(p) = what.strip_prefix("policy ") {
        return Some((p.trim().to_string(), "policy".into()));
    }
    let rule = what.strip_prefix("rule ")?;
    let (text, v) = rule.rsplit_once(" (verdict ")?;
    let v = v.trim_end_matches(')').trim();
    matches!(v, "accept" | "drop").then(|| (v.to_string(), text.trim().to_string()))
}

/// Each table's final word, in the order the packet met them.
pub fn verdicts(steps: &[Step]) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    for s in steps {
        let Some((verdict, by)) = verdict_of(&s.what) else {
            continue;
        };
        out.push(Verdict {
            table: s.table.clone(),
            chain: s.chain.clone(),
            verdict,
            by,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forwarded probe as nft printed it: our table accepts, iptables-nft's
    /// FORWARD policy drops.
    const TRACE: &str = "\
trace id 11aa inet netagent_probe probe packet: iif \"virbr0\" ether saddr 02:00:00:00:00:01 ip saddr 10.77.0.254 ip daddr 10.99.0.1 ip protocol tcp tcp dport 8080 tcp flags == syn
trace id 11aa inet netagent_probe probe rule ip saddr 10.77.0.254 ip daddr 10.99.0.1 tcp dport 8080 meta nftrace set 1 (verdict continue)
trace id 11aa inet netagent_probe probe policy accept
trace id 22bb inet other chain packet: iif \"eth9\" ip saddr 10.5.5.5 ip daddr 10.99.0.1
trace id 22bb inet other chain policy drop
trace id 11aa inet netagent forward packet: iif \"virbr0\" oif \"up0\" ip saddr 10.77.0.254 ip daddr 10.99.0.1
trace id 11aa inet netagent forward rule jump guest_output (verdict jump guest_output)
trace id 11aa inet netagent guest_output rule iifname \"virbr0\" ip saddr 10.77.0.0/24 accept (verdict accept)
trace id 44dd ip filter FORWARD packet: iif \"virbr0\" oif \"up0\" ip saddr 10.77.0.254 ip daddr 10.99.0.1
trace id 44dd ip filter FORWARD policy drop
";

    #[test]
    fn the_probes_path_and_each_tables_verdict() {
        let lines: Vec<String> = TRACE.lines().map(String::from).collect();
        let steps = of_probe(&lines, "10.77.0.254");
        assert!(
            steps.iter().all(|s| s.id == "11aa" || s.id == "44dd"),
            "{steps:?}"
        );
        let v = verdicts(&steps);
        assert_eq!(
            v.iter()
                .map(|v| (v.table.as_str(), v.chain.as_str(), v.verdict.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("inet netagent_probe", "probe", "accept"),
                ("inet netagent", "guest_output", "accept"),
                ("ip filter", "FORWARD", "drop"),
            ]
        );
        assert_eq!(v[1].by, "iifname \"virbr0\" ip saddr 10.77.0.0/24 accept");
        assert_eq!(v[2].by, "policy");
    }
}
