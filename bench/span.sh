#!/usr/bin/env bash
# `bench/run.sh span`: a network spanned over VXLAN between two netagent
# hosts (namespaces on one underlay bridge), measured with real peers:
#   - guest-to-guest TCP throughput (iperf3, DUR seconds, REPS runs) between
#     two guests on one host, and between guests on two hosts, with static
#     peers and with EVPN (FRR);
#   - with EVPN, the time from a new guest's first packet to its MAC being
#     on the other host's VXLAN device (FRR's type-2 route installed),
#     LEARN runs, polled every 5 ms.
# Guests use MTU 1450, as the home's DHCP tells them on a spanned network.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/x86_64-unknown-linux-gnu/release/netagent}
DUR=${DUR:-10} REPS=${REPS:-3} LEARN=${LEARN:-10}
OUT=${BENCH_OUT:-$ROOT/bench-results}/span
mkdir -p "$OUT"
W=$(mktemp -d /dev/shm/netagent-span.XXXXXX)
P=nsb$$
NS=()
cleanup() {
  for n in "${NS[@]}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  sleep 0.2
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; rm -rf "/etc/netns/$n"; done
  rm -rf "$W" /var/run/frr/"$P"* /etc/frr/"$P"*
}
trap cleanup EXIT
mkns() { ip netns add "$1"; NS+=("$1"); ip -n "$1" link set lo up; }

mkns ${P}u
HN=0
ip -n ${P}u link add ul type bridge; ip -n ${P}u link set ul up
ip -n ${P}u addr add 10.96.0.254/24 dev ul

# host NAME N FLOOD EXTRA: netagent at 10.96.0.N, the spanned network's home at .1.
host() {
  local h=$1 n=$2 flood=$3 extra=$4
  mkns ${P}$h
  HN=$((HN + 1))   # the underlay's end: a new name each time (a deleted pair goes asynchronously)
  ip link add up0 netns ${P}$h type veth peer name h$HN netns ${P}u
  ip -n ${P}u link set h$HN master ul up
  cat > "$W/$h.toml" <<TOML
[uplink]
interface = "up0"
address = "10.96.0.$n/24"
gateway = "10.96.0.254"

[[network]]
name = "span"
bridge = "brs"
address = "192.168.150.1/24"
ports = ["gs*"]

[network.span]
vni = 150
home = "10.96.0.1"
$flood

$extra
TOML
}
frr() {
  local h=$1
  mkdir -p /var/run/frr/${P}$h /etc/frr/${P}$h; chown frr:frr /var/run/frr/${P}$h /etc/frr/${P}$h
  : > /etc/frr/${P}$h/frr.conf
  for d in zebra bgpd; do
    ip netns exec ${P}$h /usr/lib/frr/$d -d -N ${P}$h -u frr -g frr -f /etc/frr/${P}$h/frr.conf
  done
}
start() {
  local h=$1
  ip netns exec ${P}$h "$BIN" run -c "$W/$h.toml" --state-dir "$W/st-$h" --lease-dir "$W/l-$h" > "$W/$h.log" 2>&1 &
  for _ in $(seq 100); do grep -q "networks are up" "$W/$h.log" && return 0; sleep 0.1; done
  echo "netagent on $h did not come up:"; cat "$W/$h.log"; exit 1
}
# guest NAME HOST PORT ADDR
guest() {
  mkns ${P}$1
  ip link add "$3" netns ${P}$2 type veth peer name eth0 netns ${P}$1
  ip -n ${P}$1 link set eth0 mtu 1450 up
  ip -n ${P}$1 addr add "$4/24" dev eth0
}
iperf() { # FROM TO-ADDR -> Gbit/s, median of REPS
  local from=$1 to=$2 vals=()
  for _ in $(seq "$REPS"); do
    vals+=("$(ip netns exec ${P}$from iperf3 -c "$to" -t "$DUR" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')")
  done
  printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (" NR " runs: " a[1] "-" a[NR] ")"}'
}

run_mode() { # MODE: static | evpn
  local mode=$1
  if [ "$mode" = static ]; then
    host a 1 'peers = ["10.96.0.2"]' ''; host b 2 'peers = ["10.96.0.1"]' ''
  else
    host a 1 'evpn = true' "[evpn]
asn = 65000
neighbors = [\"10.96.0.2\"]
pathspace = \"${P}a\""
    host b 2 'evpn = true' "[evpn]
asn = 65000
neighbors = [\"10.96.0.1\"]
pathspace = \"${P}b\""
    frr a; frr b
  fi
  start a; start b
  if [ "$mode" = evpn ]; then
    for _ in $(seq 300); do
      vtysh -N ${P}a -c 'show bgp l2vpn evpn summary json' 2>/dev/null | grep -q '"state":"Established"' && break; sleep 0.1
    done
  fi
  guest ga a gs1 192.168.150.10; guest ga2 a gs2 192.168.150.11; guest gb b gs1 192.168.150.20
  ip netns exec ${P}ga iperf3 -s -D --logfile "$W/iperf-$mode.log"
  sleep 0.5
  ip netns exec ${P}ga2 ping -c1 -W2 192.168.150.10 >/dev/null
  ip netns exec ${P}gb ping -c1 -W2 192.168.150.10 >/dev/null
  local one across
  one=$(iperf ga2 192.168.150.10); across=$(iperf gb 192.168.150.10)
  echo "| $mode | $one | $across |" >> "$OUT/throughput.md"
  if [ "$mode" = evpn ]; then
    : > "$OUT/learn.txt"
    for i in $(seq "$LEARN"); do
      guest gn$i b gs$((i + 10)) 192.168.150.$((i + 100))
      local mac; mac=$(ip -n ${P}gn$i link show eth0 | awk '/link\/ether/ {print $2}')
      sleep 0.3   # the port joins the bridge
      local t0 t1
      t0=$(date +%s%N)
      ip netns exec ${P}gn$i ping -c1 -W1 192.168.150.1 >/dev/null 2>&1 &
      until bridge -n ${P}a fdb show dev vx150 | grep -q "^$mac .*extern_learn"; do
        sleep 0.005
        [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 10000 ] && { echo "no type-2 route for $mac in 10 s"; break; }
      done
      t1=$(date +%s%N)
      echo $(( (t1 - t0) / 1000000 )) >> "$OUT/learn.txt"
    done
  fi
  for n in "${NS[@]}"; do [ "$n" = ${P}u ] || { ip netns pids "$n" | xargs -r kill -9 2>/dev/null || true; }; done
  sleep 0.3
  for n in "${NS[@]}"; do [ "$n" = ${P}u ] || ip netns del "$n"; done
  NS=(${P}u)
  rm -rf /var/run/frr/"$P"* /etc/frr/"$P"*
}

echo "| flood | one host (Gbit/s) | across two hosts over VXLAN (Gbit/s) |" > "$OUT/throughput.md"
echo "|---|---|---|" >> "$OUT/throughput.md"
run_mode static
run_mode evpn
cat "$OUT/throughput.md"
echo
sort -n "$OUT/learn.txt" | awk '{a[NR]=$1} END {printf "EVPN MAC learning (first packet on B to the MAC on A'"'"'s vx150): median %d ms, min %d, max %d over %d guests\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
