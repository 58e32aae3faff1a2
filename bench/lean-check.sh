#!/usr/bin/env bash
# `make lean-check` (part of `make test`): bounds that do not depend on
# timing, so that what BENCHMARKS.md's scale table says cannot quietly
# regress again (95.9 MiB at 200 networks went unnoticed once).
#   - RSS of the release binary serving 200 networks x 2 ports (DHCP and
#     DNS on each, no traffic), in a namespace of its own: at most RSS_MAX MiB.
#   - The count of `unsafe` blocks, impls and fns in agent/src: at most
#     UNSAFE_MAX, all in util/sys.rs (the crate denies unsafe code
#     elsewhere, and this check says so before the compiler does).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/netagent}
RSS_MAX=${RSS_MAX:-18}
UNSAFE_MAX=4

count=$(grep -rEo 'unsafe (\{|impl|fn)' "$ROOT/agent/src" --include=*.rs | wc -l)
echo "unsafe: $count (ceiling $UNSAFE_MAX)"
if [ "$count" -gt "$UNSAFE_MAX" ]; then
  echo "unsafe code grew past $UNSAFE_MAX: use a crate's safe call, or say in the one module that holds it why none can do" >&2
  grep -rn -E 'unsafe (\{|impl|fn)' "$ROOT/agent/src" --include=*.rs >&2
  exit 1
fi
elsewhere=$(grep -rlE 'unsafe (\{|impl|fn)|allow\(unsafe_code\)' "$ROOT/agent/src" --include=*.rs | grep -v '/util/sys.rs$' | grep -v '/util/mod.rs$' || true)
if [ -n "$elsewhere" ]; then
  echo "unsafe code outside agent/src/util/sys.rs: $elsewhere" >&2
  exit 1
fi

ns=nalean-$$
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
line=$(SETTLE=${SETTLE:-3} IDLE=${IDLE:-3} ip netns exec "$ns" python3 "$ROOT/bench/scale.py" "$BIN" 200 2)
echo "scale 200x2: $line"
python3 - "$line" "$RSS_MAX" <<'PY'
import json, sys
r, bound = json.loads(sys.argv[1]), float(sys.argv[2])
if r["rss_mib"] > bound:
    sys.exit(f"RSS at 200 networks x 2 ports is {r['rss_mib']} MiB, over the bound of {bound} MiB")
print(f"RSS at 200 networks x 2 ports: {r['rss_mib']} MiB (bound {bound} MiB)")
PY
