#!/bin/sh
# /init of xen-core's Linux test initramfs (built by `xen-linux initramfs`,
# run by `make linux` and the Linux QEMU tests). It shows what Linux says
# about Xen and about its memory, balloons down and back up through Linux's
# own sysfs, prints one verdict line and powers off. Lines start with
# "init: " so they stand out from the kernel's; the verdict line is the
# harness's `Test result: SUCCESS|FAILURE`.
export PATH=/bin
say() { echo "init: $*"; }
failed=""
fail() { say "FAILED: $*"; failed="$failed; $*"; }

say "reached /init (pid $$) on $(uname -r)"
mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || say "devtmpfs: not mounted"
say "command line: $(cat /proc/cmdline)"

say "dmesg | grep -i xen:"
dmesg | grep -i xen

# xenfs is a module in Debian's kernel; the initramfs carries it and
# xen-privcmd, which it needs.
mkdir -p /proc/xen
if insmod /lib/xen/xen-privcmd.ko && insmod /lib/xen/xenfs.ko && mount -t xenfs xenfs /proc/xen; then
    say "/proc/xen: $(ls /proc/xen | tr '\n' ' ')"
    say "/proc/xen/capabilities: '$(cat /proc/xen/capabilities)'"
else
    say "/proc/xen: not present (xenfs did not load)"
fi

say "/proc/meminfo:"
cat /proc/meminfo

# The balloon: Linux's xen-balloon driver moves memory back to the
# hypervisor (XENMEM_decrease_reservation) when its target drops and takes
# it back (XENMEM_populate_physmap) when the target rises. MemTotal counts
# the pages it holds.
BALLOON=/sys/devices/system/xen_memory/xen_memory0
STEP_KB=32768
memtotal() { awk '/^MemTotal:/ { print $2 }' /proc/meminfo; }
# wait_memtotal CMP KB: poll up to 10 s until MemTotal CMP KB holds.
wait_memtotal() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(memtotal)" "$1" "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
if [ -w $BALLOON/target_kb ]; then
    target=$(cat $BALLOON/target_kb)
    before=$(memtotal)
    say "balloon: target ${target} kB, current $(cat $BALLOON/info/current_kb) kB, MemTotal ${before} kB"
    echo $((target - STEP_KB)) > $BALLOON/target_kb || fail "balloon: writing target_kb"
    if wait_memtotal -le $((before - STEP_KB)); then
        say "balloon: lowered: target $(cat $BALLOON/target_kb) kB, current $(cat $BALLOON/info/current_kb) kB, MemTotal $(memtotal) kB (was ${before})"
    else
        fail "balloon: MemTotal $(memtotal) kB did not drop ${STEP_KB} kB below ${before} kB in 10 s"
    fi
    grep -E '^(MemTotal|MemFree|MemAvailable):' /proc/meminfo
    # The hypervisor's memory table (xen-run --keys-on types `m` here).
    say "balloon: hypervisor memory table:"
    sleep 1
    echo $target > $BALLOON/target_kb || fail "balloon: writing target_kb back"
    if wait_memtotal -ge $before; then
        say "balloon: raised back: target $(cat $BALLOON/target_kb) kB, current $(cat $BALLOON/info/current_kb) kB, MemTotal $(memtotal) kB"
    else
        fail "balloon: MemTotal $(memtotal) kB did not come back to ${before} kB in 10 s"
    fi
else
    fail "balloon: no $BALLOON/target_kb"
fi

if [ -z "$failed" ]; then
    say "all steps passed, powering off"
    echo "Test result: SUCCESS"
else
    say "failed steps:${failed#;}"
    echo "Test result: FAILURE"
fi
sync
poweroff -f
