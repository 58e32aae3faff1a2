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

/// Whether serving needs the device's driver first, before disks, USB and
/// input: a NIC, or a hardware RNG. The kernel's random number generator
/// is not seeded on a machine without RDRAND (QEMU's default CPU under
/// TCG) until something feeds it, and the first reader of /dev/urandom
/// before that (nft, through its JSON library) makes the kernel gather
/// timer jitter for about a second.
pub(crate) fn serving_needs(modalias: &str) -> bool {
    is_nic(modalias) || is_rng(modalias)
}

/// virtio-rng, on PCI (legacy and modern ids) or on the virtio bus.
pub(crate) fn is_rng(modalias: &str) -> bool {
    [
        "pci:v00001AF4d00001005",
        "pci:v00001AF4d00001044",
        "virtio:d00000004v",
    ]
    .iter()
    .any(|p| modalias.starts_with(p))
}

/// A PCI device of class 02 (network controller; virtio-net-pci is one
/// too) or a virtio NIC. USB NICs hang off a USB host controller, which is
/// not a NIC: they come with the rest of the hardware.
pub(crate) fn is_nic(modalias: &str) -> bool {
    if let Some(pci) = modalias.strip_prefix("pci:") {
        // pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X: hex digits are upper
        // case, so the lower-case "bc" is the class field.
        return pci
            .split_once("bc")
            .is_some_and(|(_, class)| class.starts_with("02"));
    }
    modalias.starts_with("virtio:d00000001v")
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
    fn nics_are_told_from_the_rest() {
        // virtio-net-pci, an e1000, an rtl8139.
        assert!(is_nic("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"));
        assert!(is_nic("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"));
        assert!(is_nic("pci:v000010ECd00008139sv00001AF4sd00001100bc02sc00i00"));
        assert!(is_nic("virtio:d00000001v00001AF4"));
        // virtio-rng-pci is no NIC, but serving needs it first.
        assert!(!is_nic("pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00"));
        assert!(serving_needs(
            "pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00"
        ));
        assert!(serving_needs("virtio:d00000004v00001AF4"));
        assert!(serving_needs("virtio:d00000001v00001AF4"));
        // The PIIX IDE controller, an xHCI controller, a virtio disk, a
        // USB NIC (it comes after its host controller): later.
        assert!(!serving_needs(
            "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"
        ));
        assert!(!is_nic("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"));
        assert!(!is_nic("pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30"));
        assert!(!is_nic("virtio:d00000002v00001AF4"));
        assert!(!is_nic("usb:v0BDAp8153d3000dc00dsc00dp00icFFisc00ip00in00"));
        // A vendor id with BC02 in upper case is not a class.
        assert!(!is_nic("pci:v0000BC02d00000001sv00000000sd00000000bc01sc00i00"));
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
