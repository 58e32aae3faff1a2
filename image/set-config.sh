#!/usr/bin/env bash
# Replace netagent.toml in an existing netagent.img, after `netagent check`
# accepts it. No root: mtools writes the FAT partition inside the image.
# Usage: image/set-config.sh netagent.img my.toml [netagent binary]
set -euo pipefail
IMG=${1:?image}; CFG=${2:?config}; BIN=${3:-netagent}
"$BIN" check "$CFG"
# The EFI system partition starts at sector 2048 (1 MiB).
mcopy -o -i "$IMG@@1M" "$CFG" ::/netagent.toml
echo "$IMG: netagent.toml replaced"
