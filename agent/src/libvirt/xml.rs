//! Reading libvirt's XML: element and attribute helpers, and the warnings
//! collected on the way, each naming the network and the element.

use std::net::Ipv4Addr;

use roxmltree::Node;

use crate::config::units::LeaseTime;

pub(super) struct Ctx {
    pub name: String,
    pub warnings: Vec<String>,
}

impl Ctx {
    pub(super) fn warn(&mut self, msg: impl AsRef<str>) {
        self.warnings
            .push(format!("network \"{}\": {}", self.name, msg.as_ref()));
    }

    pub(super) fn drop_el(&mut self, n: Node<'_, '_>, why: &str) {
        self.warn(format!("<{}> {why}; not imported", path(n)));
    }
}

/// `forward/nat` for an element, for messages.
pub(super) fn path(n: Node<'_, '_>) -> String {
    let mut parts: Vec<&str> = n
        .ancestors()
        .filter(|a| a.is_element())
        .map(|a| a.tag_name().name())
        .collect();
    parts.pop(); // <network>
    parts.reverse();
    parts.join("/")
}

pub(super) fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == tag)
}

pub(super) fn children<'a, 'i>(n: Node<'a, 'i>, tag: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == tag)
}

pub(super) fn yes(v: Option<&str>) -> Option<bool> {
    v.map(|v| matches!(v, "yes" | "on"))
}

/// Attributes that carry nothing netagent can use, per element, besides
/// those the element's importer reads.
pub(super) fn check_attrs(c: &mut Ctx, n: Node<'_, '_>, known: &[&str]) {
    for a in n.attributes() {
        if !known.contains(&a.name()) {
            c.warn(format!(
                "<{} {}='{}'> has no netagent equivalent; ignored",
                path(n),
                a.name(),
                a.value()
            ));
        }
    }
}

pub(super) fn ip_attr(c: &mut Ctx, n: Node<'_, '_>, attr: &str) -> Option<Ipv4Addr> {
    let v = n.attribute(attr)?;
    match v.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            c.warn(format!(
                "<{} {attr}='{v}'> is not an IPv4 address; not imported",
                path(n)
            ));
            None
        }
    }
}

pub(super) fn lease(c: &mut Ctx, n: Node<'_, '_>) -> Option<LeaseTime> {
    let l = child(n, "lease")?;
    let expiry: u64 = match l.attribute("expiry").map(str::parse) {
        Some(Ok(e)) => e,
        _ => {
            c.warn(format!(
                "<{}> has no valid expiry; the default lease is used",
                path(l)
            ));
            return None;
        }
    };
    if expiry == 0 {
        return Some(LeaseTime::Infinite);
    }
    // libvirt's default unit is minutes.
    let mult = match l.attribute("unit").unwrap_or("minutes") {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 3600,
        other => {
            c.warn(format!(
                "<{}> unit '{other}' is unknown; read as minutes",
                path(l)
            ));
            60
        }
    };
    let secs = expiry.saturating_mul(mult).max(120);
    Some(LeaseTime::Seconds(u32::try_from(secs).unwrap_or(u32::MAX)))
}
