#!/usr/bin/env bash
# `make bench BENCH=newguest`: from a VM's tap appearing to the guest's
# DHCPACK, with a client that retries every 50 ms (bench/newguest.py), for
# netagent as configured by default on a host (VM ports, STP off), netagent
# told `stp = true` (libvirt's default), and dnsmasq on an STP bridge with
# the tap enslaved by hand, as libvirt runs them. Median of RUNS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/netagent}
RUNS=${RUNS:-5}
S=nabench-srv-$$ G=nabench-gst-$$ W=$(mktemp -d)
cleanup() { kill "${SRV:-0}" 2>/dev/null || true; wait 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true; ip netns del "$G" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

run() { # label, then the tap enslaving bridge for dnsmasq (empty for netagent)
  local label=$1 bridge=${2:-} out=()
  for i in $(seq 1 "$RUNS"); do
    out+=("$(python3 "$ROOT/bench/newguest.py" "$S" "$G" "vnet$i" $bridge)")
    ip -n "$S" link del "vnet$i" 2>/dev/null || true
  done
  echo "$label: ${out[*]} ms; median $(printf '%s\n' "${out[@]}" | median) ms"
}

for stp in default true; do
  ip netns add "$S"; ip netns add "$G"; ip -n "$S" link set lo up
  extra=""; [ "$stp" = true ] && extra="stp = true"
  printf '[[network]]\nname = "vms"\nkind = "isolated"\nbridge = "virbr0"\naddress = "10.200.0.1/24"\nports = ["vnet*"]\n%s\n[network.dhcp]\n' "$extra" > "$W/n.toml"
  ip netns exec "$S" "$BIN" run -c "$W/n.toml" --state-dir "$W/state" --lease-dir "$W/leases-$stp" 2>"$W/agent.log" & SRV=$!
  until grep -q "networks are up" "$W/agent.log"; do sleep 0.1; done
  run "netagent (stp $stp)"
  kill $SRV; wait $SRV 2>/dev/null || true
  ip netns del "$S"; ip netns del "$G"
done

ip netns add "$S"; ip netns add "$G"; ip -n "$S" link set lo up
ip -n "$S" link add virbr0 type bridge stp_state 1 forward_delay 200
ip -n "$S" addr add 10.200.0.1/24 dev virbr0; ip -n "$S" link set virbr0 up
ip netns exec "$S" dnsmasq -k --conf-file=/dev/null --pid-file= --bind-interfaces --interface=virbr0 --except-interface=lo \
  --dhcp-range=10.200.0.2,10.200.0.254,1h --dhcp-leasefile="$W/dnsmasq.leases" --port=0 2>/dev/null & SRV=$!
sleep 1
run "dnsmasq, STP bridge (as libvirt runs it)" virbr0
