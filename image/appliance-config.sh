#!/usr/bin/env bash
# The appliance's config: config/default.toml and a status page on the LAN
# bridge, with a password made once for this build tree (kept in
# PASSWORD_FILE, so that a second build gives the same bytes) and written
# into netagent.toml on the boot disk, where the box's owner finds it; the
# appliance also prints it on its console.
# Usage: image/appliance-config.sh DEFAULT_TOML PASSWORD_FILE OUT_TOML
set -euo pipefail
DEFAULT=${1:?default config}; PWFILE=${2:?password file}; OUT=${3:?output}
mkdir -p "$(dirname "$PWFILE")" "$(dirname "$OUT")"
if [ ! -s "$PWFILE" ]; then
  # 26 hex digits (104 bits): fits a URL and a kernel command line.
  (umask 077; od -An -tx1 -N13 /dev/urandom | tr -d ' \n' > "$PWFILE")
fi
{
  cat "$DEFAULT"
  printf '\n# The status page and /metrics, from a guest on virbr0: user netagent,\n'
  printf '# this password (made when the image was built).\n'
  printf '[status]\nlisten = ["192.168.122.1:9189"]\npassword = "%s"\n' "$(cat "$PWFILE")"
} > "$OUT"
