//! The memory model as a guest sees it: `mmu_update` rules for L1 and
//! upper entries, `mmuext_op`, `update_va_mapping`, `set_gdt`, a deep
//! tree, the reservation calls and `XENMEM_exchange`.

use super::*;

pub(super) fn mmu_basics(s: &mut Suite, f: &Fixture) {
    for cmd in 4..8u64 {
        let mut label = [0u8; 40];
        let n = fmt_into(&mut label, format_args!("mmu_update command {cmd}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), ENOSYS, mu(entry(f.l1, 5) | cmd, 0));
    }
    s.check("mmu_update count 0", 0, call(N::MMU_UPDATE, &[0, 0, 0, SELF]));
    s.check("mmu_update requests in the hypervisor", EFAULT, call(N::MMU_UPDATE, &[HV, 1, 0, SELF]));
    s.check("mmu_update requests across 2^47", EFAULT, call(N::MMU_UPDATE, &[(1 << 47) - 8, 1, 0, SELF]));
    s.check(
        "mmu_update requests at the end of the address space",
        EFAULT,
        call(N::MMU_UPDATE, &[u64::MAX - 7, 1, 0, SELF]),
    );
    let req = [MmuUpdate { ptr: entry(f.l1, 5), val: 0 }];
    let p = req.as_ptr() as u64;
    s.check("mmu_update foreigndom 100 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 100]));
    s.check("mmu_update foreigndom 5 never built", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 5]));
    s.check("mmu_update foreigndom 0x7ff5 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, 0x7FF5]));
    // Domain 0's own numeric id must be given as DOMID_SELF; for another
    // domain, 0 names domain 0, which it may not act on.
    let domu = s.domu_naming_dom0();
    s.by_privilege("mmu_update foreigndom 0", ESRCH, domu, call(N::MMU_UPDATE, &[p, 1, 0, 0]));
    s.check("mmu_update table owner 100 unknown", ESRCH, call(N::MMU_UPDATE, &[p, 1, 0, (101 << 16) | SELF]));
    let mut done = 7u32;
    s.check("mmu_update with pdone", 0, call(N::MMU_UPDATE, &[p, 1, &mut done as *mut u32 as u64, SELF]));
    s.truth("mmu_update pdone counts the request", done == 1);
    s.check("mmu_update target frame beyond RAM", EINVAL, mu(0x007F_FFFF_F000, 0));
    s.check("mmu_update target frame number all ones", EINVAL, mu(ADDR_MASK, 0));
    let two = [MmuUpdate { ptr: entry(f.l1, 6), val: 0 }, MmuUpdate { ptr: entry(f.l1, 7) | 5, val: 0 }];
    let mut done2 = 0u32;
    s.check(
        "mmu_update stops at the failing request",
        ENOSYS,
        call(N::MMU_UPDATE, &[two.as_ptr() as u64, 2, &mut done2 as *mut u32 as u64, SELF]),
    );
    s.truth("mmu_update pdone counts requests before the failure", done2 == 1);
}

pub(super) fn l1_rules(s: &mut Suite, f: &mut Fixture) {
    let target = f.fresh();
    s.check("L1 read-only data mapping", 0, mu(entry(f.l1, 10), (target << 12) | RO));
    s.check("L1 writable data mapping", 0, mu(entry(f.l1, 10), (target << 12) | RWF));
    s.check("L1 entry cleared", 0, mu(entry(f.l1, 10), 0));
    for (t, name) in [(f.l1, "L1"), (f.l2, "L2"), (f.l3, "L3"), (f.l4, "L4")] {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L1 writable mapping of an {name} table"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EBUSY, mu(entry(f.l1, 11), (t << 12) | RWF));
        let n = fmt_into(&mut label, format_args!("L1 read-only mapping of an {name} table"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), 0, mu(entry(f.l1, 11), (t << 12) | RO));
    }
    let _ = mu(entry(f.l1, 11), 0);
    // Domain 0 has I/O resources: cache attributes are allowed in L1.
    for (bit, name) in [(PWT, "PWT"), (PCD, "PCD"), (PAT_PSE, "PAT")] {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L1 {name} (cache attribute)"));
        s.by_privilege(
            core::str::from_utf8(&label[..n]).unwrap_or("?"),
            0,
            EINVAL,
            mu(entry(f.l1, 12), (target << 12) | RO | bit),
        );
    }
    s.by_privilege(
        "L1 uncached mapping of shared_info (hypervisor heap frame)",
        EACCES,
        EINVAL,
        mu(entry(f.l1, 12), (f.shared_info << 12) | RO | PCD),
    );
    s.check("L1 write-back mapping of shared_info", 0, mu(entry(f.l1, 12), (f.shared_info << 12) | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check("L1 mapping of the hypervisor's local APIC", -1, mu(entry(f.l1, 12), 0xFEE0_0000 | RO));
    s.by_privilege("L1 mapping of legacy VGA memory (I/O frame)", 0, -1, mu(entry(f.l1, 12), 0xB_8000 | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check("L1 global bit allowed", 0, mu(entry(f.l1, 12), (target << 12) | RO | GLOBAL));
    s.check("L1 frame number all ones", EINVAL, mu(entry(f.l1, 12), ADDR_MASK | RO));
    let _ = mu(entry(f.l1, 12), 0);
    s.check(
        "MMU_PT_UPDATE_PRESERVE_AD on an L1 entry",
        0,
        mu(entry(f.l1, 1) | 2, (f.data << 12) | PRESENT | RW | USER),
    );
    s.check("MMU_PT_UPDATE_NO_TRANSLATE on an L1 entry", 0, mu(entry(f.l1, 1) | 3, (f.data << 12) | RWF));
    s.check("MMU_MACHPHYS_UPDATE of an owned frame", 0, mu((target << 12) | 1, f.nr_pages + 5));
    s.truth("the read-only M2P shows the update", mem::read(HV + target * 8) == f.nr_pages + 5);
}

pub(super) fn upper_rules(s: &mut Suite, f: &mut Fixture) {
    let tables = [(f.l2, 2u8, f.l1), (f.l3, 3, f.l2), (f.l4, 4, f.l3)];
    for (t, level, lower) in tables {
        for (bit, name) in [(PWT, "PWT"), (PCD, "PCD"), (PAT_PSE, "PS"), (GLOBAL, "G")] {
            let mut label = [0u8; 48];
            let n = fmt_into(&mut label, format_args!("L{level} entry with {name}"));
            s.check(
                core::str::from_utf8(&label[..n]).unwrap_or("?"),
                EINVAL,
                mu(entry(t, 1), (lower << 12) | RWF | bit),
            );
        }
    }
    for slot in 256..272u64 {
        let mut label = [0u8; 48];
        let n = fmt_into(&mut label, format_args!("L4 hypervisor slot {slot}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EINVAL, mu(entry(f.l4, slot), (f.l3 << 12) | RO));
    }
    s.check("L2 entry pointing at an L3 table", EINVAL, mu(entry(f.l2, 3), (f.l3 << 12) | RWF));
    s.check("L2 entry pointing at a writably mapped frame", EINVAL, mu(entry(f.l2, 3), (f.data << 12) | RWF));
    s.check("L3 entry pointing at an L1 table", EINVAL, mu(entry(f.l3, 3), (f.l1 << 12) | RWF));
    s.check("L4 entry pointing at a frame beyond RAM", EINVAL, mu(entry(f.l4, 3), 0x007F_FFFF_F000 | RWF));
    s.check("L4 writable self map", EINVAL, mu(entry(f.l4, 300), (f.l4 << 12) | RWF));
    s.check("L4 read-only self map", 0, mu(entry(f.l4, 300), (f.l4 << 12) | RO));
    s.check("L4 self map made writable (XSA-182)", EINVAL, mu(entry(f.l4, 300), (f.l4 << 12) | RWF | DIRTY));
    s.check("L4 self map cleared", 0, mu(entry(f.l4, 300), 0));
    s.check("L3 read-only self map", 0, mu(entry(f.l3, 300), (f.l3 << 12) | RO));
    s.check("L3 self map made writable (XSA-182)", EINVAL, mu(entry(f.l3, 300), (f.l3 << 12) | RWF));
    s.check("L3 self map cleared", 0, mu(entry(f.l3, 300), 0));
    s.check("PS set on a live L2 entry (XSA-148)", EINVAL, mu(entry(f.l2, 1), (f.l1 << 12) | RWF | PAT_PSE));
    s.check("accessed and dirty set on a live L2 entry", 0, mu(entry(f.l2, 1), (f.l1 << 12) | RWF | DIRTY));
    let fresh_l1 = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, fresh_l1, 0);
    s.check("L2 entry to a fresh frame validates it as L1", 0, mu(entry(f.l2, 4), (fresh_l1 << 12) | RWF));
    s.check("the new L1 can no longer be mapped writable", EBUSY, mu(entry(f.l1, 13), (fresh_l1 << 12) | RWF));
    s.check("L2 entry removed", 0, mu(entry(f.l2, 4), 0));
    s.check("the old L1 is plain memory again", 0, mu(entry(f.l1, 13), (fresh_l1 << 12) | RWF));
    let _ = mu(entry(f.l1, 13), 0);
    let domu = s.domu_naming_dom0();
    s.by_privilege(
        "L2 update with foreigndom 0",
        ESRCH,
        domu,
        call(N::MMU_UPDATE, &[[MmuUpdate { ptr: entry(f.l2, 5), val: 0 }].as_ptr() as u64, 1, 0, 0]),
    );
}

pub(super) fn mmuext(s: &mut Suite, f: &mut Fixture) {
    let a = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, a, 0);
    s.check("pin L1 of a fresh frame", 0, me(MMUEXT_PIN_L1_TABLE, a, 0));
    s.check("pin it again", EINVAL, me(MMUEXT_PIN_L1_TABLE, a, 0));
    s.check("pin it as L2 while it is an L1", EINVAL, me(MMUEXT_PIN_L2_TABLE, a, 0));
    s.check("unpin it", 0, me(MMUEXT_UNPIN_TABLE, a, 0));
    s.check("unpin it again", EINVAL, me(MMUEXT_UNPIN_TABLE, a, 0));
    s.check("pin L1 of a writably mapped frame", EINVAL, me(MMUEXT_PIN_L1_TABLE, f.data, 0));
    s.check("pin L1 of a frame beyond RAM", EINVAL, me(MMUEXT_PIN_L1_TABLE, 0x07FF_FFFF, 0));
    s.check("unpin a table that is typed but not pinned", EINVAL, me(MMUEXT_UNPIN_TABLE, f.l3, 0));
    s.check("pin L3 of the typed L3", 0, me(MMUEXT_PIN_L3_TABLE, f.l3, 0));
    s.check("and unpin it", 0, me(MMUEXT_UNPIN_TABLE, f.l3, 0));
    for cmd in [14u32, 21, 100] {
        let mut label = [0u8; 40];
        let n = fmt_into(&mut label, format_args!("mmuext_op command {cmd}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), ENOSYS, me(cmd, 0, 0));
    }
    s.check("MMUEXT_MARK_SUPER removed", EOPNOTSUPP, me(MMUEXT_MARK_SUPER, a, 0));
    s.check("MMUEXT_UNMARK_SUPER removed", EOPNOTSUPP, me(MMUEXT_UNMARK_SUPER, a, 0));
    s.check("TLB_FLUSH_LOCAL", 0, me(MMUEXT_TLB_FLUSH_LOCAL, 0, 0));
    s.check("TLB_FLUSH_ALL", 0, me(MMUEXT_TLB_FLUSH_ALL, 0, 0));
    s.check("INVLPG_LOCAL", 0, me(MMUEXT_INVLPG_LOCAL, VIRT_BASE, 0));
    s.check("INVLPG_LOCAL of a hypervisor address is ignored", 0, me(MMUEXT_INVLPG_LOCAL, HV, 0));
    s.check("INVLPG_ALL", 0, me(MMUEXT_INVLPG_ALL, VIRT_BASE, 0));
    let mask = 1u64;
    s.check("TLB_FLUSH_MULTI", 0, me(MMUEXT_TLB_FLUSH_MULTI, 0, &mask as *const u64 as u64));
    s.check("TLB_FLUSH_MULTI with an unreadable bitmap", EINVAL, me(MMUEXT_TLB_FLUSH_MULTI, 0, HV));
    s.check("INVLPG_MULTI with an unreadable bitmap", EINVAL, me(MMUEXT_INVLPG_MULTI, VIRT_BASE, HV));
    s.by_privilege("FLUSH_CACHE", 0, -13, me(MMUEXT_FLUSH_CACHE, 0, 0));
    s.check("CLEAR_PAGE of a fresh frame", 0, me(MMUEXT_CLEAR_PAGE, a, 0));
    s.check("CLEAR_PAGE of a page table", EINVAL, me(MMUEXT_CLEAR_PAGE, f.l1, 0));
    let b = f.fresh();
    s.check("COPY_PAGE between fresh frames", 0, me(MMUEXT_COPY_PAGE, b, a));
    s.check("COPY_PAGE into a page table", EINVAL, me(MMUEXT_COPY_PAGE, f.l2, a));
    s.check("COPY_PAGE from a frame beyond RAM", EINVAL, me(MMUEXT_COPY_PAGE, b, 0x07FF_FFFF));
    s.check("NEW_BASEPTR of a writably mapped frame", EINVAL, me(MMUEXT_NEW_BASEPTR, f.data, 0));
    s.check("NEW_BASEPTR of an L3 table", EINVAL, me(MMUEXT_NEW_BASEPTR, f.l3, 0));
    s.check("NEW_USER_BASEPTR none", 0, me(MMUEXT_NEW_USER_BASEPTR, 0, 0));
    let op = [MmuextOp { cmd: MMUEXT_TLB_FLUSH_LOCAL, pad: 0, arg1: 0, arg2: 0 }];
    let domu = s.domu_naming_dom0();
    s.by_privilege("mmuext_op on domain 0 by number", ESRCH, domu, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 0]));
    s.check("mmuext_op on unknown domain", ESRCH, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 100]));
    s.check("mmuext_op on a domain never built", ESRCH, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, 5]));
    s.check("mmuext_op ops in the hypervisor", EFAULT, call(N::MMUEXT_OP, &[HV, 1, 0, SELF]));
    s.check("mmuext_op count 0", 0, call(N::MMUEXT_OP, &[op.as_ptr() as u64, 0, 0, SELF]));
    s.check("SET_LDT of no LDT", 0, me(MMUEXT_SET_LDT, 0, 0));
}

pub(super) fn uvm(s: &mut Suite, f: &Fixture) {
    let va = f.scratch;
    let frame = f.mfn((va - VIRT_BASE) / 4096);
    let u = |va: u64, val: u64, flags: u64| call(N::UPDATE_VA_MAPPING, &[va, val, flags]);
    s.check("update_va_mapping read-only", 0, u(va, (frame << 12) | RO, UVMF_INVLPG));
    s.check("update_va_mapping writable with a full flush", 0, u(va, (frame << 12) | RWF, UVMF_TLB_FLUSH));
    s.check("update_va_mapping invlpg on all CPUs", 0, u(va, (frame << 12) | RWF, UVMF_INVLPG | UVMF_ALL));
    s.check("update_va_mapping of a hypervisor address", EINVAL, u(HV, 0, 0));
    s.check("update_va_mapping of a non-canonical address", EINVAL, u(0x8000_0000_0000_0000, 0, 0));
    s.check("update_va_mapping where no L1 exists", EINVAL, u(0x1000, 0, 0));
    s.check("update_va_mapping writable to a page table", EBUSY, u(va, (f.l1 << 12) | RWF, UVMF_INVLPG));
    s.check(
        "update_va_mapping with an unreadable vCPU bitmap",
        EFAULT,
        u(va, (frame << 12) | RWF, UVMF_INVLPG | 0x0000_7000_0000_0000),
    );
    // Flush kinds 0 and 3 flush nothing, so no bitmap is read.
    s.check(
        "update_va_mapping with no flush and an unreadable vCPU bitmap",
        0,
        u(va, (frame << 12) | RWF, UVMF_NONE | 0x0000_7000_0000_0000),
    );
    s.check(
        "update_va_mapping with flush kind 3 and an unreadable vCPU bitmap",
        0,
        u(va, (frame << 12) | RWF, 3 | 0x0000_7000_0000_0000),
    );
}

pub(super) fn memory(s: &mut Suite, f: &mut Fixture, si: &StartInfo) {
    let dom = |d: u16| d;
    let m = |cmd: u64, arg: u64| call(N::MEMORY_OP, &[cmd, arg]);
    let own = dom(0x7FF0);
    let cur = m(3, &own as *const u16 as u64);
    s.check("current_reservation is nr_pages", si.nr_pages as i64, cur);
    let max = m(4, &own as *const u16 as u64);
    s.truth("maximum_reservation is at least current", max >= cur);
    s.check("current_reservation with a start extent", EINVAL, m(3 | (1 << 6), &own as *const u16 as u64));
    let unknown = dom(100);
    s.check("current_reservation of an unknown domain", ESRCH, m(3, &unknown as *const u16 as u64));
    // A domain id below the limit that was never built (xen-core has the
    // slot; Xen has no domain 5 either): it does not exist.
    let unused = dom(5);
    s.check("current_reservation of a domain never built", ESRCH, m(3, &unused as *const u16 as u64));
    s.check("maximum_reservation of a domain never built", ESRCH, m(4, &unused as *const u16 as u64));
    s.check("current_reservation from the hypervisor", EFAULT, m(3, HV));
    s.check("memory_op unknown sub-op 40", ENOSYS, m(40, 0));
    let res = |start: u64, n: u64, order: u32| abi::memory::MemoryReservation {
        extent_start: start,
        nr_extents: n,
        extent_order: order,
        ..Default::default()
    };
    let r = res(0, 1 << 40, 0);
    s.check("increase_reservation with a huge count does nothing", 0, m(0, &r as *const _ as u64));
    let r = res(0, 1, 30);
    s.check("increase_reservation of order 30 does nothing", 0, m(0, &r as *const _ as u64));
    let r = res(HV, 4, 0);
    s.check("decrease_reservation of an array in the hypervisor", 0, m(1, &r as *const _ as u64));
    let r = res(u64::MAX - 7, 2, 0);
    s.check("populate_physmap of an array at the end of the address space", 0, m(6, &r as *const _ as u64));
    let mut bogus = [0x07FF_FFFFu64];
    let r = res(bogus.as_mut_ptr() as u64, 1, 0);
    s.check("decrease_reservation of a frame beyond RAM", 0, m(1, &r as *const _ as u64));
    s.check("memory_op with an unreadable reservation", 0, m(1, HV));
    let r = abi::memory::MemoryReservation { domid: abi::DomId(5), ..res(0, 4, 0) };
    s.check("increase_reservation for a domain never built does nothing", 0, m(0, &r as *const _ as u64));
    // Give one fresh frame back, then take one frame again.
    let pfn = f.next_free;
    let mut frames = [f.fresh()];
    let r = res(frames.as_mut_ptr() as u64, 1, 0);
    s.check("decrease_reservation of one unused frame", 1, m(1, &r as *const _ as u64));
    s.check("current_reservation dropped by one", cur - 1, m(3, &own as *const u16 as u64));
    let mut gpfn = [pfn];
    let r = res(gpfn.as_mut_ptr() as u64, 1, 0);
    s.check("populate_physmap of one frame", 1, m(6, &r as *const _ as u64));
    s.truth("the M2P records the new frame's PFN", mem::read(HV + gpfn[0] * 8) == pfn);
    s.check("current_reservation is back", cur, m(3, &own as *const u16 as u64));
}

/// A pin that validates 24 full L1 tables (12,288 entries): long enough to
/// be preempted and transparently restarted on xen-core (and on Xen, whose
/// continuations are equally invisible to the guest).
pub(super) fn big_tree(s: &mut Suite, f: &mut Fixture) {
    let l2 = f.fresh();
    let data = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, l2, 0);
    let mut l1s = [0u64; 24];
    let mut batch = [MmuUpdate::default(); 512];
    let mut ok = true;
    for (i, slot) in l1s.iter_mut().enumerate() {
        let l1 = f.fresh();
        *slot = l1;
        for (j, req) in batch.iter_mut().enumerate() {
            *req = MmuUpdate { ptr: entry(l1, j as u64), val: (data << 12) | RO };
        }
        ok &= call(N::MMU_UPDATE, &[batch.as_ptr() as u64, 512, 0, SELF]) == 0;
        ok &= mu(entry(l2, i as u64), (l1 << 12) | RWF) == 0;
    }
    s.truth("12,288 entries written with 25 batched mmu_updates", ok);
    let mut done = 0u32;
    let op = [MmuextOp { cmd: MMUEXT_PIN_L2_TABLE, pad: 0, arg1: l2, arg2: 0 }];
    s.check(
        "pin an L2 over 24 full L1 tables",
        0,
        call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, &mut done as *mut u32 as u64, SELF]),
    );
    s.truth("pdone reports the one operation", done == 1);
    s.check("the last L1 is now a page table", EBUSY, mu(entry(f.l1, 14), (l1s[23] << 12) | RWF));
    s.check("unpin the big tree", 0, me(MMUEXT_UNPIN_TABLE, l2, 0));
    s.check("the last L1 is plain memory again", 0, mu(entry(f.l1, 14), (l1s[23] << 12) | RWF));
    let _ = mu(entry(f.l1, 14), 0);
}

/// `set_gdt` (2): GDT frames must be the guest's, not writable, and hold
/// acceptable descriptors; they then take the descriptor-page type.
pub(super) fn gdt(s: &mut Suite, f: &mut Fixture) {
    let frame = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, frame, 0);
    let set = |frames: &[u64], entries: u64| call(N::SET_GDT, &[frames.as_ptr() as u64, entries]);
    let put = |index: u64, desc: u64| mu(entry(frame, index), desc);
    s.check("set_gdt of a zeroed frame with 16 entries", 0, set(&[frame], 16));
    s.check("the GDT frame cannot be mapped writable", EBUSY, mu(entry(f.l1, 15), (frame << 12) | RWF));
    s.check("the GDT frame can be mapped read-only", 0, mu(entry(f.l1, 15), (frame << 12) | RO));
    let _ = mu(entry(f.l1, 15), 0);
    s.check("the GDT frame cannot be written with mmu_update", EINVAL, put(1, 0x00CF_F200_0000_FFFF));
    let other = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, other, 0);
    s.check("set_gdt of another frame replaces it", 0, set(&[other], 16));
    s.check("the first GDT frame is plain memory again", 0, mu(entry(f.l1, 15), (frame << 12) | RWF));
    let _ = mu(entry(f.l1, 15), 0);
    for (desc, name, want) in [
        (0x00CF_F200_0000_FFFFu64, "flat data descriptor, DPL 3", 0),
        (0x00AF_FA00_0000_FFFF, "64-bit code descriptor, DPL 3", 0),
        (0x00AF_9A00_0000_FFFF, "64-bit code descriptor, DPL 0", 0),
        (0x00CF_9200_0000_FFFF, "data descriptor, DPL 0", 0),
        (0x0000_8900_0000_0067, "TSS descriptor", EINVAL),
        (0x0000_8200_0000_0000, "LDT descriptor", EINVAL),
        (0x0000_EC00_E008_1000, "call gate into the hypervisor", EINVAL),
        (0x00CF_7200_0000_FFFF, "not-present data descriptor", 0),
    ] {
        let _ = put(3, desc);
        let mut label = [0u8; 64];
        let n = fmt_into(&mut label, format_args!("set_gdt with a {name}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), want, set(&[frame], 16));
        let _ = set(&[other], 16);
        let _ = put(3, 0);
    }
    s.check("set_gdt with 7169 entries", EINVAL, set(&[frame, frame], 7169));
    s.check("set_gdt of a writably mapped frame", EINVAL, set(&[f.data], 16));
    s.check("set_gdt of a page table", EINVAL, set(&[f.l1], 16));
    s.check("set_gdt of a frame beyond RAM", EINVAL, set(&[0x07FF_FFFF], 16));
    s.check("set_gdt with the frame list in the hypervisor", EFAULT, call(N::SET_GDT, &[HV, 16]));
    s.check("set_gdt with no entries", 0, set(&[], 0));
}

/// `XENMEM_exchange` (memory_op 11): frames for fresh ones, with Xen's
/// checks in Xen's order.
pub(super) fn exchange(s: &mut Suite, f: &mut Fixture) {
    use abi::memory::{MemoryExchange, MemoryReservation};
    let m = |cmd: u64, arg: u64| call(N::MEMORY_OP, &[cmd, arg]);
    let own = 0x7FF0u16;
    let cur = m(3, &own as *const u16 as u64);
    let side = |start: u64, n: u64, order: u32| MemoryReservation {
        extent_start: start,
        nr_extents: n,
        extent_order: order,
        ..Default::default()
    };
    let ex = |x: &mut MemoryExchange| m(11, x as *mut MemoryExchange as u64);
    // One fresh frame for another.
    let pfn = f.next_free;
    let old = f.fresh();
    let mut input = [old];
    let mut output = [pfn];
    let mut x = MemoryExchange {
        input: side(input.as_mut_ptr() as u64, 1, 0),
        output: side(output.as_mut_ptr() as u64, 1, 0),
        nr_exchanged: 0,
    };
    s.check("exchange of one frame", 0, ex(&mut x));
    s.truth("exchange reports one extent exchanged", x.nr_exchanged == 1);
    s.truth("exchange writes a new frame back", output[0] != pfn && output[0] != old);
    s.truth("exchange sets the new frame's M2P entry", mem::read(HV + output[0] * 8) == pfn);
    s.check("exchange keeps the reservation", cur, m(3, &own as *const u16 as u64));
    let r = mu(entry(f.l1, 20), (old << 12) | RO);
    s.truth("the frame given up can no longer be mapped", r != 0);
    if r == 0 {
        let _ = mu(entry(f.l1, 20), 0);
    }
    s.check("exchange with nothing left to do", 0, ex(&mut x));
    s.check("exchange with a start extent", EINVAL, m(11 | (1 << 6), &mut x as *mut MemoryExchange as u64));
    s.check("exchange with an unreadable argument", EFAULT, m(11, HV));
    // Two fresh frames for one machine-contiguous order-1 extent.
    let (a, b) = (f.fresh(), f.fresh());
    let mut two = [a, b];
    let mut one = [pfn];
    let mut x = MemoryExchange {
        input: side(two.as_mut_ptr() as u64, 2, 0),
        output: side(one.as_mut_ptr() as u64, 1, 1),
        nr_exchanged: 0,
    };
    s.check("exchange of two frames for an order-1 extent", 0, ex(&mut x));
    s.truth("exchange reports both frames exchanged", x.nr_exchanged == 2);
    s.check("exchange keeps the reservation again", cur, m(3, &own as *const u16 as u64));
    // Refusals: each leaves nr_exchanged as it was.
    let fresh = f.fresh();
    let mut input = [fresh];
    let mut output = [pfn];
    let base = MemoryExchange {
        input: side(input.as_mut_ptr() as u64, 1, 0),
        output: side(output.as_mut_ptr() as u64, 1, 0),
        nr_exchanged: 0,
    };
    // Order 30 is above every domain's limit, on Xen as here.
    let mut x = MemoryExchange {
        input: side(base.input.extent_start, 1, 30),
        output: side(base.output.extent_start, 1, 30),
        ..base
    };
    s.check("exchange of order 30", EPERM, ex(&mut x));
    s.truth("a refused exchange leaves nr_exchanged", x.nr_exchanged == 0);
    let mut x = MemoryExchange { output: side(base.output.extent_start, 1, 1), ..base };
    s.check("exchange of one frame for two", EINVAL, ex(&mut x));
    let mut x = MemoryExchange { nr_exchanged: 2, ..base };
    s.check("exchange with more done than asked", EINVAL, ex(&mut x));
    s.truth("nr_exchanged is written back as it was", x.nr_exchanged == 2);
    let mut x = base;
    x.output.domid = abi::DomId(0);
    s.check("exchange between DOMID_SELF and domain 0 by number", EINVAL, ex(&mut x));
    let mut x = base;
    x.output.extent_start = HV;
    s.check("exchange with the output array in the hypervisor", EFAULT, ex(&mut x));
    let mut x = base;
    x.input.extent_start = HV;
    s.check("exchange with the input array in the hypervisor", EFAULT, ex(&mut x));
    // Xen checks only where the array starts, then faults on the first
    // element written (having given up the input frame); xen-core refuses
    // at once. Both answer EFAULT; the frames are not used again.
    let mut cross_in = [f.fresh(), f.fresh()];
    let mut x = MemoryExchange {
        input: side(cross_in.as_mut_ptr() as u64, 2, 0),
        output: side((1 << 47) - 8, 2, 0),
        nr_exchanged: 0,
    };
    s.check("exchange with the output array crossing 2^47", EFAULT, ex(&mut x));
    let mut x = base;
    x.input.domid = abi::DomId(5);
    x.output.domid = abi::DomId(5);
    s.check("exchange for a domain never built", ESRCH, ex(&mut x));
    for (frame, what) in [(f.data, "a mapped frame"), (f.l1, "a page table"), (f.shared_info, "shared_info")] {
        input[0] = frame;
        let mut x = base;
        let mut label = [0u8; 64];
        let n = fmt_into(&mut label, format_args!("exchange of {what}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or("?"), EINVAL, ex(&mut x));
    }
    let mut twice = [fresh, fresh];
    let mut x = MemoryExchange {
        input: side(twice.as_mut_ptr() as u64, 2, 0),
        output: side(base.output.extent_start, 1, 1),
        nr_exchanged: 0,
    };
    s.check("exchange of the same frame twice", EINVAL, ex(&mut x));
    // A failure after a chunk: the chunk done stays done and is reported.
    let mut mixed = [fresh, f.data];
    let mut outs = [pfn, pfn];
    let mut x = MemoryExchange {
        input: side(mixed.as_mut_ptr() as u64, 2, 0),
        output: side(outs.as_mut_ptr() as u64, 2, 0),
        nr_exchanged: 0,
    };
    s.check("exchange failing at its second frame", EINVAL, ex(&mut x));
    s.truth("exchange reports the first frame exchanged", x.nr_exchanged == 1 && outs[0] != pfn);
    s.check("the reservation is unchanged after a failed exchange", cur, m(3, &own as *const u16 as u64));
}
