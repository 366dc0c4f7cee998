#!/usr/bin/env python3
"""Per-symbol instruction counts of the hypervisor's boot, from its Rust
entry to the first guest instruction, from a QEMU `-d in_asm,exec,nochain`
log filtered to the hypervisor's text and the guest's.

usage: boot_profile.py LOG|LOG.pkl HYPERVISOR_ELF [FUNCTION]

Each executed translation block counts its instructions (from its `IN:`
listing), summed per symbol (nm) until the first block at a guest address
(>= 0xffffffff80000000). Blocks are also split into phases at each call of
`boot_clock::mark` (the `Boot clock` line's marks), so each phase's top
symbols show where its instructions go. With FUNCTION, also per
instruction (executed at least 100 times, by phase) of the symbols
whose name contains it. The counts are saved beside the log as LOG.pkl
for a second look.
"""
import sys, subprocess, bisect, collections
log, hv = sys.argv[1], sys.argv[2]
want = sys.argv[3] if len(sys.argv) > 3 else None
out = subprocess.run(['nm', '-C', '--defined-only', hv], capture_output=True, text=True).stdout
S = []
for l in out.splitlines():
    p = l.split(' ', 2)
    if len(p) == 3 and p[1] in 'tTwW':
        S.append((int(p[0], 16), p[2]))
S.sort()
addrs = [a for a, _ in S]
def sym(a):
    i = bisect.bisect_right(addrs, a) - 1
    return S[i][1] if i >= 0 else '?'
marks = {a for a, n in S if n.endswith('boot_clock::mark') or n.endswith('boot_clock::mark_once')}
GUEST = 0xffffffff80000000
tbs, cur = {}, None
phases = [collections.Counter()]
per_insn = collections.Counter()
import os, pickle
f = [] if log.endswith('.pkl') else open(log, 'r', errors='replace')
if log.endswith('.pkl'):
    phases, per_insn = pickle.load(open(log, 'rb'))
for line in f:
    if line.startswith('0x'):
        c = line.index(':')
        rest = line[c + 1:]
        if cur is not None and len(rest) > 27 and rest[27:].strip():
            cur.append(int(line[:c], 16))
    elif line.startswith('IN:'):
        cur = []
    elif line.startswith('Trace'):
        b = line.index('[')
        pc = int(line[b + 1:].split('/')[1], 16)
        if cur:
            tbs[pc] = cur
        cur = None
        if pc >= GUEST:
            break
        if pc in marks:
            phases.append(collections.Counter())
        insns = tbs.get(pc, ())
        phases[-1][sym(pc)] += len(insns)
        for a in insns:
            per_insn[(len(phases) - 1, a)] += 1
if not log.endswith('.pkl'):
    pickle.dump((phases, per_insn), open(log + '.pkl', 'wb'))
total = sum(sum(p.values()) for p in phases)
print('hypervisor instructions, Rust entry -> first guest instruction: %d' % total)
byfn = collections.Counter()
for p in phases:
    byfn.update(p)
for fn, n in byfn.most_common(40):
    print('%10d  %s' % (n, fn[:140]))
for i, p in enumerate(phases):
    print('--- phase %d (after mark %d): %d' % (i, i, sum(p.values())))
    for fn, n in p.most_common(12):
        print('%10d  %s' % (n, fn[:140]))
if want:
    print('--- per instruction in functions matching', want)
    for (ph, a) in sorted(per_insn, key=lambda k: (k[0], k[1])):
        if want in sym(a) and per_insn[(ph, a)] >= 100:
            o = subprocess.run(['addr2line', '-e', hv, '-i', '-s', '%x' % a], capture_output=True, text=True).stdout.split()
            print('%d %x %8d %s' % (ph, a, per_insn[(ph, a)], ' < '.join(o)[:160]))
