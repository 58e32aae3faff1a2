# netagent — every step a fresh Debian machine needs, as root.
#   make run    install what is needed, build the appliance and boot it in QEMU
#   make test   fmt, clippy, unit, network-namespace and QEMU tests
SHELL := /bin/bash
CARGO ?= cargo
TARGET := x86_64-unknown-linux-gnu
STATIC_BIN := target/$(TARGET)/release/netagent
CONFIG ?=

# Debian packages the build and the tests use: nft for applying rules, ip for
# the tests' namespaces, the real DHCP/DNS clients the tests talk to,
# libvirt with QEMU and iPXE for the libvirt drop-in's tests, and scapy
# and tcpdump for port security's hostile guest and its victim.
APT_PKGS := nftables iproute2 file binutils busybox isc-dhcp-client dhcpcd-base bind9-dnsutils iputils-ping dnsmasq-base nsd ldnsutils iptables ndisc6 kea-dhcp6-server frr iperf3 \
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 ipxe-qemu \
	python3-scapy tcpdump prometheus chromium curl chrony

# Install the Debian packages in $(1) that are missing (apt-get update only then).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

.PHONY: lean-check reproducible install image image-deps qemu fuzz fuzz-check all deps bench-deps build static check-static run plan fmt fmt-check clippy unit test golden bench clean

all: build

deps:
	$(call apt_install,$(APT_PKGS))
	@# libvirtd (the drop-in tests run a real one) wants its QEMU user and group.
	@getent group kvm >/dev/null || groupadd -r kvm
	@getent passwd libvirt-qemu >/dev/null || useradd -r -U -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
	@command -v cargo >/dev/null || { echo "cargo is needed: install Rust (rustup) first" >&2; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

build:
	$(CARGO) build --workspace

# The product binary: static (glibc with +crt-static; no musl toolchain here).
static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(TARGET) -p netagent
	@ls -l $(STATIC_BIN)

check-static: static
	@out=$$(file -L $(STATIC_BIN)); echo "$$out"; echo "$$out" | grep -Eq 'statically linked|static-pie linked' \
		|| { echo "$(STATIC_BIN) is not statically linked" >&2; exit 1; }
	@! readelf -l $(STATIC_BIN) | grep -q 'Requesting program interpreter' \
		|| { echo "$(STATIC_BIN) asks for a dynamic loader" >&2; exit 1; }
	@$(STATIC_BIN) check config/*.toml

# Boot the appliance under QEMU (TCG) on the embedded default network, with
# a small guest VM on its LAN NIC that prints the lease it gets. KVM=1 on
# real hardware; NET=restrict keeps the uplink off the host's network.
run: image
	image/run.sh $(IMAGE_DIR)

# What a config makes, without booting anything.
plan: static
	$(STATIC_BIN) plan $(CONFIG)

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The fuzz targets build against the library's API: a change that breaks
# them must fail here, not in the next `make fuzz`.
fuzz-check:
	cd fuzz && $(CARGO) check --quiet --bins

# Unit and namespace tests; the QEMU tests need the image and run in `qemu`.
# As root every namespace test runs; NETAGENT_TESTS_NEED_ROOT turns a skip
# (a normal user's `cargo test`) into a failure here.
unit:
	NETAGENT_TESTS_NEED_ROOT=1 $(CARGO) test --workspace -- --skip qemu_

# The appliance: kernel, initramfs and netagent.img in build/image.
IMAGE_DIR := build/image
# Without CONFIG: the default network and a status page with a password
# made once for this tree (build/status-password).
CONFIG_IMAGE ?= $(if $(CONFIG),$(CONFIG),build/appliance.toml)
build/appliance.toml: config/default.toml image/appliance-config.sh
	image/appliance-config.sh config/default.toml build/status-password $@
image: deps image-deps static $(if $(CONFIG),,build/appliance.toml)
	image/build.sh $(STATIC_BIN) $(CONFIG_IMAGE) $(IMAGE_DIR)

IMAGE_PKGS := qemu-system-x86 ovmf mtools dosfstools gdisk cpio zstd xz-utils kmod dnsmasq-base
image-deps:
	$(call apt_install,$(IMAGE_PKGS))

# Build the image a second time elsewhere: every output must be byte-identical.
reproducible: image
	image/build.sh $(STATIC_BIN) $(CONFIG_IMAGE) build/image-again >/dev/null
	@for f in vmlinuz initramfs.img guest-initramfs.img netagent.img; do \
		cmp $(IMAGE_DIR)/$$f build/image-again/$$f || { echo "$$f differs between two builds" >&2; exit 1; }; done
	@rm -rf build/image-again; echo "image: two builds are byte-identical"

# Boot the image under QEMU (TCG) and check it end to end.
qemu: image
	NETAGENT_TESTS_NEED_ROOT=1 $(CARGO) test --test qemu_appliance -- --test-threads=1

# Memory at 200 networks and the count of unsafe code: bounds, not timings.
lean-check: static
	bench/lean-check.sh

test: deps fmt-check clippy fuzz-check unit check-static lean-check reproducible qemu

# Rewrite agent/tests/golden/*.plan from the example configs; review the diff.
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --test golden

# Fuzz the DHCP and DNS packet decision code, DHCP message sequences against
# a live pool, the config parser and the libvirt importer (not part of `make
# test`): FUZZ_RUNS inputs per target, two targets at a time on two cores.
# dhcp_sequence scripts are kept to 64 messages each: long enough to reach
# every state, short enough for ten million of them.
# cargo-fuzz wants nightly for sanitizers; with `-s none` the stable toolchain
# builds it when RUSTC_BOOTSTRAP allows libFuzzer's flags.
FUZZ_RUNS ?= 10000000
FUZZ_TARGETS := dhcp_reply dhcp_sequence dns_query config_parse libvirt_import dhcp6_reply ra_solicit
fuzz: deps
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p build
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -s none
	printf '%s\n' $(FUZZ_TARGETS) | xargs -P 2 -I{} sh -c 'cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none {} -- -runs=$(FUZZ_RUNS) $$([ {} = dhcp_sequence ] && echo -max_len=256) -print_final_stats=1 > ../build/fuzz-{}.log 2>&1 && echo "fuzz {}: $$(grep -m1 stat::number_of_executed_units ../build/fuzz-{}.log)" || { echo "fuzz {}: FAILED, see build/fuzz-{}.log"; exit 1; }'

# Benchmarks beside dnsmasq, Kea and unbound (../shared/bench); see BENCHMARKS.md.
BENCH_PKGS := kea-dhcp4-server kea-dhcp6-server kea-admin dnsmasq-base unbound dnsperf bind9-dnsutils python3
bench-deps:
	$(call apt_install,$(BENCH_PKGS))

bench: deps bench-deps static $(if $(filter boot,$(BENCH)),image)
	bench/run.sh $(BENCH)

# Host mode: the static binary, the systemd unit and, if there is none yet,
# a config (libvirt's default network). `systemctl enable --now netagent`.
PREFIX ?= /usr/local
install: static
	install -D -m 0755 $(STATIC_BIN) $(DESTDIR)$(PREFIX)/sbin/netagent
	install -D -m 0644 contrib/netagent.service $(DESTDIR)/etc/systemd/system/netagent.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/netagent/README.md
	@if [ ! -e $(DESTDIR)/etc/netagent/netagent.toml ]; then \
		install -D -m 0644 config/default.toml $(DESTDIR)/etc/netagent/netagent.toml; \
		echo "installed /etc/netagent/netagent.toml (libvirt's default network)"; fi
	-systemctl daemon-reload 2>/dev/null

clean:
	$(CARGO) clean
