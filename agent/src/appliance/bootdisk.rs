//! Which partition the appliance booted from. systemd-boot records it in
//! the EFI variable `LoaderDevicePartUUID`: the GPT unique GUID of the
//! partition it was loaded from (the one holding netagent.toml). The kernel
//! does not show partition GUIDs in sysfs, so each disk's GPT is read to
//! find the partition with that GUID. Without the variable (a direct kernel
//! boot, a BIOS boot) there is no answer, and the caller looks on every disk.

use std::io::Read;
use std::path::Path;

/// systemd-boot's vendor GUID for its variables.
const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// The partition GUID in an efivarfs file's bytes: 4 bytes of attributes,
/// then UTF-16LE text ending in NUL. Lower case, as `format_guid` writes.
pub(crate) fn parse_loader_var(bytes: &[u8]) -> Option<String> {
    let text: Vec<u16> = bytes
        .get(4..)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|c| *c != 0)
        .collect();
    let s = String::from_utf16(&text).ok()?.trim().to_ascii_lowercase();
    (s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(s)
}

/// A GUID as the text form writes it: the first three fields are stored
/// little-endian, the rest as bytes.
fn format_guid(g: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

/// How much of a disk to read to see its whole GPT: the header and 128
/// entries of 128 bytes, on 512- or 4096-byte sectors.
pub(crate) const GPT_SPAN: usize = 4096 * 2 + 128 * 128;

/// The number (1-based) of the partition whose unique GUID is `uuid`, in
/// the first bytes of a disk; None if it has no GPT or no such partition.
pub(crate) fn partition_number(disk: &[u8], uuid: &str) -> Option<u32> {
    for sector in [512usize, 4096] {
        let h = disk.get(sector..sector + 92)?;
        if &h[..8] != b"EFI PART" {
            continue;
        }
        let le32 = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let lba = u64::from_le_bytes(h[72..80].try_into().ok()?);
        let (count, size) = (le32(80) as usize, le32(84) as usize);
        if size < 32 {
            return None;
        }
        let start = usize::try_from(lba).ok()?.checked_mul(sector)?;
        for i in 0..count.min(256) {
            let Some(e) = disk.get(start + i * size..start + i * size + 32) else {
                break;
            };
            if e[16..32].iter().any(|b| *b != 0) && format_guid(&e[16..32]) == uuid {
                return u32::try_from(i + 1).ok();
            }
        }
        return None;
    }
    None
}

/// The GUID systemd-boot says it booted from; mounts efivarfs if need be.
pub(crate) fn loader_partuuid() -> Option<String> {
    if !Path::new("/sys/firmware/efi").exists() {
        return None;
    }
    let var = format!("{EFIVARS}/LoaderDevicePartUUID-{LOADER_GUID}");
    if !Path::new(&var).exists() {
        let _ = super::mounts::mount(
            "efivarfs",
            EFIVARS,
            "efivarfs",
            nix::mount::MsFlags::MS_RDONLY
                | nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            "",
        );
    }
    parse_loader_var(&std::fs::read(var).ok()?)
}

/// The block device (`vda1`) of the partition with GUID `uuid`, among the
/// disks there are now.
pub(crate) fn partition_named(uuid: &str) -> Option<String> {
    let disks = std::fs::read_dir("/sys/block").ok()?;
    for d in disks.flatten() {
        let disk = d.file_name().to_string_lossy().into_owned();
        let mut head = vec![0u8; GPT_SPAN];
        let Ok(mut f) = std::fs::File::open(format!("/dev/{disk}")) else {
            continue;
        };
        let mut got = 0;
        while got < head.len() {
            match f.read(&mut head[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let Some(n) = partition_number(&head[..got], uuid) else {
            continue;
        };
        // The partition is the child directory of the disk whose
        // `partition` file holds its number.
        let children = std::fs::read_dir(d.path()).ok()?;
        for c in children.flatten() {
            let p = std::fs::read_to_string(c.path().join("partition")).unwrap_or_default();
            if p.trim() == n.to_string() {
                return Some(c.file_name().to_string_lossy().into_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "9c1a7bd4-31f2-4f4e-8d3b-0f2e6a6e5c01";

    fn guid_bytes(s: &str) -> [u8; 16] {
        let h: Vec<u8> = (0..16)
            .map(|i| {
                let hex: String = s.chars().filter(|c| *c != '-').skip(i * 2).take(2).collect();
                u8::from_str_radix(&hex, 16).unwrap()
            })
            .collect();
        [
            h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
            h[15],
        ]
    }

    /// A disk whose GPT (on `sector`-byte sectors) has an empty entry, then
    /// a partition with another GUID, then ours as the third.
    fn disk(sector: usize) -> Vec<u8> {
        let mut d = vec![0u8; GPT_SPAN];
        let h = sector;
        d[h..h + 8].copy_from_slice(b"EFI PART");
        d[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
        d[h + 80..h + 84].copy_from_slice(&128u32.to_le_bytes());
        d[h + 84..h + 88].copy_from_slice(&128u32.to_le_bytes());
        let e = 2 * sector;
        d[e + 128 + 16..e + 128 + 32].copy_from_slice(&guid_bytes("11111111-2222-3333-4444-555555555555"));
        d[e + 256 + 16..e + 256 + 32].copy_from_slice(&guid_bytes(UUID));
        d
    }

    #[test]
    fn systemd_boots_variable_is_read() {
        let mut v = vec![6, 0, 0, 0];
        for c in UUID.to_ascii_uppercase().encode_utf16().chain([0]) {
            v.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(parse_loader_var(&v).as_deref(), Some(UUID));
        assert_eq!(parse_loader_var(&v[..3]), None);
        assert_eq!(parse_loader_var(&[6, 0, 0, 0, b'x', 0, 0, 0]), None);
    }

    #[test]
    fn the_partition_is_found_by_its_guid_on_either_sector_size() {
        for sector in [512, 4096] {
            let d = disk(sector);
            assert_eq!(partition_number(&d, UUID), Some(3), "{sector}-byte sectors");
            assert_eq!(partition_number(&d, "00000000-0000-0000-0000-000000000001"), None);
        }
        // No GPT (a FAT file system on the whole stick), or a torn one.
        assert_eq!(partition_number(&vec![0u8; GPT_SPAN], UUID), None);
        assert_eq!(partition_number(&disk(512)[..700], UUID), None);
    }
}
