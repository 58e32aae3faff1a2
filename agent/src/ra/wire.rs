//! Router advertisements and solicitations as bytes (RFC 4861 4.1, 4.2,
//! 4.6; RFC 8106 for RDNSS and DNSSL). Pure: what goes out is built from
//! the plan, what comes in from a guest is parsed as hostile.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::plan::RaPlan;

pub(crate) const ROUTER_SOLICITATION: u8 = 133;
pub(crate) const ROUTER_ADVERTISEMENT: u8 = 134;

const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

/// radvd's and RFC 4861's defaults: a prefix valid for a day, preferred
/// for four hours; renewed by every advertisement.
pub(crate) const VALID: u32 = 86_400;
pub(crate) const PREFERRED: u32 = 14_400;
/// RDNSS and DNSSL: three times the longest interval between unsolicited
/// advertisements (RFC 8106 5.1).
pub(crate) const DNS_LIFETIME: u32 = 1_800;

/// One prefix in an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrefixInfo {
    pub net: Ipv6Net,
    pub autonomous: bool,
    pub valid: u32,
    pub preferred: u32,
}

/// The advertisement for `plan`: `mac` is the bridge's (the source
/// link-layer option), `retired` prefixes the network had before a
/// renumbering (announced with a preferred lifetime of 0, so guests stop
/// using them for new connections), `ceasing` when netagent stops being
/// the router here (router lifetime 0, RFC 4861 6.2.5).
pub fn advertisement(plan: &RaPlan, mac: Option<[u8; 6]>, retired: &[Ipv6Net], ceasing: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(128);
    let flags = (u8::from(plan.managed) << 7) | (u8::from(plan.other) << 6);
    let lifetime = if ceasing { 0 } else { plan.router_lifetime };
    // type, code, checksum (the kernel fills it), cur hop limit 64, flags,
    // router lifetime, reachable time and retrans timer unspecified (0).
    p.extend_from_slice(&[ROUTER_ADVERTISEMENT, 0, 0, 0, 64, flags]);
    p.extend_from_slice(&lifetime.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    if let Some(m) = mac {
        p.extend_from_slice(&[OPT_SOURCE_LLADDR, 1]);
        p.extend_from_slice(&m);
    }
    if let Some(mtu) = plan.mtu {
        p.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
        p.extend_from_slice(&mtu.to_be_bytes());
    }
    let current = PrefixInfo {
        net: plan.prefix,
        autonomous: plan.autonomous,
        valid: VALID,
        preferred: PREFERRED,
    };
    let old = retired.iter().filter(|r| **r != plan.prefix).map(|r| PrefixInfo {
        net: *r,
        autonomous: true,
        // RFC 4862 5.5.3 e): a host keeps at least two hours of an
        // address's validity whatever an advertisement says.
        valid: 7_200,
        preferred: 0,
    });
    for pi in std::iter::once(current).chain(old) {
        prefix(&mut p, &pi);
    }
    // Lengths are in units of 8 bytes, in one byte: options that would not
    // fit are left out (the config allows far fewer).
    if let (false, Ok(len)) = (plan.dns.is_empty(), u8::try_from(1 + 2 * plan.dns.len())) {
        // The 8-byte head and 16 bytes per address.
        p.extend_from_slice(&[OPT_RDNSS, len, 0, 0]);
        p.extend_from_slice(&DNS_LIFETIME.to_be_bytes());
        for a in &plan.dns {
            p.extend_from_slice(&a.octets());
        }
    }
    let names: Vec<u8> = plan.search.iter().flat_map(|d| dns_name(d)).collect();
    let body = 8 + names.len();
    let padded = body.div_ceil(8) * 8;
    if let (false, Ok(len)) = (names.is_empty(), u8::try_from(padded / 8)) {
        p.extend_from_slice(&[OPT_DNSSL, len, 0, 0]);
        p.extend_from_slice(&DNS_LIFETIME.to_be_bytes());
        p.extend_from_slice(&names);
        p.resize(p.len() + padded - body, 0);
    }
    p
}

fn prefix(p: &mut Vec<u8>, pi: &PrefixInfo) {
    // L (on-link) always; A for SLAAC.
    let flags = 0x80 | (u8::from(pi.autonomous) << 6);
    p.extend_from_slice(&[OPT_PREFIX, 4, pi.net.prefix_len(), flags]);
    p.extend_from_slice(&pi.valid.to_be_bytes());
    p.extend_from_slice(&pi.preferred.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&pi.net.network().octets());
}

/// A domain in DNS wire form (RFC 1035 3.1), as DNSSL carries it. Labels
/// longer than 63 bytes were refused by the config check; cut here anyway.
fn dns_name(d: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in d.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

/// Why a solicitation is ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{0} bytes: shorter than a router solicitation")]
    Short(usize),
    #[error("ICMPv6 type {0}, not a router solicitation")]
    NotSolicitation(u8),
    #[error("code {0} (must be 0)")]
    Code(u8),
    #[error("an option of length 0 or past the end")]
    BadOption,
    #[error("hop limit {0}: sent from off the link")]
    HopLimit(u8),
    #[error("a link-layer address option from the unspecified address")]
    UnspecifiedWithAddress,
}

/// A valid router solicitation: the sender's link-layer address, if it
/// said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicitation {
    pub mac: Option<[u8; 6]>,
}

/// Check a solicitation as RFC 4861 6.1.1 says a router must: hop limit
/// 255, code 0, at least 8 bytes, every option of non-zero length within
/// the packet, and no link-layer address from the unspecified address.
/// (The kernel has checked the ICMPv6 checksum.)
pub fn solicitation(icmp: &[u8], hop_limit: u8, from: Ipv6Addr) -> Result<Solicitation, Invalid> {
    if icmp.len() < 8 {
        return Err(Invalid::Short(icmp.len()));
    }
    if icmp[0] != ROUTER_SOLICITATION {
        return Err(Invalid::NotSolicitation(icmp[0]));
    }
    if icmp[1] != 0 {
        return Err(Invalid::Code(icmp[1]));
    }
    if hop_limit != 255 {
        return Err(Invalid::HopLimit(hop_limit));
    }
    let mut mac = None;
    let mut rest = &icmp[8..];
    while !rest.is_empty() {
        let (kind, len) = match rest {
            [k, l, ..] => (*k, usize::from(*l) * 8),
            _ => return Err(Invalid::BadOption),
        };
        if len == 0 || len > rest.len() {
            return Err(Invalid::BadOption);
        }
        if kind == OPT_SOURCE_LLADDR && len == 8 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&rest[2..8]);
            mac = Some(m);
        }
        rest = &rest[len..];
    }
    if from.is_unspecified() && mac.is_some() {
        return Err(Invalid::UnspecifiedWithAddress);
    }
    Ok(Solicitation { mac })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RaPlan {
        RaPlan {
            network: "default".into(),
            interface: "virbr0".into(),
            prefix: "fd00:122::/64".parse().unwrap(),
            autonomous: true,
            managed: false,
            other: false,
            router_lifetime: 1800,
            mtu: Some(1400),
            dns: vec!["fd00:122::1".parse().unwrap()],
            search: vec!["lab.example".into()],
        }
    }

    /// The options of an advertisement, by type.
    fn options(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = &p[16..];
        while !rest.is_empty() {
            let len = usize::from(rest[1]) * 8;
            assert!(len > 0 && len <= rest.len(), "bad option in {p:?}");
            out.push((rest[0], rest[..len].to_vec()));
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn an_advertisement_carries_the_prefix_the_dns_server_and_the_domain() {
        let p = advertisement(&plan(), Some([0x52, 0x54, 0, 1, 2, 3]), &[], false);
        assert_eq!(&p[..2], &[134, 0]);
        assert_eq!(p[4], 64, "cur hop limit");
        assert_eq!(p[5], 0, "no M or O flag without DHCPv6");
        assert_eq!(u16::from_be_bytes([p[6], p[7]]), 1800);
        let opts = options(&p);
        let kinds: Vec<u8> = opts.iter().map(|o| o.0).collect();
        assert_eq!(kinds, vec![1, 5, 3, 25, 31]);
        assert_eq!(&opts[0].1[2..], &[0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!(u32::from_be_bytes(opts[1].1[4..8].try_into().unwrap()), 1400);
        let pi = &opts[2].1;
        assert_eq!((pi[2], pi[3]), (64, 0xc0), "a /64, on-link and autonomous");
        assert_eq!(u32::from_be_bytes(pi[4..8].try_into().unwrap()), VALID);
        assert_eq!(u32::from_be_bytes(pi[8..12].try_into().unwrap()), PREFERRED);
        assert_eq!(&pi[16..32], &"fd00:122::".parse::<Ipv6Addr>().unwrap().octets());
        let rdnss = &opts[3].1;
        assert_eq!(rdnss[1], 3);
        assert_eq!(
            &rdnss[8..24],
            &"fd00:122::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        let dnssl = &opts[4].1;
        assert_eq!(dnssl.len() % 8, 0);
        assert_eq!(&dnssl[8..21], b"\x03lab\x07example\x00");
    }

    #[test]
    fn isolated_ceasing_and_managed_networks_say_so() {
        let mut p = plan();
        p.router_lifetime = 0;
        let a = advertisement(&p, None, &[], false);
        assert_eq!(
            u16::from_be_bytes([a[6], a[7]]),
            0,
            "no default route on an isolated network"
        );
        let a = advertisement(&plan(), None, &[], true);
        assert_eq!(
            u16::from_be_bytes([a[6], a[7]]),
            0,
            "a router that stops says lifetime 0"
        );
        let mut p = plan();
        p.managed = true;
        p.other = true;
        p.autonomous = false;
        let a = advertisement(&p, None, &[], false);
        assert_eq!(a[5], 0xc0, "M and O");
        let pi = &options(&a).into_iter().find(|o| o.0 == 3).unwrap().1;
        assert_eq!(pi[3], 0x80, "on-link, not autonomous");
    }

    #[test]
    fn a_retired_prefix_is_deprecated_not_dropped() {
        let old: Ipv6Net = "fd00:99::/64".parse().unwrap();
        let a = advertisement(&plan(), None, &[old, plan().prefix], false);
        let prefixes: Vec<Vec<u8>> = options(&a)
            .into_iter()
            .filter(|o| o.0 == 3)
            .map(|o| o.1)
            .collect();
        assert_eq!(prefixes.len(), 2, "the current prefix once, the old one");
        let o = &prefixes[1];
        assert_eq!(&o[16..32], &old.network().octets());
        assert_eq!(u32::from_be_bytes(o[8..12].try_into().unwrap()), 0, "preferred 0");
        assert_eq!(u32::from_be_bytes(o[4..8].try_into().unwrap()), 7200);
    }

    #[test]
    fn no_dns_options_without_dns() {
        let mut p = plan();
        p.dns.clear();
        p.search.clear();
        p.mtu = None;
        let kinds: Vec<u8> = options(&advertisement(&p, None, &[], false))
            .iter()
            .map(|o| o.0)
            .collect();
        assert_eq!(kinds, vec![3]);
    }

    #[test]
    fn solicitations_are_checked_as_rfc_4861_says() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let rs = [133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 9, 9, 9];
        assert_eq!(
            solicitation(&rs, 255, ll),
            Ok(Solicitation {
                mac: Some([0x52, 0x54, 0, 9, 9, 9])
            })
        );
        assert_eq!(solicitation(&rs[..8], 255, ll), Ok(Solicitation { mac: None }));
        assert_eq!(solicitation(&rs, 64, ll), Err(Invalid::HopLimit(64)));
        assert_eq!(solicitation(&rs[..7], 255, ll), Err(Invalid::Short(7)));
        let mut bad = rs;
        bad[1] = 1;
        assert_eq!(solicitation(&bad, 255, ll), Err(Invalid::Code(1)));
        let mut bad = rs;
        bad[9] = 0;
        assert_eq!(
            solicitation(&bad, 255, ll),
            Err(Invalid::BadOption),
            "length 0 would loop"
        );
        let mut bad = rs;
        bad[9] = 2;
        assert_eq!(
            solicitation(&bad, 255, ll),
            Err(Invalid::BadOption),
            "past the end"
        );
        assert_eq!(
            solicitation(&rs[..9], 255, ll),
            Err(Invalid::BadOption),
            "a lone byte"
        );
        assert_eq!(
            solicitation(&rs, 255, Ipv6Addr::UNSPECIFIED),
            Err(Invalid::UnspecifiedWithAddress)
        );
        assert_eq!(
            solicitation(&rs[..8], 255, Ipv6Addr::UNSPECIFIED),
            Ok(Solicitation { mac: None })
        );
        let mut ra = rs;
        ra[0] = 134;
        assert_eq!(solicitation(&ra, 255, ll), Err(Invalid::NotSolicitation(134)));
    }
}
