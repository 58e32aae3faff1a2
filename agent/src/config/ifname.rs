//! Linux interface names and the port patterns that select them.

/// IFNAMSIZ is 16 including the terminating NUL.
pub const MAX_IFNAME: usize = 15;

/// The port pattern that stands for every physical NIC except the uplink,
/// which is how the appliance's default network takes all its LAN ports.
pub const ALL_NICS: &str = "@nics";

/// Why `name` cannot be a Linux interface name, if it cannot.
pub fn invalid_ifname(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an interface name cannot be empty".into());
    }
    if name.len() > MAX_IFNAME {
        return Some(format!(
            "`{name}` is {} bytes long; Linux interface names have at most {MAX_IFNAME}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` cannot be an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Some(format!(
            "`{name}` contains {c:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    None
}

/// Like `invalid_ifname`, but `*` and `?` are allowed as glob characters.
pub fn invalid_port_pattern(pat: &str) -> Option<String> {
    if pat == ALL_NICS {
        return None;
    }
    let stripped: String = pat.chars().filter(|c| !matches!(c, '*' | '?')).collect();
    if stripped.is_empty() && !pat.is_empty() {
        return Some(format!(
            "`{pat}` would take every interface; name a prefix like \"vnet*\" or use \"@nics\""
        ));
    }
    if pat.len() > MAX_IFNAME {
        return Some(format!(
            "`{pat}` is {} bytes long; Linux interface names have at most {MAX_IFNAME}",
            pat.len()
        ));
    }
    invalid_ifname(&stripped).map(|m| m.replace(&stripped, pat))
}

pub fn is_glob(pat: &str) -> bool {
    pat.contains(['*', '?'])
}

/// Shell-style match of `*` and `?` against an interface name.
pub fn glob_match(pat: &str, name: &str) -> bool {
    let (p, n) = (pat.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether two port patterns could select the same interface. Exact for a
/// name against a glob; for two globs, conservative on their literal prefixes.
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    if a == ALL_NICS || b == ALL_NICS {
        return a == b;
    }
    match (is_glob(a), is_glob(b)) {
        (false, false) => a == b,
        (true, false) => glob_match(a, b),
        (false, true) => glob_match(b, a),
        (true, true) => {
            let pa = literal_prefix(a);
            let pb = literal_prefix(b);
            pa.starts_with(pb) || pb.starts_with(pa)
        }
    }
}

fn literal_prefix(p: &str) -> &str {
    &p[..p.find(['*', '?']).unwrap_or(p.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(invalid_ifname("virbr0").is_none());
        assert!(invalid_ifname("enp0s31f6").is_none());
        assert!(invalid_ifname("a-very-long-bridge0").is_some());
        assert!(invalid_ifname("br 0").is_some());
        assert!(invalid_ifname("br/0").is_some());
        assert!(invalid_ifname("").is_some());
        assert!(invalid_port_pattern("vnet*").is_none());
        assert!(invalid_port_pattern("*").is_some());
        assert!(invalid_port_pattern("@nics").is_none());
        assert!(invalid_port_pattern("tap/*").is_some());
    }

    #[test]
    fn globs() {
        assert!(glob_match("vnet*", "vnet0"));
        assert!(glob_match("vnet*", "vnet"));
        assert!(!glob_match("vnet*", "xvnet0"));
        assert!(glob_match("tap?", "tap1"));
        assert!(!glob_match("tap?", "tap12"));
        assert!(glob_match("*eth*", "veth3"));
        assert!(glob_match("eth1", "eth1"));
        assert!(!glob_match("eth1", "eth10"));
    }

    #[test]
    fn overlaps() {
        assert!(patterns_overlap("vnet*", "vnet3"));
        assert!(patterns_overlap("vnet3", "vnet*"));
        assert!(patterns_overlap("vn*", "vnet*"));
        assert!(!patterns_overlap("vnet*", "tap*"));
        assert!(!patterns_overlap("eth1", "eth2"));
        assert!(patterns_overlap("eth1", "eth1"));
        assert!(!patterns_overlap("@nics", "eth1"));
    }
}
