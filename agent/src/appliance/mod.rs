//! netagent as PID 1 of the appliance: mount the basics, load the kernel
//! modules the hardware needs, find the config on the boot disk's FAT
//! partition, run `netagent run` as a supervised child, reap orphans, and
//! power off cleanly on the ACPI power button or a signal.

pub(crate) mod bootdisk;
pub(crate) mod console;
pub mod init;
pub(crate) mod modalias;
pub(crate) mod modules;
pub(crate) mod mounts;
pub(crate) mod power;
pub(crate) mod supervise;
