//! Writable page tables: the kernel's own stores into an L1 table it maps
//! read-only are emulated and checked like `mmu_update`, with or without
//! `VMASST_TYPE_writable_pagetables` (Xen 4.17 emulates them either way);
//! into an upper-level table or a data page, misaligned, or with an entry
//! `mmu_update` would refuse, they are the guest's page fault, raised as a
//! kernel-mode write to a present page (error code 3).

use super::{call, mu, Fixture, Suite, N, RO, RWF};
use crate::arch::stores::{and_byte_not_rw, btr1, cmpxchg64, mov32_upper, mov64, mov64_at_4, xchg64};
use abi::mmu::pte::{ACCESSED, DIRTY, GLOBAL, GUEST_KERNEL, NX, PCD};
use abi::mmu::UVMF_INVLPG;
use core::sync::atomic::Ordering::SeqCst;
use guest_kernel::arch::x86_64::{mem, traps::LAST_ERROR};

const PF: i64 = 14;
/// The entry the cases write (it maps nothing the suite uses).
const SLOT: u64 = 20;
/// Bits the hypervisor may set in a stored entry (Xen's adjustments and
/// the accessed/dirty bits).
const ADJUSTED: u64 = GLOBAL | GUEST_KERNEL | ACCESSED | DIRTY;

fn map(va: u64, val: u64) -> i64 {
    call(N::UPDATE_VA_MAPPING, &[va, val, UVMF_INVLPG])
}

fn assist(cmd: u64) -> i64 {
    call(N::VM_ASSIST, &[cmd, abi::vm_assist::VMASST_TYPE_WRITABLE_PAGETABLES])
}

/// The vector of the last skipped fault and its error code, in one number.
fn fault(vector: u64) -> i64 {
    let v = vector as i64;
    (v << 16) | if v == 0 { 0 } else { LAST_ERROR.swap(0, SeqCst) as i64 }
}

fn same(a: u64, b: u64) -> bool {
    a & !ADJUSTED == b & !ADJUSTED
}

pub(super) fn ptwr(s: &mut Suite, f: &mut Fixture) {
    let va = f.scratch;
    let own = f.mfn((va - super::VIRT_BASE) / 4096);
    let e = va + SLOT * 8;
    let target = f.fresh();
    s.check("ptwr: the fixture L1 mapped read-only", 0, map(va, (f.l1 << 12) | RO));
    let _ = assist(1);
    s.check("ptwr: without the assist a store is emulated too", 0, fault(mov64(e, (target << 12) | RO)));
    s.truth("ptwr: ... and is in the L1", same(mem::read(e), (target << 12) | RO));
    let _ = mu(super::entry(f.l1, SLOT), 0);
    s.check("ptwr: vm_assist enable writable_pagetables", 0, assist(0));
    s.check("ptwr: a 64-bit store of a read-only mapping", 0, fault(mov64(e, (target << 12) | RO)));
    s.truth("ptwr: ... is in the L1", same(mem::read(e), (target << 12) | RO));
    s.check("ptwr: a 64-bit store of a writable mapping", 0, fault(mov64(e, (target << 12) | RWF)));
    s.truth("ptwr: ... the writable entry is in the L1", same(mem::read(e), (target << 12) | RWF));
    s.check("ptwr: a 32-bit store into the upper half (NX)", 0, fault(mov32_upper(e, (NX >> 32) as u32)));
    s.truth("ptwr: ... is merged into the entry", same(mem::read(e), (target << 12) | RWF | NX));
    s.check("ptwr: lock and byte clearing RW", 0, fault(and_byte_not_rw(e)));
    s.truth("ptwr: ... leaves a read-only entry", same(mem::read(e), (target << 12) | RO | NX));
    let old = mem::read(e);
    let ((rax, zf), v) = cmpxchg64(e, old ^ 1, (target << 12) | RWF);
    s.check("ptwr: lock cmpxchg with a stale value", 0, fault(v));
    s.truth("ptwr: ... loads the entry into RAX, ZF clear", rax == old && !zf && mem::read(e) == old);
    let ((rax, zf), v) = cmpxchg64(e, old, (target << 12) | RWF);
    s.check("ptwr: lock cmpxchg with the current value", 0, fault(v));
    s.truth("ptwr: ... stores, ZF set", rax == old && zf && same(mem::read(e), (target << 12) | RWF));
    let (cf, v) = btr1(e);
    s.check("ptwr: lock btr of RW", 0, fault(v));
    s.truth("ptwr: ... sets CF and leaves a read-only entry", cf && same(mem::read(e), (target << 12) | RO));
    let old = mem::read(e);
    let (rax, v) = xchg64(e, 0);
    s.check("ptwr: xchg of an empty entry", 0, fault(v));
    s.truth("ptwr: ... returns the old entry and clears it", rax == old && mem::read(e) == 0);
    let _ = mu(super::entry(f.l1, SLOT), 0);
    s.check("ptwr: a store mapping the L1 itself writable faults", (PF << 16) | 3, fault(mov64(e, (f.l1 << 12) | RWF)));
    s.check("ptwr: a store mapping the L2 writable faults", (PF << 16) | 3, fault(mov64(e, (f.l2 << 12) | RWF)));
    let uncached = (f.shared_info << 12) | RO | PCD;
    s.check("ptwr: a store mapping shared_info uncached faults", (PF << 16) | 3, fault(mov64(e, uncached)));
    s.truth("ptwr: ... and the entry stays empty", mem::read(e) == 0);
    s.check("ptwr: a misaligned 64-bit store faults", (PF << 16) | 3, fault(mov64_at_4(e, 0)));
    s.check("ptwr: an L2 mapped read-only", 0, map(va, (f.l2 << 12) | RO));
    s.check("ptwr: a store into the L2 faults", (PF << 16) | 3, fault(mov64(e, (f.l1 << 12) | RO)));
    s.check("ptwr: a data frame mapped read-only", 0, map(va, (target << 12) | RO));
    s.check("ptwr: a store into it faults", (PF << 16) | 3, fault(mov64(e, 0)));
    let _ = assist(1);
    s.check("ptwr: the scratch page mapped back", 0, map(va, (own << 12) | RWF));
}
