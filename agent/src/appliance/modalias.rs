//! Matching device modaliases against `modules.alias` patterns, as udev's
//! coldplug does: `*` any run, `?` one character, `[...]` a class. Pure.

/// Glob match with `*`, `?` and `[...]` classes (no escapes: modules.alias
/// does not use them).
pub(crate) fn matches(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&pat[p..], s[i]) {
                        if ok {
                            p += next;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                c if c == s[i] => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// `[abc]` / `[a-z]` / `[!x]` at the start of `pat`: whether `c` is in it,
/// and the class's length; None if the class is not closed.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let end = pat.iter().skip(1).position(|&b| b == b']')? + 1;
    let body = &pat[1..end];
    let (neg, body) = match body.first() {
        Some(b'!') | Some(b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == b'-' {
            hit |= body[k] <= c && c <= body[k + 2];
            k += 3;
        } else {
            hit |= body[k] == c;
            k += 1;
        }
    }
    Some((hit != neg, end + 1))
}

/// `modules.alias` lines: (pattern, module).
pub(crate) fn parse_aliases(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "alias").then_some(())?;
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// `modules.dep` lines: module name → (its file, the files it needs, in
/// load order: deepest first).
pub(crate) fn parse_deps(text: &str) -> std::collections::HashMap<String, (String, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let (file, deps) = l.split_once(':')?;
            let name = module_name(file);
            let mut d: Vec<String> = deps.split_whitespace().map(String::from).collect();
            d.reverse();
            Some((name, (file.to_string(), d)))
        })
        .collect()
}

/// `kernel/net/bridge/bridge.ko[.xz]` → `bridge`; dashes and underscores are
/// the same in module names.
pub(crate) fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_udev() {
        assert!(matches(
            b"pci:v00001AF4d00001000sv*sd*bc*sc*i*",
            b"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        assert!(!matches(
            b"pci:v00008086d000010D3sv*",
            b"pci:v00001AF4d00001000sv00001AF4"
        ));
        assert!(matches(b"virtio:d00000001v*", b"virtio:d00000001v00001AF4"));
        assert!(matches(b"acpi*:PNP0C0C:*", b"acpi:PNP0C0C:"));
        assert!(matches(
            b"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
            b"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"
        ));
        assert!(matches(
            b"input:b*v*p*e*-e*1,*k*",
            b"input:b0019v0000p0001e0000-e0,1,k74,ramlsfw"
        ));
        assert!(matches(b"dmi*:pn[Ss]urface*", b"dmi:bvn:pnSurface Pro"));
        assert!(!matches(b"dmi*:pn[!Ss]urface*", b"dmi:bvn:pnSurface Pro"));
    }

    #[test]
    fn alias_and_dep_files() {
        let a = parse_aliases(
            "# Aliases\nalias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\nalias fs-vfat vfat\n",
        );
        assert_eq!(a[1], ("fs-vfat".to_string(), "vfat".to_string()));
        let d = parse_deps("kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\nkernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\n");
        assert_eq!(
            d["bridge"].1,
            vec!["kernel/net/llc/llc.ko", "kernel/net/802/stp.ko"]
        );
        assert_eq!(
            module_name("kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz"),
            "e1000e"
        );
        assert_eq!(module_name("nf-nat.ko"), "nf_nat");
    }
}
