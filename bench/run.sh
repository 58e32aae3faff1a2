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
#   bench/run.sh libvirt             (adopt-libvirt and --undo: how long running guests lose their network)
#   bench/run.sh portsec             (port security on and off: iperf3 between guests and out, DHCP)
# Env: DUR, RATES, CLIENTS, REPS as the harness takes them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "${*:-}" = scale ] && exec "$ROOT/bench/scale.sh"
[ "${*:-}" = newguest ] && exec "$ROOT/bench/newguest.sh"
[ "${*:-}" = boot ] && exec "$ROOT/bench/bootfloor.sh"
[ "${*:-}" = dhcp6 ] && exec "$ROOT/bench/dhcp6.sh"
[ "${*:-}" = span ] && exec "$ROOT/bench/span.sh"
[ "${*:-}" = libvirt ] && exec "$ROOT/bench/libvirt.sh"
[ "${*:-}" = portsec ] && exec "$ROOT/bench/portsec.sh"
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

# Every DHCP server answers through the same path: a bridge holding
# 10.9.0.1/16 with the client's veth as its port, as a VM host's guests
# reach it. netagent makes that bridge itself; for dnsmasq and Kea, whose
# harness configs name the interface `vsrv`, the veth end is renamed and
# a bridge called `vsrv` takes its place. DHCP_PLAIN=1 runs them on the
# bare veth instead (the cheaper path for the client's core, ~4 %).
dhcp_ref_net_up() {
  if [ -n "${DHCP_PLAIN:-}" ]; then "$H/netns.sh" up; return; fi
  BRIDGED=1 "$H/netns.sh" up
  ip -n bsrv link set vsrv name vsrvp
  ip -n bsrv link add vsrv type bridge stp_state 0 forward_delay 0
  ip -n bsrv link set vsrvp master vsrv
  ip -n bsrv addr add 10.9.0.1/16 dev vsrv
  ip -n bsrv link set vsrv up
  ip -n bsrv link set vsrvp up
}
dhcp_round() { # $1: dnsmasq modes
  dhcp_ref_net_up
  "$H/dhcp.sh" dnsmasq $1
  "$H/dhcp.sh" kea mem
  "$H/netns.sh" down
  BRIDGED=1 "$H/netns.sh" up
  SERVER_CMD="$BIN run -c $ROOT/bench/dhcp.toml --state-dir $W/state --lease-dir $W/leases" "$H/dhcp.sh" cmd netagent
  "$H/netns.sh" down
}

if [[ $what == *dhcp* ]]; then
  dhcp_round "noping ping"
  # Full load once more with perfdhcp in one thread. By default it runs a
  # receiving thread beside its sending one, and the harness pins both to
  # one core: the two then take turns, answers pile up unread in its
  # socket while the sender runs, and the "drops" measure that contest
  # more than the server (counted with nstat: ~85 % of them overflow
  # perfdhcp's own queue). In one thread it reads between sends.
  BENCH_OUT=$BENCH_OUT/single RATES=0 PD_OPTS="-g single" dhcp_round noping
fi

if [[ $what == *dns* ]] && [ -f "$ROOT/bench/dns.sh" ]; then
  . "$ROOT/bench/dns.sh"
fi

python3 "$H/summarize.py" "$BENCH_OUT/results"
if [ -d "$BENCH_OUT/single/results" ]; then
  echo; echo "DHCP at full load, perfdhcp in one thread (-g single):"
  python3 "$H/summarize.py" "$BENCH_OUT/single/results"
fi
