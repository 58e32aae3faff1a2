//! The ruleset in nft's own syntax, for `netagent plan` and golden files: a
//! reviewer reads rules, not JSON. Covers the expressions `ruleset.rs` builds;
//! anything else is shown as its JSON so nothing is hidden.

use std::fmt::Write;

use nftables::expr::{Expression, NamedExpression, Payload, SetItem};
use nftables::schema::{Chain, NfListObject, NfObject, Nftables, Rule};
use nftables::stmt::{Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

pub fn render(rs: &Nftables<'_>) -> String {
    let mut tables = Vec::new();
    let mut chains: Vec<&Chain<'_>> = Vec::new();
    let mut rules: Vec<&Rule<'_>> = Vec::new();
    for o in rs.objects.iter() {
        match o {
            NfObject::ListObject(NfListObject::Table(t)) => tables.push(t),
            NfObject::ListObject(NfListObject::Chain(c)) => chains.push(c),
            NfObject::ListObject(NfListObject::Rule(r)) => rules.push(r),
            _ => {}
        }
    }
    let mut out = String::new();
    for t in tables {
        let _ = writeln!(out, "table {} {} {{", family(t.family), t.name);
        let mut first = true;
        for c in chains
            .iter()
            .filter(|c| c.table == t.name && c.family == t.family)
        {
            if !first {
                out.push('\n');
            }
            first = false;
            let _ = writeln!(out, "\tchain {} {{", c.name);
            if let (Some(ty), Some(hook)) = (c._type, c.hook) {
                let _ = writeln!(
                    out,
                    "\t\ttype {} hook {} priority {}; policy {};",
                    chain_type(ty),
                    hook_name(hook),
                    priority(c.prio.unwrap_or(0), hook),
                    match c.policy {
                        Some(NfChainPolicy::Drop) => "drop",
                        _ => "accept",
                    }
                );
            }
            for r in rules.iter().filter(|r| r.chain == c.name && r.table == t.name) {
                let parts: Vec<String> = r.expr.iter().map(stmt).collect();
                let _ = writeln!(out, "\t\t{}", parts.join(" "));
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
    }
    out
}

fn family(f: NfFamily) -> &'static str {
    match f {
        NfFamily::IP => "ip",
        NfFamily::IP6 => "ip6",
        NfFamily::INet => "inet",
        NfFamily::ARP => "arp",
        NfFamily::Bridge => "bridge",
        NfFamily::NetDev => "netdev",
    }
}

fn chain_type(t: NfChainType) -> &'static str {
    match t {
        NfChainType::Filter => "filter",
        NfChainType::Route => "route",
        NfChainType::NAT => "nat",
    }
}

fn hook_name(h: NfHook) -> &'static str {
    match h {
        NfHook::Ingress => "ingress",
        NfHook::Prerouting => "prerouting",
        NfHook::Forward => "forward",
        NfHook::Input => "input",
        NfHook::Output => "output",
        NfHook::Postrouting => "postrouting",
        NfHook::Egress => "egress",
    }
}

/// nft's names for the standard priorities, where nft accepts them: dstnat
/// only in prerouting, srcnat only in postrouting.
fn priority(p: i32, hook: NfHook) -> String {
    match (p, hook) {
        (0, _) => "filter".into(),
        (100, NfHook::Postrouting) => "srcnat".into(),
        (-100, NfHook::Prerouting) => "dstnat".into(),
        (n, _) => n.to_string(),
    }
}

fn stmt(s: &Statement<'_>) -> String {
    match s {
        Statement::Accept(_) => "accept".into(),
        Statement::Drop(_) => "drop".into(),
        Statement::Return(_) => "return".into(),
        Statement::Continue(_) => "continue".into(),
        Statement::Jump(j) => format!("jump {}", j.target),
        Statement::Goto(j) => format!("goto {}", j.target),
        Statement::Reject(None) => "reject".into(),
        Statement::Counter(_) => "counter".into(),
        Statement::Match(m) => {
            let left = expr(&m.left);
            let quote = left == "iifname" || left == "oifname";
            let right = value(&m.right, quote);
            match m.op {
                Operator::EQ | Operator::IN => format!("{left} {right}"),
                Operator::NEQ => format!("{left} != {right}"),
                _ => json(s),
            }
        }
        Statement::Masquerade(None) => "masquerade".into(),
        Statement::Masquerade(Some(n)) => format!("masquerade{}", nat_to(n, false)),
        Statement::SNAT(Some(n)) => format!("snat{}", nat_to(n, true)),
        Statement::DNAT(Some(n)) => format!("dnat{}", nat_to(n, true)),
        other => json(other),
    }
}

fn nat_to(n: &NAT<'_>, with_family: bool) -> String {
    let mut out = String::from(" ");
    if with_family && n.family.is_some() {
        out.push_str("ip ");
    }
    out.push_str("to ");
    if let Some(a) = &n.addr {
        out.push_str(&value(a, false));
    }
    if let Some(p) = &n.port {
        out.push(':');
        out.push_str(&value(p, false));
    }
    out
}

fn expr(e: &Expression<'_>) -> String {
    match e {
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => {
            format!("{} {}", p.protocol, p.field)
        }
        Expression::Named(NamedExpression::Meta(m)) => {
            let key = serde_json::to_value(m.key)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            match key.as_str() {
                "iifname" | "oifname" | "iif" | "oif" => key,
                _ => format!("meta {key}"),
            }
        }
        Expression::Named(NamedExpression::CT(c)) => format!("ct {}", c.key),
        Expression::Named(NamedExpression::Fib(f)) => {
            let mut flags: Vec<String> = f
                .flags
                .iter()
                .filter_map(|fl| serde_json::to_value(fl).ok()?.as_str().map(String::from))
                .collect();
            flags.sort();
            let result = serde_json::to_value(f.result)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            format!("fib {} {result}", flags.join(" . "))
        }
        other => value(other, false),
    }
}

fn value(e: &Expression<'_>, quote: bool) -> String {
    match e {
        Expression::String(s) if quote => format!("\"{s}\""),
        Expression::String(s) => s.to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::Boolean(b) => b.to_string(),
        Expression::List(items) => items
            .iter()
            .map(|i| value(i, quote))
            .collect::<Vec<_>>()
            .join(","),
        Expression::Range(r) => format!("{}-{}", value(&r.range[0], quote), value(&r.range[1], quote)),
        Expression::Named(NamedExpression::Prefix(p)) => {
            format!("{}/{}", value(&p.addr, false), p.len)
        }
        Expression::Named(NamedExpression::Set(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    SetItem::Element(e) => value(e, quote),
                    other => serde_json::to_string(other).unwrap_or_default(),
                })
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Expression::Named(
            NamedExpression::Payload(_)
            | NamedExpression::Meta(_)
            | NamedExpression::CT(_)
            | NamedExpression::Fib(_),
        ) => expr(e),
        other => json(other),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}
