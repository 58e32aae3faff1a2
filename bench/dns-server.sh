#!/usr/bin/env bash
# Started by the harness's dns.sh as SERVER_CMD: writes a netagent config
# serving the harness's 1,000 names ($HOSTS) in domain lan and forwarding
# *.fwd to $UPSTREAM, then runs netagent on it (BRIDGED=1 network).
set -euo pipefail
BIN=${1:?netagent binary}; DIR=${2:?work directory}
mkdir -p "$DIR"
{
  cat <<EOF2
[[network]]
name = "bench"
kind = "open"
bridge = "bbr0"
address = "10.9.0.1/16"
stp = false
ports = ["vsrv"]

[network.dns]
domain = "lan"
local_only = true
[[network.dns.forwarder]]
domain = "fwd"
addr = "$UPSTREAM"
EOF2
  awk '{printf "[[network.dns.host]]\nip = \"%s\"\nnames = [\"%s\"]\n", $1, $2}' "$HOSTS"
} >"$DIR/dns.toml"
exec "$BIN" run -c "$DIR/dns.toml" --state-dir "$DIR/state" --lease-dir "$DIR/leases"
