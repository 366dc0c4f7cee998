# xen-core: thin wrappers over cargo and the host tools.
#   make run   build everything, boot the demo from a GRUB ISO under QEMU (serial on this terminal)
#   make test  host unit/property tests, then the QEMU integration tests
# Every other QEMU run skips GRUB: QEMU's -kernel loader starts xen-core by
# multiboot1 (xen-run --direct), about half a second sooner.
# Both install what is missing first (apt packages, the rustup target).

SHELL        := /bin/bash
CARGO        ?= cargo
TARGET       := x86_64-unknown-none
APT_PACKAGES := qemu-system-x86 grub-pc-bin grub-common xorriso mtools xz-utils gzip
BARE         := target/$(TARGET)/release
HV           := $(BARE)/xen-core
GUEST        := $(BARE)/guest-kernel
RUN          := target/release/xen-run
HV_CMDLINE   ?= loglvl=info
MEMORY_MIB   ?= 512
DEMO_MODULES := --module "$(GUEST) name=demo0 mem=32M balloon=16M,8M,24M,32M ping=1:2,3 share" --module "$(GUEST) name=demo1 mem=16M watch=5 pong=0,3 share"

.PHONY: all setup build lint run new-guest run-guest test test-host test-qemu conformance conformance-xen xen-image bench modes bench-compare fuzz fuzz-guest doc clean linux linux-fetch linux-initramfs linux-dom0 linux-domu linux-xen

all: build

setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)

build: setup
	$(CARGO) build --release -p xen-core -p guest-kernel -p conformance-guest -p hostile-guest -p bench-guest -p template -p pvh-hello --target $(TARGET)
	$(CARGO) build --release -p xen-tools

run: build
	$(RUN) $(HV) --memory $(MEMORY_MIB) --cmdline "$(HV_CMDLINE)" $(DEMO_MODULES)

# A new PV guest crate from guests/template: guests/$(NAME), a workspace
# member at once (guests/*). `make run-guest NAME=foo` builds and boots it
# as the only domain (GUEST_ARGS: more module options) and fails unless it
# prints `Test result: SUCCESS`.
GUEST_ARGS   ?=
new-guest:
	@echo "$(NAME)" | grep -Eqx '[a-z][a-z0-9_-]{0,62}' || { echo "usage: make new-guest NAME=foo (lower case, digits, - or _)"; exit 2; }
	@test ! -e guests/$(NAME) || { echo "guests/$(NAME) already exists"; exit 2; }
	mkdir -p guests/$(NAME)/src
	sed 's/template/$(NAME)/g' guests/template/Cargo.toml > guests/$(NAME)/Cargo.toml
	sed 's/template/$(NAME)/g' guests/template/src/main.rs > guests/$(NAME)/src/main.rs
	@echo "guests/$(NAME) created: boot it with 'make run-guest NAME=$(NAME)'"

run-guest: setup
	@test -n "$(NAME)" -a -e guests/$(NAME)/Cargo.toml || { echo "usage: make run-guest NAME=foo (a crate in guests/)"; exit 2; }
	$(CARGO) build --release -p xen-core -p $(NAME) --target $(TARGET)
	$(CARGO) build --release -p xen-tools
	$(RUN) $(HV) --memory 256 --verdicts --log build/$(NAME).log --iso build/$(NAME).iso \
	  --module "$(BARE)/$(NAME) name=$(NAME) mem=16M $(GUEST_ARGS)"

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy -q --workspace --all-targets -- -D warnings
	$(CARGO) clippy -q -p xen-core -p xen-core-pv-rt -p guest-kernel -p conformance-guest -p hostile-guest -p bench-guest -p template -p pvh-hello --target $(TARGET) -- -D warnings

test-host: setup lint
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q --no-deps -p xen-core-pv-abi
	$(CARGO) test --workspace

# The hypercall conformance suite on xen-core: as domain 0 (the setup the
# Xen comparison uses) and as an unprivileged domain 1. --verdicts: both
# domains must print `Test result: SUCCESS`, not just power off.
CONFORMANCE  := $(BARE)/conformance
conformance: build
	$(RUN) $(HV) --direct --memory 256 --log build/conformance.log --verdicts \
	  --module "$(CONFORMANCE) name=conformance-dom0 mem=32M" \
	  --module "$(CONFORMANCE) name=conformance-domU mem=32M"
	@grep -E '^\(d[01]\) [0-9]+ passed, [0-9]+ failed' build/conformance.log

# The same suite on Xen 4.17 (Debian) as dom0, side by side with xen-core.
XEN_GZ       := /boot/xen-4.17-amd64.gz
# Installs Debian's Xen 4.17 if missing and unpacks it for QEMU's loader.
xen-image:
	@dpkg -s xen-hypervisor-4.17-amd64 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends xen-hypervisor-4.17-amd64 >/dev/null; }
	mkdir -p build && zcat $(XEN_GZ) > build/xen-4.17

conformance-xen: build xen-image
	target/release/xen-compare $(HV) $(CONFORMANCE) build/xen-4.17

test-qemu: build linux-initramfs
	XEN_LINUX_KERNEL=$(abspath $(LINUX_KERNEL)) XEN_LINUX_INITRD=$(abspath $(LINUX_INITRD)) $(CARGO) test -p xen-tests --features qemu

test: test-host test-qemu conformance-xen

# The bench guest (tests/bench) as domain 0 on xen-core and on Xen 4.17,
# under QEMU -icount shift=0,align=off,sleep=off -rtc clock=vm (guest rdtsc
# = instructions executed) and again under plain TCG (TSC ticks, the
# flush-heavy rows): one side-by-side table with ratios and targets, saved
# to build/bench.json; then the host benchmark of the page-type model.
# QEMU_LOCK is a command prefix for the QEMU runs (e.g. a flock).
# `make bench-compare [FILE=saved.json]` prints what changed between a saved
# report (default: tests/bench/baseline.json, the README's figures) and
# build/bench.json.
BENCH        := $(BARE)/bench
FILE         ?= tests/bench/baseline.json
bench: build xen-image
	$(QEMU_LOCK) target/release/xen-bench run $(HV) $(BENCH) build/xen-4.17 --json build/bench.json
	$(CARGO) bench -p xen-core --bench mm

# Issue 15 items 5 and 6: guest-kernel's `modes` workload as PV, PVH+shadow
# and PVH+nested on xen-core, and as a PV and a PVH (HAP) dom0 on Xen 4.17,
# under icount (instructions per op), then plain TCG (ticks).
modes: build xen-image
	$(QEMU_LOCK) target/release/xen-modes $(HV) $(GUEST) --tcg --xen build/xen-4.17

bench-compare:
	target/release/xen-bench compare $(FILE) build/bench.json

# Coverage-guided fuzzing of mmu_update/mmuext_op with the invariant checker
# (outside the workspace; not part of `make test`). FUZZ_SECONDS bounds it.
# FUZZ_TARGET=emulate fuzzes the privileged-instruction emulator over raw
# instruction bytes instead; FUZZ_TARGET=xz the kernel payload's xz decoder.
FUZZ_SECONDS ?= 60
FUZZ_TARGET  ?= mmu_ops
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_TARGET) -- -max_total_time=$(FUZZ_SECONDS)

# The hostile guest's fuzzer (tests/hostile, mode=fuzz) as unprivileged
# domain 1 beside a victim (guest-kernel watch=) that checks its own memory:
# one QEMU run per seed, each must end with both domains printing SUCCESS.
# CHECK=N adds the hypervisor's invariant checker every N hypercalls
# (check=N); FUZZ_ARGS are more guest options (oracle=periodic walks the
# page tables every 4096 operations only, for throughput figures);
# QEMU_LOCK is a command prefix for each run (e.g. a flock). The rate is
# the guest's hypercalls over its own TSC time (under TCG the guest's TSC
# runs at the host's, taken from /proc/cpuinfo).
HOSTILE      := $(BARE)/hostile
SEEDS        ?= 1 2 3
OPS          ?= 1000000
CHECK        ?=
QEMU_LOCK    ?=
FUZZ_TIMEOUT ?= 3600
FUZZ_ARGS    ?=
fuzz-guest: build
	@mkdir -p build; fail=0; \
	for s in $(SEEDS); do \
	  t0=$$(date +%s.%N); \
	  $(QEMU_LOCK) $(RUN) $(HV) --direct --memory 256 --timeout $(FUZZ_TIMEOUT) --verdicts \
	    --cmdline "loglvl=info$(if $(CHECK), check=$(CHECK))" \
	    --log build/fuzz-$$s.log \
	    --module "$(GUEST) name=victim mem=16M watch=200" \
	    --module "$(HOSTILE) name=fuzz mem=32M mode=fuzz seed=$$s ops=$(OPS) $(FUZZ_ARGS)" >/dev/null 2>&1 || fail=1; \
	  t1=$$(date +%s.%N); \
	  rate=$$(grep -a -o 'seed [0-9]*: [0-9]* hypercalls ([0-9]* succeeded) in [0-9]* TSC' build/fuzz-$$s.log | \
	    awk -v mhz="$$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2)" '{ if ($$8 > 0) printf "%.1f K/s", $$3 / ($$8 / (mhz * 1e6)) / 1000 }'); \
	  echo "seed $$s$(if $(CHECK), check=$(CHECK)): $$(grep -a -o 'seed [0-9]*: [0-9]* hypercalls ([0-9]* succeeded)' build/fuzz-$$s.log | cut -d' ' -f3-6) $$rate," \
	    "$$(grep -a -o '[0-9]* oracle walks over [0-9]* entries' build/fuzz-$$s.log)," \
	    "$$(grep -a -o 'check: [0-9]* invariant checks' build/fuzz-$$s.log | cut -d' ' -f2-)" \
	    "$$(echo "$$t1 - $$t0" | bc | cut -c1-6) s wall:" \
	    "$$(grep -a -o 'Test result: [A-Z]*' build/fuzz-$$s.log | sort | uniq -c | tr -s ' ' | paste -sd,) (build/fuzz-$$s.log)"; \
	done; exit $$fail

# Linux guests (issue 12): Debian bookworm's kernel and static busybox,
# fetched with `apt-get download` (never installed) and cached under
# build/linux/; the initramfs is built by our own cpio writer (xen-linux).
# The pins, in this one place: LINUX_PKG is the package linux-image-amd64
# depends on (checked and printed by linux-fetch). Only the kernel and the
# two modules /init loads (xenfs and xen-privcmd) are unpacked from the
# image package (dpkg-deb --fsys-tarfile): `dpkg-deb -x` would write its
# 400 MB of modules; busybox-static is unpacked whole with `dpkg-deb -x`.
#   make linux         both xen-core boots (domain 0; domain 1 beside a
#                      guest-kernel domain 0), then Xen 4.17 with the same
#                      kernel and initramfs, each console in full, then the
#                      wall times side by side
#   make linux-dom0 | linux-domu | linux-xen   one of them
# LINUX_MEM is the Linux domain's memory (Xen's dom0_mem too). The kernel
# command line is `xen-linux print cmdline` (tools/src/linux.rs), the same
# on both hypervisors.
LINUX_PKG       := linux-image-6.1.0-57-amd64
LINUX_VERSION   := 6.1.192-3
BUSYBOX_VERSION := 1:1.35.0-4+deb12u1+b1
LINUX_KVER      := $(patsubst linux-image-%,%,$(LINUX_PKG))
LINUX_DIR       := build/linux
LINUX_KERNEL    := $(LINUX_DIR)/boot/vmlinuz-$(LINUX_KVER)
LINUX_KO        := $(LINUX_DIR)/lib/modules/$(LINUX_KVER)/kernel/drivers/xen
LINUX_INITRD    := $(LINUX_DIR)/initramfs.cpio
LINUX_MEM       ?= 256
XEN_LINUX       := target/release/xen-linux
linux-fetch: setup
	@mkdir -p $(LINUX_DIR)
	@dep=$$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $$2; exit }'); \
	echo "make: Linux guest kernel: $(LINUX_PKG) $(LINUX_VERSION) (linux-image-amd64 now depends on $${dep:-?}), busybox-static $(BUSYBOX_VERSION)"; \
	fetch() { \
	  ls $(LINUX_DIR)/$$1_*$$3_amd64.deb >/dev/null 2>&1 && return 0; \
	  echo "make: apt-get download $$1=$$2 into $(LINUX_DIR)/"; \
	  ( cd $(LINUX_DIR) && apt-get download -q "$$1=$$2" 2>/dev/null ) || \
	  { if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; $$sudo apt-get update -qq && \
	    ( cd $(LINUX_DIR) && apt-get download -q "$$1=$$2" ); } || \
	  { echo "make: $$1=$$2 is not in the archive any more: update the pin in the Makefile"; return 1; }; \
	}; \
	fetch $(LINUX_PKG) $(LINUX_VERSION) $(LINUX_VERSION) && \
	fetch busybox-static $(BUSYBOX_VERSION) $(lastword $(subst :, ,$(BUSYBOX_VERSION)))
	@test -e $(LINUX_KERNEL) -a -e $(LINUX_KO)/xenfs/xenfs.ko || \
	  dpkg-deb --fsys-tarfile $(LINUX_DIR)/$(LINUX_PKG)_$(LINUX_VERSION)_amd64.deb | \
	  tar -x -C $(LINUX_DIR) ./boot/vmlinuz-$(LINUX_KVER) ./lib/modules/$(LINUX_KVER)/kernel/drivers/xen/xenfs/xenfs.ko \
	    ./lib/modules/$(LINUX_KVER)/kernel/drivers/xen/xen-privcmd.ko
	@test -e $(LINUX_DIR)/bin/busybox || dpkg-deb -x $(LINUX_DIR)/busybox-static_*_amd64.deb $(LINUX_DIR)

linux-initramfs: linux-fetch
	$(CARGO) build -q --release -p xen-tools
	$(XEN_LINUX) initramfs $(LINUX_INITRD) $(LINUX_DIR)/bin/busybox $(LINUX_KO)/xen-privcmd.ko $(LINUX_KO)/xenfs/xenfs.ko

# Each boot's console goes to the terminal and to $(LINUX_DIR)/NAME.out;
# `m` (the hypervisor's memory table) is typed when /init has ballooned down.
LINUX_RUN = $(QEMU_LOCK) $(RUN) $(HV) --direct --memory 512 --verdicts --timeout 180 \
	  --keys-on "$$($(XEN_LINUX) print balloon-mark)=m"
LINUX_MODULES = --module "$(LINUX_KERNEL) name=linux mem=$(LINUX_MEM)M $$($(XEN_LINUX) print cmdline)" \
	  --module "$(LINUX_INITRD) ramdisk"
linux-dom0: build linux-initramfs
	$(LINUX_RUN) --log $(LINUX_DIR)/dom0.log $(LINUX_MODULES) 2>&1 | tee $(LINUX_DIR)/dom0.out; exit $${PIPESTATUS[0]}

linux-domu: build linux-initramfs
	$(LINUX_RUN) --log $(LINUX_DIR)/domu.log --module "$(GUEST) name=dom0 mem=16M" $(LINUX_MODULES) 2>&1 | \
	  tee $(LINUX_DIR)/domu.out; exit $${PIPESTATUS[0]}

linux-xen: build linux-initramfs xen-image
	$(QEMU_LOCK) $(XEN_LINUX) xen build/xen-4.17 $(LINUX_KERNEL) $(LINUX_INITRD) --dom0-mem $(LINUX_MEM) \
	  --log $(LINUX_DIR)/xen.log 2>&1 | tee $(LINUX_DIR)/xen.out; exit $${PIPESTATUS[0]}

linux: build linux-initramfs xen-image
	@fail=0; for t in dom0 domu xen; do $(MAKE) -s --no-print-directory linux-$$t || fail=1; done; \
	echo; echo "make linux: $(LINUX_PKG) $(LINUX_VERSION), $(LINUX_MEM) MiB, wall time from QEMU's start:"; \
	for d in 0 1; do t=$$([ $$d = 0 ] && echo dom0 || echo domu); \
	  v=$$(grep -a -o -m1 "(d$$d) Test result: [A-Z]*" $(LINUX_DIR)/$$t.log 2>/dev/null | cut -d' ' -f2-); \
	  printf '  xen-core, Linux as domain %s: %s; /init: %s\n' $$d \
	    "$$(grep -a -o 'QEMU exited: .*after [0-9.]* s' $(LINUX_DIR)/$$t.out | sed 's/QEMU exited: //')" "$${v:-no verdict}"; \
	done; \
	printf '  Xen 4.17, Linux as dom0: %s\n' "$$(grep -a -o 'Xen 4.17: .*after [0-9.-]* s' $(LINUX_DIR)/xen.out | sed 's/Xen 4.17: //')"; \
	exit $$fail

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p xen-core-pv-abi

clean:
	$(CARGO) clean
	rm -rf build
