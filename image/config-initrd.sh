#!/usr/bin/env bash
# The boot copy of a config: an uncompressed cpio holding it as
# /etc/netagent/boot.toml, loaded by systemd-boot as the loader entry's
# second initrd (netagent-config.img on the EFI system partition). The
# kernel unpacks it beside the initramfs, so PID 1 serves this config
# before any disk driver loads; it then reads netagent.toml from the
# partition and applies it if it differs. Reproducible: fixed time, owner.
# Usage: image/config-initrd.sh CONFIG OUT
set -euo pipefail
CFG=$(realpath "${1:?config}"); OUT=${2:?output file}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/etc/netagent"
cp "$CFG" "$T/etc/netagent/boot.toml"
find "$T" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-1700000000}" {} +
(cd "$T" && printf '%s\n' etc etc/netagent etc/netagent/boot.toml |
  cpio -o -H newc -R 0:0 --reproducible --quiet) > "$OUT"
