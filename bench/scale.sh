#!/usr/bin/env bash
# `make bench BENCH=scale`: netagent's idle cost and reaction time as the
# host grows (networks x ports), each size in a namespace of its own that
# is removed afterwards. One JSON line per size; see BENCHMARKS.md.
#   SIZES="1x1 50x4 200x2 1x500" SETTLE=10 IDLE=30 bench/scale.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/netagent}
for size in ${SIZES:-1x1 50x4 200x2 1x500}; do
  ns=nascale-$$-${size}
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" python3 "$ROOT/bench/scale.py" "$BIN" "${size%x*}" "${size#*x}"
  ip netns del "$ns"
done
