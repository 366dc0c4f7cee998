#!/bin/bash
# Instruction trace of one bench row on xen-core, and its per-symbol profile.
#
#   tools/trace/bench-trace.sh KEY [FUNCTION]
#
# Boots the bench guest (tests/bench) with only=KEY as domain 0 under
# `-icount shift=0` with `-d in_asm,exec,nochain` over the hypervisor's text
# and the guest's, then prints the hypervisor instructions per timed region
# by symbol (tools/trace/tb_profile.py); with FUNCTION, also per instruction
# of the symbols whose name contains it, with addr2line's inline chain.
# The log is large (about 2.5 GB, most of it boot) and is deleted after;
# the profile is kept in build/trace-KEY.log.pkl. Run `make build` first; set
# QEMU_LOCK="flock /tmp/qemu.lock" on a shared machine.
set -e
cd "$(dirname "$0")/../.."
KEY=${1:?usage: bench-trace.sh KEY [FUNCTION]}
B=target/x86_64-unknown-none/release
LOG=build/trace-$KEY.log
mkdir -p build
read -r text_va text_size < <(readelf -lW $B/xen-core | awk '$1 == "LOAD" && / R E / { print $3, $6; exit }')
text_end=$(printf '0x%x' $((text_va + text_size)))
# memset (the frame scrub's `rep stosq`) is left out of the trace: QEMU logs
# every iteration of a string instruction as one block, and the idle loop
# scrubs the free frames (about 58 M iterations in a bench run) while the
# event rows' pause blocks, which made the log tens of GB and cut the trace
# at its timeout. A timed region's own memset calls are therefore not
# counted.
read -r ms_va ms_size < <(nm -S $B/xen-core | awk '$4 == "memset" { print "0x" $1, "0x" $2; exit }')
ms_end=$(printf '0x%x' $((ms_va + ms_size)))
$QEMU_LOCK target/release/xen-run --direct --memory 512 --cmdline loglvl=info --log build/trace-serial.log \
  --timeout 900 --qemu-arg -icount --qemu-arg shift=0,align=off,sleep=off --qemu-arg -rtc --qemu-arg clock=vm \
  --qemu-arg -d --qemu-arg in_asm,exec,nochain --qemu-arg -D --qemu-arg "$LOG" \
  --qemu-arg -dfilter --qemu-arg "0xffff82d080000000..$ms_va,$ms_end..$text_end,0xffffffff80000000..0xffffffff80100000" \
  $B/xen-core --module "$B/bench name=bench mem=64M hcall-ext=int82,vmcall only=$KEY" >/dev/null || true
grep -a "bench-row" build/trace-serial.log
python3 tools/trace/tb_profile.py "$LOG" $B/xen-core $B/bench ${2:+"$2"}
rm -f "$LOG"
