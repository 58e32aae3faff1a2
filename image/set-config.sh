#!/usr/bin/env bash
# Replace netagent.toml in an existing netagent.img, after `netagent check`
# accepts it, and its boot copy (netagent-config.img, the config the
# appliance serves before it reads any disk). No root: mtools writes the
# FAT partition inside the image.
# Usage: image/set-config.sh netagent.img my.toml [netagent binary]
set -euo pipefail
IMG=${1:?image}; CFG=${2:?config}; BIN=${3:-netagent}
"$BIN" check "$CFG"
# The EFI system partition starts at sector 2048 (1 MiB).
COPY=$(mktemp); trap 'rm -f "$COPY"' EXIT
"$(dirname "$0")/config-initrd.sh" "$CFG" "$COPY"
mcopy -o -i "$IMG@@1M" "$COPY" ::/netagent-config.img
mcopy -o -i "$IMG@@1M" "$CFG" ::/netagent.toml
echo "$IMG: netagent.toml replaced"
