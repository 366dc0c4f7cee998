//! `make modes` under PV direct paging (the PVH side is in `crate::pvh`):
//! every table change through `mmu_update` / `mmuext_op` /
//! `update_va_mapping`, on the tables the story built (step 3).
//!
//! * pt-build: 64 entries written into a fresh frame, the frame pinned as
//!   an L1 and hooked into the kernel's L2, a read through it checked;
//!   then unhooked, unpinned (with a local flush) and emptied again.
//! * switch: `MMUEXT_NEW_BASEPTR` between the story's root and a second
//!   one, which share the kernel's L2 but map a different frame at
//!   [`SPACE_VA`]; that read is checked after every switch.
//! * walk: 2048 pages (PFNs 1024–3071, at `VIRT_BASE + pfn × 4096` as the
//!   rest of the image) mapped through four L1s built here, the same VAs
//!   the PVH walk reads.
//!
//! The counts are the hypercalls this kernel made (at its `mem` wrappers)
//! and the faults the hypervisor bounced to it: xen-core keeps no
//! per-domain count of PV hypercalls (it would put an instruction on the
//! null-hypercall path), and on Xen the same counts hold.

use crate::story::{alloc_frame, clear, fail, fail_errno, mfn_of_pfn, VIRT_BASE};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::start_info::StartInfo;
use core::sync::atomic::{AtomicU64, Ordering};
use guest_kernel::arch::x86_64::mem;
use guest_kernel::say;

/// Page faults the hypervisor bounced to this kernel's #PF handler.
pub(crate) static FAULTS: AtomicU64 = AtomicU64::new(0);

/// The walk's working set: its first PFN and its size in pages.
const WORK_PFN: u64 = 1024;
const WORK_PAGES: u64 = 2048;
/// pt-build's window: the kernel L2's slot, its VA, and the PFNs it maps.
const BUILD_SLOT: u64 = 6;
const BUILD_VA: u64 = VIRT_BASE + (BUILD_SLOT << 21);
const BUILD_PFN: u64 = 3072;
const BUILD: u64 = 64;
/// The mapping the two address spaces differ in: the kernel L3's slot 509
/// (1 GiB below the kernel), and the PFNs of its two marked frames.
const SPACE_VA: u64 = VIRT_BASE - (1 << 30);
const SPACE_PFNS: [u64; 2] = [3200, 3201];
const SPACE_MARK: u64 = 0x5A5A_0000;

const FLAGS: u64 = PRESENT | RW | USER | ACCESSED;

fn entry(table: u64, idx: u64, val: u64) -> MmuUpdate {
    MmuUpdate { ptr: (table << 12) + idx * 8 + MMU_NORMAL_PT_UPDATE, val }
}

fn update(what: &str, reqs: &[MmuUpdate]) {
    if let Err(e) = mem::mmu_update(reqs) {
        fail_errno(what, e.errno);
    }
}

fn ext(what: &str, ops: &[MmuextOp]) {
    if let Err(e) = mem::mmuext(ops) {
        fail_errno(what, e.errno);
    }
}

fn op(cmd: u32, mfn: u64) -> MmuextOp {
    MmuextOp { cmd, pad: 0, arg1: mfn, arg2: 0 }
}

fn fresh() -> u64 {
    let m = alloc_frame();
    clear(m);
    m
}

/// An L1 mapping the 512 PFNs from `first`, written while it is a plain
/// frame (it becomes an L1 when hooked).
fn l1_of(first: u64) -> u64 {
    let l1 = fresh();
    let mut batch = [MmuUpdate::default(); 512];
    for (i, e) in batch.iter_mut().enumerate() {
        *e = entry(l1, i as u64, (mfn_of_pfn(first + i as u64) << 12) | FLAGS);
    }
    update("modes: an L1 of the working set", &batch);
    l1
}

fn read_counts(c: &mut [u64; crate::modes::MAX_COUNTERS]) {
    c[0] = mem::HYPERCALLS.load(Ordering::Relaxed);
    c[1] = FAULTS.load(Ordering::Relaxed);
}

/// Runs the workload and powers off. `kernel_l3` and `kernel_l2` are the
/// story's tables for the kernel's GiB.
pub fn run(si: &StartInfo, kernel_l3: u64, kernel_l2: u64, hole: u64, hole_frame: &AtomicU64) -> ! {
    let boot_pages = (si.pt_base - VIRT_BASE) / 4096 + si.nr_pt_frames;
    if boot_pages > WORK_PFN || si.nr_pages < 4096 {
        fail("modes needs 16 MiB and a boot mapping below 4 MiB");
    }
    // The working set: four L1s in the kernel L2's slots 2–5.
    let mut hooks = [MmuUpdate::default(); (WORK_PAGES / 512) as usize];
    for (i, h) in hooks.iter_mut().enumerate() {
        let first = WORK_PFN + i as u64 * 512;
        *h = entry(kernel_l2, first >> 9, (l1_of(first) << 12) | FLAGS);
    }
    update("modes: hooking the working set", &hooks);
    let touch = |i: u64| mem::read(VIRT_BASE + (WORK_PFN + i) * 4096);

    // The second address space: its own L4 and L3 (sharing the kernel's
    // L2), and in each space a different frame at SPACE_VA.
    let marks = SPACE_PFNS.map(mfn_of_pfn);
    update("modes: marking", &[entry(marks[0], 0, SPACE_MARK), entry(marks[1], 0, SPACE_MARK + 1)]);
    let (l4b, l3b) = (fresh(), fresh());
    let spaces = [(kernel_l3, fresh(), fresh()), (l3b, fresh(), fresh())];
    for (s, &(l3, l2, l1)) in spaces.iter().enumerate() {
        update(
            "modes: a space's own mapping",
            &[
                entry(l1, 0, (marks[s] << 12) | FLAGS),
                entry(l2, 0, (l1 << 12) | FLAGS),
                entry(l3, 509, (l2 << 12) | FLAGS),
            ],
        );
    }
    update(
        "modes: the second root",
        &[entry(l3b, 510, (kernel_l2 << 12) | FLAGS), entry(l4b, 511, (l3b << 12) | FLAGS)],
    );
    ext("modes: pinning the second root", &[op(MMUEXT_PIN_L4_TABLE, l4b)]);
    let roots = [mem::read_cr3() >> 12, l4b];
    let mut space = 0;
    let mut switch = || {
        space ^= 1;
        ext("new_baseptr", &[op(MMUEXT_NEW_BASEPTR, roots[space])]);
        if mem::read(SPACE_VA) != SPACE_MARK + space as u64 {
            fail("modes: the other address space's own mapping");
        }
    };

    // pt-build's frame and window, the window's first frame marked.
    let build_l1 = fresh();
    let first = mfn_of_pfn(BUILD_PFN);
    update("modes: marking", &[entry(first, 0, 0xB11D)]);
    let mut map = [MmuUpdate::default(); BUILD as usize];
    let mut unmap = [MmuUpdate::default(); BUILD as usize];
    for i in 0..BUILD {
        map[i as usize] = entry(build_l1, i, (mfn_of_pfn(BUILD_PFN + i) << 12) | FLAGS);
        unmap[i as usize] = entry(build_l1, i, 0);
    }
    let mut build = || {
        update("modes: pt-build entries", &map);
        ext("modes: pt-build pin", &[op(MMUEXT_PIN_L1_TABLE, build_l1)]);
        update("modes: pt-build hook", &[entry(kernel_l2, BUILD_SLOT, (build_l1 << 12) | FLAGS)]);
        if mem::read(BUILD_VA) != 0xB11D {
            fail("modes: the built L1's first page");
        }
        update("modes: pt-build unhook", &[entry(kernel_l2, BUILD_SLOT, 0)]);
        ext("modes: pt-build unpin", &[op(MMUEXT_UNPIN_TABLE, build_l1), op(MMUEXT_TLB_FLUSH_LOCAL, 0)]);
        update("modes: pt-build emptied", &unmap);
    };

    // The demand-faulted hole's entry: unmapped and mapped again, each
    // with update_va_mapping's INVLPG.
    let mut pt_update = || {
        let frame = hole_frame.load(Ordering::Relaxed);
        let a = mem::update_va(hole, 0, UVMF_INVLPG);
        let b = mem::update_va(hole, (frame << 12) | FLAGS, UVMF_INVLPG);
        if a.is_err() || b.is_err() {
            fail("modes: update_va_mapping of the hole");
        }
    };
    // A fault the kernel's own #PF handler fixes: the hole unmapped, then
    // touched (the handler maps a fresh frame with update_va_mapping).
    let mut fault = || {
        if mem::update_va(hole, 0, UVMF_INVLPG).is_err() {
            fail("modes: unmapping the hole");
        }
        mem::write(hole, 1);
    };
    // One free page (the allocator's next, never mapped) given back and
    // taken again, its p2m entry kept in step as the balloon driver does.
    let mut balloon = || {
        let pfn = crate::story::NEXT_FREE_PFN.load(Ordering::Relaxed);
        let slot = crate::story::P2M.load(Ordering::Relaxed) + pfn * 8;
        let mut out = [abi::Mfn(mem::read(slot))];
        if mem::decrease(&mut out) != 1 {
            return false;
        }
        let mut back = [abi::Mfn(0)];
        let ok = mem::populate(&[abi::Pfn(pfn)], &mut back) == 1;
        mem::write(slot, back[0].0);
        ok
    };
    crate::modes::run(crate::modes::Ops {
        mode: "pv",
        pt_build: crate::modes::Timed { run: &mut build, per: 2 * BUILD },
        pt_update: crate::modes::Timed { run: &mut pt_update, per: 1 },
        fault: crate::modes::Timed { run: &mut fault, per: 1 },
        switch: &mut switch,
        touch: &touch,
        pages: WORK_PAGES,
        balloon: &mut balloon,
        counter: crate::modes::Counter {
            what: "hcalls+traps",
            names: &["hcall", "trap"],
            read: &read_counts,
            overhead: [0; crate::modes::MAX_COUNTERS],
        },
    });
    say!("Test result: SUCCESS");
    abi::guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}
