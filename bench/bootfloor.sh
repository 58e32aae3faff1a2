#!/usr/bin/env bash
# `make bench BENCH=boot`: the appliance's boot under QEMU/TCG, PID 1 to
# DHCP serving, beside a floor: the same kernel and the same initramfs
# contents with a busybox shell script as /init doing the same serving
# work with the thinnest tools (busybox modprobe of the same modules, a
# bridge by busybox ip, the same nft ruleset through nft -j, busybox
# udhcpd), the hardware RNG's driver first as netagent's PID 1 does. No
# NIC: only the serving path is timed. Each boot runs in a
# network namespace of its own; nothing leaves it.
#   Env: IMAGE (default build/image), BOOTS (default 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${IMAGE:-$ROOT/build/image}
BOOTS=${BOOTS:-3}
BIN=$ROOT/target/x86_64-unknown-linux-gnu/release/netagent
[ -f "$IMAGE/initramfs.img" ] || { echo "no $IMAGE/initramfs.img: make image first" >&2; exit 1; }
W=$(mktemp -d /tmp/netagent-bootfloor.XXXXXX)
NS=nabf$$
ip netns add $NS
trap 'ip netns del $NS 2>/dev/null || true; rm -rf "$W"' EXIT

# The floor's initramfs: the appliance's tree, busybox from the guest's.
mkdir -p "$W/floor" "$W/guest"
(cd "$W/floor" && zstd -dc "$IMAGE/initramfs.img" | cpio -id --quiet)
(cd "$W/guest" && zstd -dc "$IMAGE/guest-initramfs.img" 2>/dev/null | cpio -id --quiet \
  || (cd "$W/guest" && gzip -dc "$IMAGE/guest-initramfs.img" | cpio -id --quiet))
mkdir -p "$W/floor/bin"
cp "$W/guest/bin/busybox" "$W/floor/bin/busybox"
# The ruleset the appliance loads for its embedded default, as the batch
# netagent hands nft (our table added, emptied and filled in one go).
"$BIN" plan --nft-json | python3 -c '
import json, sys
rs = json.load(sys.stdin)["nftables"]
t = {"table": {"family": "inet", "name": "netagent"}}
print(json.dumps({"nftables": [{"add": t}, {"delete": t}] + rs}))' > "$W/floor/rules.json"
MODULES="virtio_pci virtio_rng "$(sed -n '/^pub(crate) const SERVING/,/^];/p' "$ROOT/agent/src/appliance/modules.rs" | grep -o '"[a-z0-9_]*"' | tr -d '"' | tr '\n' ' ')
cat > "$W/floor/init" <<EOF2
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
t() { echo "floor: \$1 at \$(cut -d' ' -f1 /proc/uptime) s"; }
t "init started"
for m in $MODULES; do modprobe \$m 2>/dev/null; done
t "serving modules loaded"
ip link set lo up
ip link add virbr0 type bridge; ip addr add 192.168.122.1/24 dev virbr0; ip link set virbr0 up
echo 1 > /proc/sys/net/ipv4/ip_forward
t "bridge up"
PATH=/usr/sbin:\$PATH nft -j -f /rules.json && t "nft ruleset loaded"
PATH=/usr/sbin:\$PATH nft -j -f /rules.json && t "nft ruleset loaded again"
mkdir -p /var/lib/misc; touch /var/lib/misc/udhcpd.leases
printf 'interface virbr0\nstart 192.168.122.2\nend 192.168.122.254\n' > /etc/udhcpd.conf
udhcpd -S /etc/udhcpd.conf; t "dhcp serving"
sleep 1000
EOF2
chmod +x "$W/floor/init"
(cd "$W/floor" && find . | cpio -o -H newc -R 0:0 --quiet) | zstd -q -3 > "$W/floor.img"

# Two NICs of two kinds (their other ends are sockets on the namespace's
# loopback, with nobody there): the e1000's driver takes most of a second
# under TCG.
NICS="-netdev socket,id=a,listen=127.0.0.1:23456 -device e1000,netdev=a,addr=0x9 -netdev socket,id=b,listen=127.0.0.1:23457 -device virtio-net-pci,netdev=b"
boot() { # initrd log [qemu args]
  : > "$2"
  # shellcheck disable=SC2086
  ip netns exec $NS timeout 90 qemu-system-x86_64 -accel tcg -m 512 -display none -no-reboot -nodefaults -nic none \
    -serial file:"$2" -kernel "$IMAGE/vmlinuz" -initrd "$1" -append "console=ttyS0 panic=-1 loglevel=4" \
    -device virtio-rng-pci ${3:-} 2>/dev/null &
  local q=$!
  for _ in $(seq 900); do grep -qE "networks are up|dhcp serving at" "$2" && break; sleep 0.1; done
  sleep 0.3; kill $q 2>/dev/null; wait $q 2>/dev/null || true
}
secs() { grep -o "$1" "$2" | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1; }
ip netns exec $NS ip link set lo up
echo "boot (QEMU/TCG, 512 MiB, virtio-rng), $BOOTS boots each; seconds by the kernel's clock"
for i in $(seq "$BOOTS"); do
  L=$W/floor-$i.log; boot "$W/floor.img" "$L"
  s=$(secs 'init started at [0-9.]*' "$L"); m=$(secs 'modules loaded at [0-9.]*' "$L")
  b=$(secs 'bridge up at [0-9.]*' "$L"); n=$(secs 'ruleset loaded at [0-9.]*' "$L")
  n2=$(secs 'loaded again at [0-9.]*' "$L"); d=$(secs 'dhcp serving at [0-9.]*' "$L")
  printf 'floor     %d: /init at %s; modules +%.2f, bridge +%.2f, first nft +%.2f (second nft %.2f), udhcpd +%.2f; /init to serving %.2f s\n' \
    "$i" "$s" "$(echo "$m - $s" | bc)" "$(echo "$b - $m" | bc)" "$(echo "$n - $b" | bc)" "$(echo "$n2 - $n" | bc)" "$(echo "$d - $n2" | bc)" "$(echo "$d - $s - ($n2 - $n)" | bc)"
done
# One vCPU with and without NICs, then two vCPUs with NICs (a real box
# has several cores: the NICs' drivers probe on one while the agent starts
# on the other).
for run in "1|" "1|$NICS" "2|$NICS"; do
  cpus=${run%%|*}; nics=${run#*|}
  for i in $(seq "$BOOTS"); do
    L=$W/netagent-$i.log; boot "$IMAGE/initramfs.img" "$L" "-smp $cpus $nics"
    s=$(secs 'as PID 1 ([0-9.]* s' "$L"); d=$(secs '[0-9.]* s since boot' "$L")
    a=$(grep -o '[0-9:.]*Z  INFO netagent [0-9.]* starting with' "$L" | grep -oE ':[0-9.]+Z' | tr -d ':Z')
    p=$(grep -o '[0-9:.]*Z  INFO dhcp default: serving' "$L" | grep -oE ':[0-9.]+Z' | tr -d ':Z')
    what="no NIC"; [ -n "$nics" ] && what="e1000 + virtio NICs"
    what="$what, $cpus vCPU"
    printf 'netagent  %d (%s): /init at %s; /init to serving %.2f s, of which the agent (exec to serving) %.2f s\n' \
      "$i" "$what" "$s" "$(echo "$d - $s" | bc)" "$(echo "($p - $a + 60) % 60" | bc)"
    if [ -n "${VERBOSE:-}" ]; then sed -n '/starting as PID 1/,/networks are up/p' "$L"; fi
  done
done
