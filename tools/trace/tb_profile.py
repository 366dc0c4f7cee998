#!/usr/bin/env python3
"""Per-symbol instruction counts of the hypervisor inside the bench guest's
timed regions (`region_call`, `region_ud2`, `region_rdmsr`, ...; not the
empty one), from a QEMU `-d in_asm,exec,nochain` log.

usage: tb_profile.py LOG|LOG.pkl HYPERVISOR_ELF BENCH_ELF [FUNCTION]

Each executed translation block counts its instructions (from its `IN:`
listing); blocks executed between the block holding a region's
operation (`call r13`, `ud2`, ...) and the return into that region are
summed per address, then per symbol
(nm), divided by the number of regions. A region is one timed call,
including the bench's own set-up calls that go through `page_call`, so a
row whose clean-up is also timed elsewhere shows both kinds averaged.
The counts are saved beside the log as LOG.pkl for a second look.
"""
import sys, subprocess, bisect, collections
log = sys.argv[1]
hv = sys.argv[2]
guest = sys.argv[3]
def syms(elf):
    out = subprocess.run(['nm', '-C', '--defined-only', elf], capture_output=True, text=True).stdout
    s = []
    for l in out.splitlines():
        p = l.split(' ', 2)
        if len(p) == 3 and p[1] in 'tTwW':
            s.append((int(p[0], 16), p[2]))
    s.sort()
    return s
S = syms(hv) + syms(guest); S.sort()
addrs = [a for a, _ in S]
def sym(a):
    i = bisect.bisect_right(addrs, a) - 1
    return S[i][1] if i >= 0 else '?'
gs = {n: a for a, n in syms(guest)}
# Every timed function (`region_call`, `region_ud2`, ...) has the same
# prologue: its region's first block starts 0x2a in, after the first RDTSC.
# The empty region (no hypervisor work) is left out of the average.
REGIONS = sorted(a for n, a in gs.items() if n.startswith('bench::arch::region_') and n != 'bench::arch::region_empty')
def region_of(pc):
    i = bisect.bisect_right(REGIONS, pc) - 1
    return REGIONS[i] if i >= 0 and pc < REGIONS[i] + 0x60 else None
HP = gs['hypercall_page']; HP_END = HP + 0x1000
tbs = {}  # pc -> list of insn addrs
cur = None
GUEST = 0xffffffff80000000
counts = collections.Counter()  # insn addr -> executions, inside regions
seg = []  # hv TB pcs of current segment
regions = 0
in_region = False
guest_in_region = 0
import os, pickle
if log.endswith('.pkl'):
    counts, regions = pickle.load(open(log,'rb')); f = []
else:
    f = open(log, 'r', errors='replace')
if True:
    for line in f:
        if line.startswith('0x'):
            c = line.index(':')
            rest = line[c+1:]
            if len(rest) > 27 and rest[27:].strip():
                cur.append(int(line[:c], 16))
        elif line.startswith('IN:'):
            cur = []
        elif line.startswith('Trace'):
            b = line.index('[')
            pc = int(line[b+1:].split('/')[1], 16)
            if cur is not None and cur and cur[0] == pc:
                tbs[pc] = cur
            cur = None
            if pc >= GUEST:
                rc = region_of(pc)
                if rc is not None:
                    if in_region:
                        regions += 1
                        for t in seg:
                            for a in tbs.get(t, ()):
                                counts[a] += 1
                        in_region = False
                    if pc == rc + 0x2a:
                        in_region = True
                    seg = []
                elif in_region:
                    seg.append(pc)
            elif in_region:
                seg.append(pc)
if not log.endswith('.pkl'): pickle.dump((counts, regions), open(log + '.pkl', 'wb'))
print('regions', regions)
if not regions: sys.exit()
byfn = collections.Counter()
for a, n in counts.items():
    byfn[sym(a)] += n
tot = sum(counts.values())
print('hypervisor instructions per region: %.1f' % (tot / regions))
for fn, n in byfn.most_common(40):
    print('%8.1f  %s' % (n / regions, fn[:150]))
if len(sys.argv) > 4:
    want = sys.argv[4]
    print('--- per instruction in functions matching', want)
    sel = [a for a in sorted(counts) if want in sym(a)]
    for a in sel:
        o = subprocess.run(['addr2line', '-e', hv, '-i', '-s', '%x' % a], capture_output=True, text=True).stdout.split()
        print('%x %6.1f %s' % (a, counts[a] / regions, ' < '.join(o)[:160]))
