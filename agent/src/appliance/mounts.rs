//! The filesystems PID 1 mounts, and finding the boot disk's FAT partition
//! with `netagent.toml` on it.

use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{info, warn};

pub(crate) fn mount(
    src: &str,
    target: &str,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> std::io::Result<()> {
    let _ = std::fs::create_dir_all(target);
    nix::mount::mount(Some(src), target, Some(fstype), flags, Some(data)).map_err(std::io::Error::from)
}

/// proc, sysfs, devtmpfs, /run and /tmp.
pub(crate) fn basics() {
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (src, target, fs, flags, data) in [
        ("proc", "/proc", "proc", nosuid, ""),
        ("sysfs", "/sys", "sysfs", nosuid, ""),
        ("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID, "mode=0755"),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=0755",
        ),
        (
            "tmpfs",
            "/tmp",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=1777",
        ),
    ] {
        if let Err(e) = mount(src, target, fs, flags, data) {
            // devtmpfs may already be mounted by the kernel (CONFIG_DEVTMPFS_MOUNT).
            if e.raw_os_error() != Some(libc::EBUSY) {
                warn!("mount {fs} on {target}: {e}");
            }
        }
    }
    // What udev would add: nft reads its batch from /dev/stdin.
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(to, link);
    }
}

pub(crate) const BOOT: &str = "/boot";
pub(crate) const CONFIG_NAME: &str = "netagent.toml";

/// The config on the boot disk. Booted by systemd-boot, that is the
/// partition it loaded from (`LoaderDevicePartUUID`) and no other: a second
/// USB stick with a netagent.toml must not take over. Otherwise (a direct
/// kernel boot) each block device is mounted read-only as vfat in name
/// order until one has netagent.toml at its root. Disks can take seconds to
/// appear (USB), so keep looking until `wait` passes.
pub(crate) fn find_boot_config(wait: Duration) -> Option<PathBuf> {
    let start = Instant::now();
    let booted = super::bootdisk::loader_partuuid();
    if let Some(u) = &booted {
        info!(
            "booted from partition {u} (systemd-boot's LoaderDevicePartUUID): the config is read there only"
        );
    }
    loop {
        let devs: Vec<String> = match &booted {
            Some(u) => super::bootdisk::partition_named(u).into_iter().collect(),
            None => {
                let mut all: Vec<String> = std::fs::read_dir("/sys/class/block")
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                all.sort();
                all
            }
        };
        for d in devs {
            let dev = format!("/dev/{d}");
            if mount(&dev, BOOT, "vfat", MsFlags::MS_RDONLY, "").is_ok() {
                let p = Path::new(BOOT).join(CONFIG_NAME);
                if p.exists() {
                    info!("boot disk: {dev} has {CONFIG_NAME}");
                    return Some(p);
                }
                umount(BOOT);
                if booted.is_some() {
                    warn!("boot disk: {dev} has no {CONFIG_NAME}");
                    return None;
                }
            }
        }
        if start.elapsed() >= wait {
            if let Some(u) = &booted {
                warn!("boot disk: no FAT partition with GUID {u} appeared");
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(crate) fn umount(target: &str) {
    let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
}
