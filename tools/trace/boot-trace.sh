#!/bin/bash
# Instruction trace of the hypervisor's boot (Rust entry -> the bench
# guest's first instruction) and its per-symbol, per-phase profile.
#
#   tools/trace/boot-trace.sh [FUNCTION]
#
# Boots the bench guest (tests/bench, 64 MiB domain 0, a row key that
# matches nothing so it stops at once) under `-icount shift=0` with `-d
# in_asm,exec,nochain` over the hypervisor's text and the guest's, then
# prints tools/trace/boot_profile.py's profile (phases split at the
# `Boot clock` marks). Run `make build` first; set QEMU_LOCK="flock
# /tmp/qemu.lock" on a shared machine. The log is deleted after; the
# profile is kept in build/trace-boot.log.pkl.
set -e
cd "$(dirname "$0")/../.."
B=target/x86_64-unknown-none/release
LOG=build/trace-boot.log
mkdir -p build
read -r text_va text_size < <(readelf -lW $B/xen-core | awk '$1 == "LOAD" && / R E / { print $3, $6; exit }')
text_end=$(printf '0x%x' $((text_va + text_size)))
$QEMU_LOCK target/release/xen-run --direct --memory 512 --cmdline loglvl=info --log build/trace-serial.log \
  --timeout 300 --qemu-arg -icount --qemu-arg shift=0,align=off,sleep=off --qemu-arg -rtc --qemu-arg clock=vm \
  --qemu-arg -d --qemu-arg in_asm,exec,nochain --qemu-arg -D --qemu-arg "$LOG" \
  --qemu-arg -dfilter --qemu-arg "0xffff82d080000000..$text_end,0xffffffff80000000..0xffffffff80100000" \
  $B/xen-core --module "$B/bench name=bench mem=64M only=none" >/dev/null || true
grep -a "Boot clock" build/trace-serial.log || true
python3 tools/trace/boot_profile.py "$LOG" $B/xen-core ${1:+"$1"}
rm -f "$LOG"
