#!/usr/bin/env bash
# `make run`: boot the appliance under QEMU (TCG) on the embedded default
# network, then the image's own config from its disk (attached read-only:
# snapshot=on), which adds the status page; its address and password show
# on the console. Its uplink (first NIC) is on QEMU user networking; its
# second NIC (a port of virbr0) is joined through a socket netdev to a
# small guest VM that asks for a lease and prints it. Ctrl-A X quits; so
# does the power button (`system_powerdown` on the monitor socket printed
# below).
# Env: KVM=1 uses /dev/kvm (real hardware); NET=restrict keeps the uplink
# off the host's network.
set -euo pipefail
D=${1:-build/image}
ACCEL=tcg; [ -n "${KVM:-}" ] && ACCEL=kvm
UPLINK=user,id=up; [ "${NET:-}" = restrict ] && UPLINK=user,id=up,restrict=on
PORT=$(( 20000 + RANDOM % 20000 ))
MON=$(mktemp -u /tmp/netagent-monitor.XXXXXX)
# The guest listens on the socket, the appliance connects to it.
qemu-system-x86_64 -accel $ACCEL -m 256 -display none -no-reboot -nodefaults -serial file:/dev/stdout \
  -kernel "$D/vmlinuz" -initrd "$D/guest-initramfs.img" -append "console=ttyS0 quiet" \
  -netdev socket,id=lan,listen=127.0.0.1:$PORT -device virtio-net-pci,netdev=lan,mac=52:54:00:12:34:99 2>/dev/null &
GUEST=$!
trap 'kill $GUEST 2>/dev/null || true' EXIT
sleep 1
echo "netagent appliance: monitor at $MON (echo system_powerdown | socat - UNIX-CONNECT:$MON)"
exec qemu-system-x86_64 -accel $ACCEL -smp 2 -m 512 -nographic -no-reboot \
  -kernel "$D/vmlinuz" -initrd "$D/initramfs.img" -append "console=ttyS0 panic=-1 loglevel=4" \
  -netdev $UPLINK -device virtio-net-pci,netdev=up \
  -netdev socket,id=lan,connect=127.0.0.1:$PORT -device virtio-net-pci,netdev=lan -device virtio-rng-pci \
  -drive file="$D/netagent.img",format=raw,if=virtio,snapshot=on \
  -monitor unix:$MON,server,nowait
