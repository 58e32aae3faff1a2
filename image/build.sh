#!/usr/bin/env bash
# Build the appliance from Debian's packages, without root and without loop
# devices:
#   OUT/vmlinuz          the kernel (Debian's generic linux-image-amd64)
#   OUT/initramfs.img    zstd cpio: netagent as /init, the modules it needs, nft
#   OUT/netagent.img     GPT disk, one FAT32 EFI system partition: systemd-boot
#                        as EFI/BOOT/BOOTX64.EFI, a loader entry, the kernel,
#                        the initramfs, netagent.toml at the root and its
#                        boot copy (netagent-config.img, a second initrd)
# Usage: image/build.sh BIN CONFIG OUT
set -euo pipefail
BIN=$(realpath "${1:?netagent binary}"); CONFIG=$(realpath "${2:?config}"); OUT=${3:?output dir}
mkdir -p "$OUT"; OUT=$(realpath "$OUT")
W=$OUT/work; rm -rf "$W"; mkdir -p "$W/debs" "$W/pkgs" "$W/root"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

"$BIN" check "$CONFIG" >/dev/null

# 1. Debian's packages: the kernel, systemd-boot, nft and its libraries.
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
PKGS="$KPKG busybox-static systemd-boot-efi nftables libnftables1 libnftnl11 libmnl0 libjansson4 libgmp10 libxtables12 libedit2 libbsd0 libmd0 libtinfo6 libc6 netbase"
# apt-get download needs the (unprivileged) _apt user to write here.
chmod 777 "$W/debs"
(cd "$W/debs" && apt-get download -q $PKGS >/dev/null 2>&1 || apt-get download $PKGS)
for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$W/pkgs"; done
KVER=${KPKG#linux-image-}
P=$W/pkgs R=$W/root M=lib/modules/$KVER
# The package leaves modules.dep and modules.alias to its postinst: make them.
PATH=$PATH:/usr/sbin:/sbin depmod -b "$P" "$KVER"

# 2. The initramfs tree.
mkdir -p "$R"/{proc,sys,dev,run,tmp,boot,etc,usr/sbin,lib64,lib/x86_64-linux-gnu,$M}
install -m 0755 "$BIN" "$R/init"
# Modules: NIC drivers, virtio, disks (for the FAT partition), USB, bridge, VXLAN,
# netfilter, FAT, efivarfs, input, the ACPI button and hardware RNGs; with everything they depend on
# (modules.dep lists the whole closure). Decompressed, so finit_module
# needs no in-kernel decompressor.
SEL="kernel/drivers/net/ethernet/ kernel/drivers/net/virtio_net kernel/drivers/net/usb/ kernel/drivers/net/phy/ kernel/drivers/net/mdio kernel/drivers/net/mii kernel/drivers/net/net_failover kernel/drivers/virtio/ kernel/drivers/block/virtio_blk kernel/drivers/scsi/sd_mod kernel/drivers/scsi/virtio_scsi kernel/drivers/ata/ahci kernel/drivers/ata/ata_piix kernel/drivers/nvme/host/ kernel/drivers/usb/host/ kernel/drivers/usb/storage/ kernel/drivers/input/evdev kernel/drivers/acpi/button kernel/drivers/char/hw_random/ kernel/net/bridge/ kernel/drivers/net/vxlan kernel/net/802/ kernel/net/llc/ kernel/net/netfilter/ kernel/net/ipv4/netfilter/ kernel/net/packet/ kernel/fs/fat/ kernel/fs/efivarfs/ kernel/fs/nls/ kernel/crypto/crc32c_generic kernel/lib/libcrc32c"
awk -v sel="$SEL" 'BEGIN{n=split(sel, s, " ")}
  { file=$1; sub(/:$/, "", file); keep=0
    for (i=1; i<=n; i++) if (index(file, s[i]) == 1) keep=1
    if (keep) { print file; for (j=2; j<=NF; j++) print $j } }' "$P/$M/modules.dep" | sort -u > "$W/modules.list"
while read -r f; do
  mkdir -p "$R/$M/$(dirname "$f")"
  case $f in
    *.xz) xz -dc "$P/$M/$f" > "$R/$M/${f%.xz}" ;;
    *.zst) zstd -qdc "$P/$M/$f" > "$R/$M/${f%.zst}" ;;
    *) cp "$P/$M/$f" "$R/$M/$f" ;;
  esac
done < "$W/modules.list"
# The indexes of exactly the modules shipped (the kernel's whole lists are
# ~1.8 MB that PID 1 would read and parse before loading anything).
for f in modules.order modules.builtin modules.builtin.modinfo; do
  if [ -f "$P/$M/$f" ]; then sed -e 's/\.ko\.\(xz\|zst\)/.ko/g' "$P/$M/$f" > "$R/$M/$f"; fi
done
PATH=$PATH:/usr/sbin:/sbin depmod -b "$R" "$KVER"
(cd "$R/$M" && rm -f modules.*.bin modules.devname modules.softdep modules.symbols modules.weakdep modules.order modules.builtin.modinfo)

# nft and exactly the libraries it links; busybox (static) for its
# hwclock, which sets the board's RTC once SNTP has set the clock.
install -m 0755 "$P/usr/sbin/nft" "$R/usr/sbin/nft"
install -m 0755 "$P/bin/busybox" "$R/usr/sbin/busybox"
LIBS="$P/lib/x86_64-linux-gnu:$P/usr/lib/x86_64-linux-gnu"
LD_LIBRARY_PATH=$LIBS ldd "$P/usr/sbin/nft" | awk '/=> \// {print $3}' | while read -r lib; do
  cp -L "$lib" "$R/lib/x86_64-linux-gnu/"
done
cp -L "$P/lib64/ld-linux-x86-64.so.2" "$R/lib64/" 2>/dev/null || cp -L "$P/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$R/lib64/"
cp "$P/etc/protocols" "$P/etc/services" "$R/etc/"
printf 'protocols: files\nservices: files\n' > "$R/etc/nsswitch.conf"
strip --strip-unneeded "$R/usr/sbin/nft" "$R"/lib/x86_64-linux-gnu/* 2>/dev/null || true

# A reproducible cpio: fixed times, sorted names, numeric owners.
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | zstd -q -19 -T0 > "$OUT/initramfs.img"
# systemd-boot puts the config's boot copy (an uncompressed cpio) right
# after this file, and the kernel takes an uncompressed archive only at a
# 4-byte boundary (zeros between archives are skipped): pad to one.
truncate -s %4 "$OUT/initramfs.img"
cp "$P/boot/vmlinuz-$KVER" "$OUT/vmlinuz"

# A tiny guest for `make run` and the QEMU tests: busybox and virtio_net,
# running udhcpc on its NIC and printing the lease it gets from the
# appliance. With `lookup=NAME` on its kernel command line it then resolves
# NAME through the appliance, and with `probe=IP:PORT` it sends a line to a
# TCP echo server there, printing what comes back; with `probe6=ADDR:PORT`
# the same over IPv6, once the kernel's SLAAC gave it an address.
G=$W/guest; mkdir -p "$G"/{bin,proc,sys,dev,tmp,$M}
cp "$P/bin/busybox" "$G/bin/busybox"
# virtio_pci and virtio_net with their dependencies, deepest first.
for m in virtio_pci virtio_net; do
  awk -v m="/$m.ko" 'index($1, m) { sub(/:$/, "", $1); for (i = NF; i >= 2; i--) print $i; print $1; exit }' "$P/$M/modules.dep"
done | awk '!seen[$0]++' > "$W/guest.modules"
: > "$G/modules"
while read -r f; do
  b=$(basename "$f"); b=${b%.xz}; b=${b%.zst}
  case $f in *.xz) xz -dc "$P/$M/$f" > "$G/$b" ;; *.zst) zstd -qdc "$P/$M/$f" > "$G/$b" ;; *) cp "$P/$M/$f" "$G/$b" ;; esac
  echo "$b" >> "$G/modules"
done < "$W/guest.modules"
cat > "$G/init" <<'EOF2'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules); do insmod /$m 2>/dev/null; done
sleep 1; ip link set lo up; ip link set eth0 up
echo "guest: asking for a lease on eth0"
udhcpc -i eth0 -t 100 -T 3 -s /bin/lease -n -q || echo "guest: no lease"
for arg in $(cat /proc/cmdline); do
  case $arg in lookup=*) lookup=${arg#lookup=} ;; probe=*) probe=${arg#probe=} ;; probe6=*) probe6=${arg#probe6=} ;;
    page=*) page=${arg#page=} ;; auth=*) auth=${arg#auth=} ;; esac
done
dns=$(cat /tmp/dns 2>/dev/null)
if [ -n "$lookup" ] && [ -n "$dns" ]; then
  for i in $(seq 60); do
    ips=$(nslookup "$lookup" "$dns" 2>/dev/null | sed -n '/^Name:/,$p' | grep -oE '([0-9]+[.]){3}[0-9]+')
    [ -n "$ips" ] && break; sleep 2
  done
  echo "guest: $lookup is ${ips:-not found}"
fi
if [ -n "$probe" ]; then
  for i in $(seq 60); do
    got=$(echo "hello from the guest" | nc -w 3 "${probe%:*}" "${probe#*:}" 2>/dev/null)
    [ -n "$got" ] && break; sleep 2
  done
  echo "guest: $probe answered: ${got:-nothing}"
fi
if [ -n "$page" ]; then
  # The appliance's status page (HOST:PORT), asked with the password
  # (`auth`: base64 of user:password; busybox's static wget cannot be
  # used here): the guest prints its own MAC if the lease table shows it.
  mac=$(cat /sys/class/net/eth0/address)
  for i in $(seq 60); do
    # nc ends when its input does: the input waits for the answer.
    got=$( (printf 'GET / HTTP/1.0\r\nHost: %s\r\nAuthorization: Basic %s\r\n\r\n' "$page" "$auth"; sleep 5) |
      nc -w 5 "${page%:*}" "${page#*:}" 2>/dev/null | grep -o "$mac" | head -1)
    [ -n "$got" ] && break; sleep 2
  done
  echo "guest: the status page lists ${got:-nothing}"
fi
if [ -n "$probe6" ]; then
  for i in $(seq 90); do
    a6=$(ip addr show dev eth0 | grep 'inet6' | grep 'scope global' | grep -v tentative | head -1 | awk '{print $2}')
    [ -n "$a6" ] && break; sleep 2
  done
  echo "guest: IPv6 address ${a6:-none}"
  for i in $(seq 60); do
    got=$(echo "hello over IPv6" | nc -w 3 "${probe6%:*}" "${probe6##*:}" 2>/dev/null)
    [ -n "$got" ] && break; sleep 2
  done
  echo "guest: $probe6 answered over IPv6: ${got:-nothing}"
fi
sleep 100000
EOF2
cat > "$G/bin/lease" <<'EOF2'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add $ip/$mask dev $interface; [ -n "$router" ] && ip route add default via $router
echo "${dns%% *}" > /tmp/dns
echo "guest: got $ip/$mask router $router dns $dns from netagent"
EOF2
chmod +x "$G/init" "$G/bin/lease"
find "$G" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$G" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | zstd -q -19 > "$OUT/guest-initramfs.img"

# 3. The EFI system partition (FAT32, built with mtools) and the GPT disk.
EFI=$P/usr/lib/systemd/boot/efi/systemd-bootx64.efi
cat > "$W/loader.conf" <<EOF2
default netagent.conf
timeout 0
EOF2
cat > "$W/netagent.conf" <<EOF2
title   netagent
linux   /vmlinuz
initrd  /initramfs.img
initrd  /netagent-config.img
options console=tty0 console=ttyS0,115200 panic=10
EOF2
KB=$(( ( $(stat -c %s "$OUT/vmlinuz") + $(stat -c %s "$OUT/initramfs.img") + $(stat -c %s "$EFI") ) / 1024 ))
ESP_MB=$(( KB / 1024 + 40 ))       # FAT32 wants at least ~33 MiB
ESP=$W/esp.img
rm -f "$ESP"; truncate -s "${ESP_MB}M" "$ESP"
# FAT32 with one sector per cluster: UEFI firmware decides the FAT type by
# the cluster count, so it must be above 65,525 for FAT32 to be read as such.
# --invariant: fixed times and IDs, so two builds give the same bytes.
PATH=$PATH:/usr/sbin:/sbin mkfs.fat --invariant -F 32 -s 1 -S 512 -n NETAGENT -i 4e455447 "$ESP" >/dev/null
# Stage the partition's tree with fixed times and copy it whole, keeping
# those times (-m), so two builds give the same bytes.
S=$W/esp; mkdir -p "$S/EFI/BOOT" "$S/loader/entries"
cp "$EFI" "$S/EFI/BOOT/BOOTX64.EFI"
cp "$W/loader.conf" "$S/loader/loader.conf"
cp "$W/netagent.conf" "$S/loader/entries/netagent.conf"
cp "$OUT/vmlinuz" "$OUT/initramfs.img" "$S/"
cp "$CONFIG" "$S/netagent.toml"
"$(dirname "$0")/config-initrd.sh" "$CONFIG" "$S/netagent-config.img"
find "$S" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mcopy -s -m -i "$ESP" "$S"/EFI "$S"/loader "$S"/vmlinuz "$S"/initramfs.img "$S"/netagent.toml "$S"/netagent-config.img ::/
IMG=$OUT/netagent.img
rm -f "$IMG"; truncate -s $(( ESP_MB + 2 ))M "$IMG"
sgdisk -U 4e455447-4147-454e-5400-000000000001 -n 1:2048:$(( 2048 + ESP_MB * 2048 - 1 )) -t 1:ef00 -c 1:netagent \
  -u 1:4e455447-4147-454e-5400-000000000002 "$IMG" >/dev/null
sgdisk -v "$IMG" | grep -q "No problems found" || { echo "netagent.img: bad partition table" >&2; exit 1; }
dd if="$ESP" of="$IMG" bs=512 seek=2048 conv=notrunc status=none
rm -rf "$W"
ls -l "$OUT"
echo "image: kernel $(du -h "$OUT/vmlinuz" | cut -f1), initramfs $(du -h "$OUT/initramfs.img" | cut -f1), disk $(du -h --apparent-size "$IMG" | cut -f1) ($KVER)"
