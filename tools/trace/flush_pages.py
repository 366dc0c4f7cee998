#!/usr/bin/env python3
"""What a TLB flush row makes QEMU refill, from a `-d in_asm,exec,nochain`
log of one bench row (run as tools/trace/bench-trace.sh does, with
`only=tlb_flush_local` or `only=tlb_flush_after_unpin`, keeping the log).

usage: flush_pages.py LOG HYPERVISOR_ELF BENCH_ELF

Prints, for the timed regions: the translation blocks run after the block
holding the last CR4 write (the flush) and the code pages they sit on;
how many gaps between regions hold a CR4 write; the code pages and the
blocks of a region before its flush that the gap before it did not run
(after the previous flush emptied QEMU's soft TLB and jump cache, those
are found again inside the timed region).
"""
import sys, collections, subprocess, bisect
log = sys.argv[1]; hv = sys.argv[2]; guest = sys.argv[3]
def syms(elf):
    out = subprocess.run(['nm', '-C', '--defined-only', elf], capture_output=True, text=True).stdout
    s = []
    for l in out.splitlines():
        p = l.split(' ', 2)
        if len(p) == 3 and p[1] in 'tTwW': s.append((int(p[0], 16), p[2]))
    s.sort(); return s
S = syms(hv) + syms(guest); S.sort(); A = [a for a, _ in S]
def sym(a):
    i = bisect.bisect_right(A, a) - 1
    return S[i][1] if i >= 0 else '?'
gs = {n: a for a, n in syms(guest)}
REG = sorted(a for n, a in gs.items() if n.startswith('bench::arch::region_') and n != 'bench::arch::region_empty')
def region_of(pc):
    i = bisect.bisect_right(REG, pc) - 1
    return REG[i] if i >= 0 and pc < REG[i] + 0x60 else None
# TB listings: pc -> last insn addr
tbend = {}; cur = None; curpc = None; cr4tb = set()
seqs = []; seq = None; gaps = []
for line in open(log, errors='replace'):
    if line.startswith('0x'):
        c = line.index(':')
        if cur is not None:
            cur.append(int(line[:c], 16))
            if 'cr4' in line and ('mov' in line) and line.rstrip().endswith('cr4'):
                curcr4 = True
    elif line.startswith('IN:'):
        cur = []; curcr4 = False
    elif line.startswith('Trace'):
        b = line.index('['); pc = int(line[b+1:].split('/')[1], 16)
        if cur:
            tbend[cur[0]] = cur[-1]
            if curcr4: cr4tb.add(cur[0])
        cur = None
        rc = region_of(pc) if pc >= 0xffffffff80000000 else None
        if rc is not None:
            if seq is not None: seqs.append(seq); seq = None; gaps.append([])
            if pc == rc + 0x2a: seq = []
        elif seq is not None:
            seq.append(pc)
        elif gaps:
            gaps[-1].append(pc)
print("regions", len(seqs))
# For each region: TBs after the last TB that writes CR4 (known from listings or by address)
res = []
for s in seqs[-60:]:
    last = None
    for i, pc in enumerate(s):
        if pc in cr4tb: last = i
    if last is None: continue
    after = s[last+1:]
    pages = collections.OrderedDict()
    for pc in after:
        for pg in range(pc >> 12, (tbend.get(pc, pc) >> 12) + 1): pages.setdefault(pg, sym(pc))
    res.append((len(after), len(set(after)), pages, s[:last+1]))
n, d, pages, before = res[-1]
print('TBs executed after the flush: %d (%d distinct); code pages %d' % (n, d, len(pages)))
for pg, name in pages.items(): print('  page %x  first %s' % (pg << 12, name[:100]))
print('TBs before and with the flush:', len(before), 'code pages', len({pc >> 12 for pc in before}))
print('sequence after flush:')
for pc in res[-1][3][-3:]: print('  (flush) %x %s' % (pc, sym(pc)[:90]))

g = [x for x in gaps[-60:-1]]
print('gaps examined', len(g), 'gaps with a CR4-writing TB:', sum(1 for x in g if any(pc in cr4tb for pc in x)))
print('example gap: %d TBs; CR4 TBs: %s' % (len(g[-1]), [hex(pc) + ' ' + sym(pc)[:60] for pc in g[-1] if pc in cr4tb]))
# cold code pages at region start: pages of the region's pre-flush TBs that the previous gap did not touch
cold = collections.Counter(); nreg = 0
for k in range(len(seqs) - 40, len(seqs) - 1):
    s = seqs[k]; gp = gaps[k - 1] if k >= 1 else []
    gpages = set()
    for pc in gp:
        for pg in range(pc >> 12, (tbend.get(pc, pc) >> 12) + 1): gpages.add(pg)
    last = max((i for i, pc in enumerate(s) if pc in cr4tb), default=None)
    if last is None: continue
    nreg += 1
    for pc in {pc for pc in s[:last+1]}:
        for pg in range(pc >> 12, (tbend.get(pc, pc) >> 12) + 1):
            if pg not in gpages: cold[(pg, sym(pc))] += 1
print('regions', nreg, 'pre-flush code pages not touched by the gap before (page, first symbol: regions):')
seen = set()
for (pg, name), n in sorted(cold.items()):
    if pg in seen: continue
    seen.add(pg); print('  %x %s: %d' % (pg << 12, name[:80], n))
# TBs of the region before the flush that the gap before it did not execute (QEMU's jump cache was
# cleared by the previous region's flush; a TB the gap ran is found again in it)
coldtb = collections.Counter(); nreg = 0; tot = 0
for k in range(len(seqs) - 40, len(seqs) - 1):
    s = seqs[k]; gp = set(gaps[k - 1])
    last = max((i for i, pc in enumerate(s) if pc in cr4tb), default=None)
    if last is None: continue
    nreg += 1; pre = set(s[:last+1]); tot += len(pre)
    for pc in pre - gp: coldtb[pc] += 1
print('regions', nreg, 'distinct pre-flush TBs per region %.1f, not run by the gap before:' % (tot / max(nreg,1)), len(coldtb))
for pc, n in sorted(coldtb.items()): print('  %x %s: %d' % (pc, sym(pc)[:80], n))
