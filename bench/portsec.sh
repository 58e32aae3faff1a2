#!/usr/bin/env bash
# `make bench BENCH=portsec`: what port security costs, on and off.
#   - TCP throughput (iperf3, DUR seconds, REPS runs) guest to guest on one
#     bridge, and guest to the outside through NAT. The guests hold
#     declared addresses (port_security.allow), so every frame of theirs
#     meets every check: its MAC, its address, servers, ARP.
#   - DHCP through the shared harness (perfdhcp as a relay, from one port):
#     netagent with the guard on (the relay's port trusted, as a relay must
#     be) and off, RATES per second, REPS runs.
# PARTS="iperf dhcp" (default both).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/netagent}
DUR=${DUR:-10} REPS=${REPS:-3}
OUT=${BENCH_OUT:-$ROOT/bench-results}/portsec
mkdir -p "$OUT"
W=$(mktemp -d /dev/shm/netagent-portsec.XXXXXX)
P=nps$$
NS=()
cleanup() {
  for n in "${NS[@]}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  sleep 0.2
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; rm -rf "/etc/netns/$n"; done
  rm -rf "$W"
}
trap cleanup EXIT
mkns() { ip netns add "$1"; NS+=("$1"); ip -n "$1" link set lo up; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

mkns ${P}a; mkns ${P}o
ip link add up0 netns ${P}a type veth peer name out0 netns ${P}o
ip -n ${P}o addr add 10.99.0.1/24 dev out0; ip -n ${P}o link set out0 up
for g in 1 2; do
  mkns ${P}g$g
  ip link add pg$g netns ${P}a type veth peer name eth0 netns ${P}g$g
  ip -n ${P}g$g addr add 192.168.140.1$g/24 dev eth0; ip -n ${P}g$g link set eth0 up
  ip -n ${P}g$g route add default via 192.168.140.1
done
config() { # $1: the port_security table's body
  cat > "$W/n.toml" <<TOML
[uplink]
interface = "up0"
address = "10.99.0.2/24"
gateway = "10.99.0.1"

[[network]]
name = "ps"
bridge = "brps"
address = "192.168.140.1/24"
stp = false
ports = ["pg*"]

[network.port_security]
$1
TOML
}
MAC1=$(ip -n ${P}g1 -br link show eth0 | awk '{print $3}')
MAC2=$(ip -n ${P}g2 -br link show eth0 | awk '{print $3}')
ON="enabled = true
[[network.port_security.allow]]
mac = \"$MAC1\"
ip = \"192.168.140.11\"
[[network.port_security.allow]]
mac = \"$MAC2\"
ip = \"192.168.140.12\""
OFF="enabled = false"

config "$ON"
ip netns exec ${P}a "$BIN" run -c "$W/n.toml" --state-dir "$W/st" --lease-dir "$W/l" > "$W/agent.log" 2>&1 &
for _ in $(seq 100); do grep -q "networks are up" "$W/agent.log" && break; sleep 0.1; done
ip netns exec ${P}o iperf3 -s -D >/dev/null 2>&1
ip netns exec ${P}g2 iperf3 -s -D >/dev/null 2>&1

iperf() { # $1 ns $2 target -> Gbit/s
  ip netns exec "$1" iperf3 -c "$2" -t "$DUR" -J 2>/dev/null \
    | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}
for state in on off; do
  if [ $state = off ]; then config "$OFF"; ip netns exec ${P}a "$BIN" reload --state-dir "$W/st" >/dev/null; sleep 1; fi
  # Pinned MACs and bound addresses in place before measuring.
  ip netns exec ${P}g1 ping -c 2 -W 1 192.168.140.12 >/dev/null; sleep 1.5
  for target in g2 outside; do
    addr=192.168.140.12; [ $target = outside ] && addr=10.99.0.1
    vals=()
    for _ in $(seq "$REPS"); do vals+=("$(iperf ${P}g1 $addr)"); done
    echo "iperf3 guest to $target, port security $state: ${vals[*]} Gbit/s; median $(printf '%s\n' "${vals[@]}" | median)" | tee -a "$OUT/iperf.txt"
  done
done
if [ "$(ip netns exec ${P}a nft list tables)" != "table inet netagent" ]; then
  echo "the bridge table outlived port security = false:"; ip netns exec ${P}a nft list tables; exit 1
fi

[[ ${PARTS:-iperf dhcp} == *dhcp* ]] || exit 0

# DHCP through the harness: the relay's port trusted, and the guard off.
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -x "$H/dhcp.sh" ] || H=$ROOT/../../shared/bench
# bench/dhcp.toml trusts the relay's port; off, the guard is not there.
cp "$ROOT/bench/dhcp.toml" "$W/dhcp-on.toml"
sed 's/^trusted = \["vsrv"\]$/enabled = false/' "$ROOT/bench/dhcp.toml" > "$W/dhcp-off.toml"
grep -q '^enabled = false$' "$W/dhcp-off.toml" || { echo "bench/dhcp.toml does not trust vsrv as expected"; exit 1; }
export BENCH_OUT=$OUT DUR RATES=${RATES:-0 10000} REPS
for state in on off; do
  BRIDGED=1 "$H/netns.sh" up
  SERVER_CMD="$BIN run -c $W/dhcp-$state.toml --state-dir $W/dst-$state --lease-dir $W/dl-$state" "$H/dhcp.sh" cmd "portsec-$state"
  "$H/netns.sh" down
done
python3 "$H/summarize.py" "$OUT/results"
