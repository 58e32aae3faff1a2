#!/usr/bin/env bash
# `make bench BENCH=libvirt`: how long running guests lose their network
# when `adopt-libvirt` takes a libvirt 9 network over and when `--undo`
# gives it back. Runs the drop-in test (real libvirtd, iPXE domains, a
# guest pinging its gateway every 10 ms) RUNS times and reports, per run,
# the handover as netagent measured it (bridge down or missing) and the
# longest silence the pinging guest heard; then the medians.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cd "$ROOT"
cargo test --quiet --test netns_libvirt --no-run >/dev/null 2>&1
for i in $(seq 1 "$RUNS"); do
  NETAGENT_TESTS_NEED_ROOT=1 cargo test --quiet --test netns_libvirt netns_libvirt_adopt_keeps -- --nocapture > "$W/run$i.log" 2>&1 \
    || { echo "run $i failed:"; tail -30 "$W/run$i.log"; exit 1; }
  bridge=$(grep -o 'without a working bridge for [0-9.]* ms' "$W/run$i.log" | grep -o '[0-9.]*' | head -1)
  heard=$(grep -o 'heard nothing for [0-9]* ms' "$W/run$i.log" | grep -o '[0-9]*')
  adopt=$(echo "$heard" | sed -n 1p); undo=$(echo "$heard" | sed -n 2p)
  undo_bridge=$(grep -o 'without a bridge for [0-9]* ms' "$W/run$i.log" | grep -o '[0-9]*' | head -1)
  echo "run $i: adopt: bridge down/missing $bridge ms, guest heard nothing $adopt ms; undo: bridge missing $undo_bridge ms, guest heard nothing $undo ms"
  echo "$bridge $adopt $undo_bridge $undo" >> "$W/all"
done
col() { awk -v c="$1" '{print $c}' "$W/all" | median; }
echo "medians of $RUNS: adopt: bridge $(col 1) ms, guest $(col 2) ms; undo: bridge $(col 3) ms, guest $(col 4) ms"
