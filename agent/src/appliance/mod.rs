//! netagent as PID 1 of the appliance: mount the basics, load the kernel
//! modules the hardware needs, find the config on the boot disk's FAT
//! partition, run `netagent run` as a supervised child, reap orphans, and
//! power off cleanly on the ACPI power button or a signal.

pub mod console;
pub mod init;
pub mod modalias;
pub mod modules;
pub mod mounts;
pub mod power;
pub mod supervise;
