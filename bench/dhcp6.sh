#!/usr/bin/env bash
# `make bench BENCH=dhcp6`: DHCPv6 exchanges (SOLICIT/ADVERTISE,
# REQUEST/REPLY) per second with perfdhcp -6, netagent beside Kea's
# kea-dhcp6 and dnsmasq, measured the way ../shared/bench/dhcp.sh measures
# DHCPv4: the server in netns bsrv pinned to CPU 1, perfdhcp in bcli on
# CPU 0, one veth pair (server fd00:9::1/64), leases on tmpfs. perfdhcp
# multicasts on the link (no relay), as a guest does.
# Env: DUR=10 (s/run)  RATES="0 1000 5000" (0 = unlimited)  CLIENTS=50000  REPS=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -d "$H" ] || H=$ROOT/../../shared/bench
. "$H/lib.sh"
BIN=$ROOT/target/x86_64-unknown-linux-gnu/release/netagent
OUT=${BENCH_OUT:-$ROOT/bench-results}; mkdir -p "$OUT/results" "$OUT/logs"; cd "$OUT"
DUR=${DUR:-10}; RATES=${RATES:-0 1000 5000}; CLIENTS=${CLIENTS:-50000}; REPS=${REPS:-1}
W=$(mktemp -d /dev/shm/bench-dhcp6.XXXXXX)
SPID=
trap '[[ -z $SPID ]] || stop_pid "$SPID"; "$H/netns.sh" down >/dev/null 2>&1 || true; rm -rf "$W"' EXIT

kea_conf() {
  cat >"$W/kea6.json" <<EOF2
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "vsrv" ] },
  "lease-database": { "type": "memfile", "persist": false, "name": "$W/kea6.leases", "lfc-interval": 0 },
  "multi-threading": { "enable-multi-threading": false },
  "server-id": { "type": "LL", "persist": false },
  "preferred-lifetime": 3600, "valid-lifetime": 3600,
  "subnet6": [ { "id": 1, "subnet": "fd00:9::/64", "interface": "vsrv",
                 "pools": [ { "pool": "fd00:9::1:0 - fd00:9::ffff:ffff" } ] } ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "stdout" } ], "severity": "WARN" } ] } }
EOF2
}

set_cmd() { # $1 = server -> array CMD
  case $1 in
    kea)      kea_conf; CMD=(kea-dhcp6 -c "$W/kea6.json") ;;
    dnsmasq)  CMD=(dnsmasq -k --conf-file=/dev/null --pid-file= --port=0 --interface=vsrv --bind-interfaces
                   --dhcp-range=fd00:9::1:0,fd00:9::ffff:ffff,64,3600 --dhcp-lease-max=100000
                   --dhcp-leasefile="$W/dnsmasq6.leases" --quiet-dhcp6 --log-facility=-) ;;
    netagent) CMD=("$BIN" run -c "$ROOT/bench/dhcp6.toml" --state-dir "$W/state" --lease-dir "$W/leases") ;;
  esac
}

# Both ends need IPv6: fd00:9::1 on the server's side (netagent puts it on
# its bridge), fd00:9::2 on the client's, and link-local addresses past DAD.
net_up() { # $1 = server
  if [ "$1" = netagent ]; then BRIDGED=1 "$H/netns.sh" up >/dev/null; else "$H/netns.sh" up >/dev/null; fi
  [ "$1" = netagent ] || ip -n bsrv -6 addr add fd00:9::1/64 dev vsrv nodad
  ip -n bcli -6 addr add fd00:9::2/64 dev vcli nodad
  for _ in $(seq 50); do
    ip -n bcli -6 addr show dev vcli scope link | grep -q tentative || break; sleep 0.1
  done
}

run_one() { # $1 server  $2 rate  $3 tag; sets HWM SRV_CPU NOISE
  local ropt=() log="logs/$3"
  [[ $2 == 0 ]] || ropt=(-r "$2")
  rm -rf "$W"/*.leases* "$W/leases"; set_cmd "$1"; wait_quiet
  export KEA_PIDFILE_DIR=$W KEA_LOCKFILE_DIR=none
  echo "+ ${CMD[*]}" >"$log.server.log"; start_srv "${CMD[@]}" >>"$log.server.log" 2>&1
  wait_udp bsrv 547 && kill -0 "$SPID" || { echo "server failed, see $log.server.log" >&2; exit 1; }
  sleep 1   # netagent's bridge: its link-local address past DAD
  echo "+ perfdhcp -6 -l vcli -R $CLIENTS -p $DUR ${ropt[*]}" >"$log.perfdhcp.log"
  mark_start
  timeout $((DUR + 20)) ip netns exec bcli taskset -c 0 \
    perfdhcp -6 -l vcli -R "$CLIENTS" -p "$DUR" "${ropt[@]}" >>"$log.perfdhcp.log" 2>&1 || true
  mark_end; HWM=$(peak_rss_kb "$SPID"); stop_pid "$SPID"; SPID=
}

report() { # $1 server $2 rate $3 rep $4 tag
  awk -v s="$1" -v r="$2" -v k="$3" -v c="$SRV_CPU" -v cc="$CLI_CPU" -v n="$NOISE" -v h="$HWM" '
    /^Rate:/ {ach=$2}
    /sent packets/ {x++; sent[x]=$3}  /received packets/ {recv[x]=$3}  /avg delay/ {lat[x]=$3}
    END { tr = r ? r : "max"
          d = sent[1] ? 100*(1-recv[2]/sent[1]) : 100     # SOLICITs that never got a REPLY
          printf "DHCPv6 %-8s target=%-5s rep=%s achieved=%8.1f exchanges/s drop=%5.1f%% lat SA/RR=%s/%s ms srv_cpu=%s%% cli_cpu=%s%% noise=%s%% peakRSS=%s kB\n", s,tr,k,ach,d,lat[1],lat[2],c,cc,n,h
          printf "%s\t%s\t%s\t%.1f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\n", s,tr,k,ach,d,lat[1],lat[2],c,cc,n,h >> "results/dhcp6.tsv" }' \
    "logs/$4.perfdhcp.log"
}

for server in ${SERVERS:-kea dnsmasq netagent}; do
  net_up "$server"
  for rate in $RATES; do for rep in $(seq "$REPS"); do
    tag="dhcp6-$server-r$rate-$rep"
    for try in $(seq "$TRIES"); do
      run_one "$server" "$rate" "$tag"
      (( NOISE <= NOISE_MAX )) && break
      echo "  (noise ${NOISE}% > ${NOISE_MAX}%, try $try/$TRIES)" >&2
    done
    report "$server" "$rate" "$rep" "$tag"
  done; done
  "$H/netns.sh" down >/dev/null
done
