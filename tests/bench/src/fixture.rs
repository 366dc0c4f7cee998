//! The frames and tables the operations work on, built at start of day
//! from frames above the initial mapping (unmapped, untyped on both
//! hypervisors):
//! - the bench L1, in use: L4 slot 3 of the running root → L3 → L2 → it,
//!   so `mmu_update` and `update_va_mapping` change live mappings;
//! - 512 data frames for it to map;
//! - three L1 candidates for pin+unpin: empty, 512 read-only entries,
//!   512 writable entries (written while untyped, so nothing is taken
//!   until the pin validates them);
//! - 64 pseudo-physical frames for the reservation calls;
//! - a user root (pinned, `NEW_USER_BASEPTR`) whose slot 2 shares an L3
//!   with the kernel root: a code page and a stack page.

use crate::arch::{self, hypercall};
use crate::say;
use abi::hypercall::HypercallNr as N;
use abi::mmu::pte::{ACCESSED, PRESENT, RW, USER};
use abi::mmu::*;
use abi::start_info::StartInfo;

/// Where the kernel is mapped.
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// The bench L1 maps the 2 MiB from here (L4 slot 3).
pub const BENCH_VA: u64 = 3 << 39;
/// The user code page (L4 slot 2, in both roots); the stack page follows.
pub const USER_CODE: u64 = 2 << 39;
/// The user stack's top.
pub const USER_STACK_TOP: u64 = USER_CODE + 0x2000;
/// `DOMID_SELF` as a hypercall argument.
pub const SELF: u64 = 0x7FF0;
/// A writable guest mapping.
pub const RWF: u64 = PRESENT | RW | USER | ACCESSED;
/// A read-only guest mapping.
pub const ROF: u64 = PRESENT | USER | ACCESSED;
/// Entries of a page table.
pub const ENTRIES: usize = 512;
/// Pages in a reservation call.
pub const RESERVATION: usize = 64;

/// What the operations need.
pub struct Fixture {
    /// The bench L1 (in use).
    pub l1: u64,
    /// Frames it maps.
    pub data: [u64; ENTRIES],
    /// Pin candidate: no entries.
    pub l1_empty: u64,
    /// Pin candidate: 512 read-only entries.
    pub l1_ro: u64,
    /// Pin candidate: 512 writable entries.
    pub l1_rw: u64,
    /// The reservation's pseudo-physical frames.
    pub pfns: [u64; RESERVATION],
    /// The frames they have now.
    pub mfns: [u64; RESERVATION],
}

/// Ends the run: a set-up step failed.
pub fn fail(what: &str, rc: i64) -> ! {
    say!("bench: set-up failed: {what}: {rc}");
    say!("Test result: FAILURE");
    abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

/// `mmu_update` of `reqs` on the guest's own tables (untimed).
pub fn mmu_update(reqs: &[MmuUpdate]) -> i64 {
    hypercall(N::MMU_UPDATE.0, [reqs.as_ptr() as u64, reqs.len() as u64, 0, SELF, 0])
}

/// `mmuext_op` of `ops` (untimed).
pub fn mmuext(ops: &[MmuextOp]) -> i64 {
    hypercall(N::MMUEXT_OP.0, [ops.as_ptr() as u64, ops.len() as u64, 0, SELF, 0])
}

/// One extended op.
pub fn op(cmd: u32, mfn: u64) -> MmuextOp {
    MmuextOp { cmd, pad: 0, arg1: mfn, arg2: 0 }
}

/// The request writing `val` into entry `idx` of table `mfn`.
pub fn pte(mfn: u64, idx: usize, val: u64) -> MmuUpdate {
    MmuUpdate { ptr: (mfn << 12) + idx as u64 * 8, val }
}

struct Frames {
    p2m: u64,
    next: u64,
}

impl Frames {
    /// The next frame down from the top of the domain's memory, cleared.
    fn fresh(&mut self) -> u64 {
        let mfn = arch::read(self.p2m + self.next * 8);
        self.next -= 1;
        check("clear a fresh frame", mmuext(&[op(MMUEXT_CLEAR_PAGE, mfn)]));
        mfn
    }
}

fn check(what: &str, rc: i64) {
    if rc != 0 {
        fail(what, rc);
    }
}

/// Builds everything; the user mode's callback and stack too.
pub fn build(si: &StartInfo) -> Fixture {
    let mut frames = Frames { p2m: si.mfn_list, next: si.nr_pages - 1 };
    let root = arch::read(si.mfn_list + (si.pt_base - VIRT_BASE) / 4096 * 8);

    let (l3, l2, l1) = (frames.fresh(), frames.fresh(), frames.fresh());
    check("bench L3 -> L2 -> L1", mmu_update(&[pte(l2, 0, (l1 << 12) | RWF), pte(l3, 0, (l2 << 12) | RWF)]));
    check("hook the bench L3 into the running root", mmu_update(&[pte(root, 3, (l3 << 12) | RWF)]));

    let data: [u64; ENTRIES] = core::array::from_fn(|_| frames.fresh());
    let (l1_empty, l1_ro, l1_rw) = (frames.fresh(), frames.fresh(), frames.fresh());
    for (table, flags) in [(l1_ro, ROF), (l1_rw, RWF)] {
        let reqs: [MmuUpdate; ENTRIES] = core::array::from_fn(|i| pte(table, i, (data[i] << 12) | flags));
        check("fill an L1 candidate while untyped", mmu_update(&reqs));
    }

    let pfns: [u64; RESERVATION] = core::array::from_fn(|i| frames.next - i as u64);
    let mfns = pfns.map(|pfn| arch::read(si.mfn_list + pfn * 8));
    frames.next -= RESERVATION as u64;

    let (ul4, ul3, ul2, ul1, code, stack) =
        (frames.fresh(), frames.fresh(), frames.fresh(), frames.fresh(), frames.fresh(), frames.fresh());
    check(
        "user L3 -> L2 -> L1 -> code, stack",
        mmu_update(&[
            pte(ul1, 0, (code << 12) | RWF),
            pte(ul1, 1, (stack << 12) | RWF),
            pte(ul2, 0, (ul1 << 12) | RWF),
            pte(ul3, 0, (ul2 << 12) | RWF),
            pte(ul4, 2, (ul3 << 12) | RWF),
        ]),
    );
    check("the user L3 in the kernel root", mmu_update(&[pte(root, 2, (ul3 << 12) | RWF)]));
    check("pin the user root", mmuext(&[op(MMUEXT_PIN_L4_TABLE, ul4), op(MMUEXT_NEW_USER_BASEPTR, ul4)]));
    for (i, chunk) in arch::user_code().chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        arch::write(USER_CODE + i as u64 * 8, u64::from_le_bytes(w));
    }
    if let Err(e) = arch::user_setup() {
        fail("stack_switch and the syscall callback", -i64::from(e.0));
    }
    Fixture { l1, data, l1_empty, l1_ro, l1_rw, pfns, mfns }
}
