#!/usr/bin/env bash
# `make bench`: netagent beside dnsmasq, Kea and unbound on this machine,
# through the shared harness (../shared/bench), in one run. Results go to
# $BENCH_OUT (default ./bench-results) and the median tables to stdout.
#
#   bench/run.sh [dhcp] [dns]        (default: both)
#   bench/run.sh scale               (netagent alone: idle cost by host size)
#   bench/run.sh newguest            (a new VM's tap to its first DHCPACK)
#   bench/run.sh boot                (the appliance: PID 1 to serving, beside a busybox floor)
#   bench/run.sh dhcp6               (DHCPv6 with perfdhcp -6, beside kea-dhcp6 and dnsmasq)
#   bench/run.sh span                (a network across two hosts: iperf3, EVPN MAC learning)
# Env: DUR, RATES, CLIENTS, REPS as the harness takes them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "${*:-}" = scale ] && exec "$ROOT/bench/scale.sh"
[ "${*:-}" = newguest ] && exec "$ROOT/bench/newguest.sh"
[ "${*:-}" = boot ] && exec "$ROOT/bench/bootfloor.sh"
[ "${*:-}" = dhcp6 ] && exec "$ROOT/bench/dhcp6.sh"
[ "${*:-}" = span ] && exec "$ROOT/bench/span.sh"
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -d "$H" ] || H=$ROOT/../../shared/bench
[ -x "$H/dhcp.sh" ] || { echo "benchmark harness not found (set BENCH_HARNESS)" >&2; exit 1; }
BIN=$ROOT/target/x86_64-unknown-linux-gnu/release/netagent
export BENCH_OUT=${BENCH_OUT:-$ROOT/bench-results}
export DUR=${DUR:-10} RATES=${RATES:-0 1000 5000 10000} REPS=${REPS:-1}
rm -rf "$BENCH_OUT"; mkdir -p "$BENCH_OUT"
W=$(mktemp -d /dev/shm/netagent-bench.XXXXXX)
trap '"$H/netns.sh" down >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
what=${*:-dhcp dns}

if [[ $what == *dhcp* ]]; then
  # The reference servers use the harness's addressed veth end...
  "$H/netns.sh" up
  "$H/dhcp.sh" dnsmasq noping ping
  "$H/dhcp.sh" kea mem
  "$H/netns.sh" down
  # ...netagent makes its own bridge over the same veth pair, as it does for guests.
  BRIDGED=1 "$H/netns.sh" up
  SERVER_CMD="$BIN run -c $ROOT/bench/dhcp.toml --state-dir $W/state --lease-dir $W/leases" "$H/dhcp.sh" cmd netagent
  "$H/netns.sh" down
fi

if [[ $what == *dns* ]] && [ -f "$ROOT/bench/dns.sh" ]; then
  . "$ROOT/bench/dns.sh"
fi

python3 "$H/summarize.py" "$BENCH_OUT/results"
