//! One test per row of the errno tables of the fact sheet: §3.11
//! (mmu_update) and §4 (mmuext_op), each checking the exact errno and that
//! a failure changes nothing.

use super::world::*;
use crate::mm::requests::{BatchResult, RequestSource};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

/// Runs `f`, expects `err`, and checks the world is exactly as before.
fn refused(w: &mut World, err: Errno, f: impl FnOnce(&mut World) -> Result<(), Errno>) {
    let before = w.snapshot();
    assert_eq!(f(w), Err(err));
    assert!(w.snapshot().same_modulo_adjustments(&before), "a refused request changed the state");
    w.check();
}

fn op(cmd: u32, arg1: u64) -> MmuextOp {
    MmuextOp { cmd, arg1, ..Default::default() }
}

/// A domain with a pinned, validated L4→L3→L2→L1 chain mapping `data` at index 1.
fn pinned_chain(w: &mut World, dom: DomId) -> Chain {
    let c = w.build_chain(dom, 1);
    w.pin(dom, 4, c.l4).unwrap();
    c
}

// ---- §3.11 mmu_update ----

struct FaultAt(u32, MmuUpdate);
impl RequestSource<MmuUpdate> for FaultAt {
    fn get(&mut self, i: u32) -> Result<MmuUpdate, Errno> {
        if i >= self.0 {
            Err(Errno::EFAULT)
        } else {
            Ok(self.1)
        }
    }
}

#[test]
fn mmu_update_copy_fault_gives_efault_with_earlier_requests_done() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    let req = MmuUpdate { ptr: f.to_maddr(), val: 42 };
    let r = w.mm().mmu_update(D1, &mut FaultAt(2, req), 5, DomId::SELF.0.into());
    assert_eq!(r, BatchResult { done: 2, result: Err(Errno::EFAULT) });
    assert_eq!(w.read(f, 0), 42);
}

#[test]
fn mmu_update_unknown_foreign_domain_gives_esrch() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    let req = [MmuUpdate { ptr: f.to_maddr(), val: 1 }];
    assert_eq!(w.mmu_batch(D1, &req, 77), BatchResult::refused(Errno::ESRCH));
    assert_eq!(w.mmu_batch(D1, &req, (78 << 16) | 0x7FF0), BatchResult::refused(Errno::ESRCH));
}

#[test]
fn mmu_update_own_numeric_domid_gives_esrch() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    let req = [MmuUpdate { ptr: f.to_maddr(), val: 1 }];
    assert_eq!(w.mmu_batch(D1, &req, 1), BatchResult::refused(Errno::ESRCH));
    assert_eq!(w.mmu_batch(D1, &req, (2 << 16) | 0x7FF0), BatchResult::refused(Errno::ESRCH));
}

#[test]
fn mmu_update_commands_4_to_7_give_enosys() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    for cmd in 4..8 {
        refused(&mut w, Errno::ENOSYS, |w| {
            w.mmu_batch(D1, &[MmuUpdate { ptr: f.to_maddr() | cmd, val: 1 }], 0x7FF0).result
        });
    }
}

#[test]
fn machphys_update_with_foreign_table_owner_gives_eperm() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    let req = [MmuUpdate { ptr: f.to_maddr() | MMU_MACHPHYS_UPDATE, val: 5 }];
    // Privileged dom0 naming dom1 as the page-table owner.
    refused(&mut w, Errno::EPERM, |w| w.mmu_batch(D0, &req, (2 << 16) | 1).result);
}

#[test]
fn machphys_update_sets_the_m2p_entry_of_an_owned_frame_only() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    let g = w.give(D2, 1)[0];
    assert_eq!(
        w.mmu_batch(D1, &[MmuUpdate { ptr: f.to_maddr() | MMU_MACHPHYS_UPDATE, val: 7 }], 0x7FF0).result,
        Ok(())
    );
    assert_eq!(w.m2p[f.0 as usize], 7);
    let req = [MmuUpdate { ptr: g.to_maddr() | MMU_MACHPHYS_UPDATE, val: 7 }];
    refused(&mut w, Errno::EINVAL, |w| w.mmu_batch(D1, &req, 0x7FF0).result);
}

#[test]
fn target_frame_not_owned_by_table_owner_gives_einval() {
    let mut w = World::new(64);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, theirs, 0, 1));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, XEN_FRAME, 0, 1));
}

#[test]
fn target_frame_not_ram_gives_einval() {
    let mut w = World::new(64);
    w.give(D1, 1);
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, Mfn(10_000), 0, 1));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, Mfn(u64::MAX >> 12), 0, 1));
}

#[test]
fn target_frame_typed_as_descriptor_page_gives_einval() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    w.mm().get_page(f, D1).unwrap();
    w.mm().get_simple_type(f, crate::mm::PageType::SegDesc).unwrap();
    let before = w.snapshot();
    assert_eq!(w.update(D1, f, 0, 1), Err(Errno::EINVAL));
    assert!(w.snapshot() == before);
}

#[test]
fn upper_level_update_with_foreign_data_owner_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D0);
    w.give(D1, 1);
    // dom0 is privileged, so naming dom1 as FD passes the permission check.
    let req = [MmuUpdate { ptr: c.l2.to_maddr() + 8 * 2, val: 0 }];
    refused(&mut w, Errno::EINVAL, |w| w.mmu_batch(D0, &req, 1).result);
}

#[test]
fn disallowed_flags_give_einval_at_every_level() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let spare = w.give(D1, 1)[0];
    for (table, level) in [(c.l1, 1u8), (c.l2, 2), (c.l3, 3), (c.l4, 4)] {
        let bad: &[u64] = if level == 1 { &[PWT, PCD, PAT_PSE] } else { &[PWT, PCD, PAT_PSE, GLOBAL] };
        let target = if level == 1 { spare } else { [c.l1, c.l2, c.l3][level as usize - 2] };
        for &bit in bad {
            refused(&mut w, Errno::EINVAL, |w| w.update(D1, table, 5, target.to_maddr() | RO | bit));
        }
    }
}

#[test]
fn hypervisor_l4_slots_give_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    for slot in [256, 260, 271] {
        refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l4, slot, c.l3.to_maddr() | RO));
        refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l4, slot, 0));
    }
    assert_eq!(w.update(D1, c.l4, 272, 0), Ok(()));
}

#[test]
fn upper_level_target_not_owned_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 3, theirs.to_maddr() | FLAGS));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 3, 10_000 << 12 | FLAGS));
}

#[test]
fn upper_level_target_of_wrong_type_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    // An L2 entry pointing at an L3 table, and at a data frame mapped RW.
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 3, c.l3.to_maddr() | RO));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 3, c.data.to_maddr() | RO));
}

#[test]
fn upper_level_target_failing_validation_propagates_its_error() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let l1 = w.give(D1, 1)[0];
    let theirs = w.give(D2, 1)[0];
    w.poke(l1, 9, theirs.to_maddr() | FLAGS);
    // The new L1 maps a foreign frame: validation fails with -EBUSY.
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l2, 3, l1.to_maddr() | FLAGS));
    w.poke(l1, 9, c.data.to_maddr() | FLAGS | PCD);
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 3, l1.to_maddr() | FLAGS));
}

#[test]
fn writable_linear_entry_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l4, 300, c.l4.to_maddr() | FLAGS));
    assert_eq!(w.update(D1, c.l4, 300, c.l4.to_maddr() | RO), Ok(()));
    w.check();
}

#[test]
fn l1_mapping_of_a_foreign_frame_gives_ebusy() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 3, theirs.to_maddr() | RO));
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 3, XEN_FRAME.to_maddr() | RO));
}

#[test]
fn l1_mapping_of_an_unallocated_frame_gives_ebusy() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 3, Mfn(50).to_maddr() | RO));
}

#[test]
fn l1_rw_mapping_of_a_page_table_gives_ebusy() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    for t in [c.l1, c.l2, c.l3, c.l4] {
        refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 3, t.to_maddr() | FLAGS));
        assert_eq!(w.update(D1, c.l1, 3, t.to_maddr() | RO), Ok(()), "read-only mapping of a table is fine");
    }
    w.check();
}

#[test]
fn l1_mmio_mapping_without_io_permission_gives_eperm() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EPERM, |w| w.update(D1, c.l1, 3, 0xFEE0_0000 | RO));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l1, 3, ADDR_MASK | RO));
    let c0 = pinned_chain(&mut w, D0);
    assert_eq!(w.update(D0, c0.l1, 3, 0xFD00_0000 | RO | PCD), Ok(()), "the hardware domain may map MMIO uncached");
    w.check();
}

#[test]
fn non_wb_cache_attributes_on_a_xen_heap_frame_give_eacces() {
    let mut w = World::new(64);
    let shared = Mfn(50);
    w.mm().assign_xen_heap_frame(shared, D0);
    let c0 = pinned_chain(&mut w, D0);
    refused(&mut w, Errno::EACCES, |w| w.update(D0, c0.l1, 3, shared.to_maddr() | RO | PCD));
    refused(&mut w, Errno::EACCES, |w| w.update(D0, c0.l1, 3, shared.to_maddr() | RO | PWT));
    refused(&mut w, Errno::EACCES, |w| w.update(D0, c0.l1, 3, shared.to_maddr() | RO | PAT_PSE));
    assert_eq!(w.update(D0, c0.l1, 3, shared.to_maddr() | FLAGS), Ok(()), "write-back is fine");
    let plain = w.give(D0, 1)[0];
    assert_eq!(w.update(D0, c0.l1, 4, plain.to_maddr() | RO | PCD), Ok(()), "ordinary RAM may be uncached");
    w.check();
}

#[test]
fn mmio_mapped_through_domid_io_is_checked_against_the_table_owner() {
    let mut w = World::new(64);
    let io = Mfn(60);
    w.mm().mark_io(io);
    let c0 = pinned_chain(&mut w, D0);
    let req = [MmuUpdate { ptr: c0.l1.to_maddr() + 3 * 8, val: io.to_maddr() | FLAGS }];
    assert_eq!(w.mmu_batch(D0, &req, u32::from(DomId::IO.0)), BatchResult { done: 1, result: Ok(()) });
    assert_eq!(w.read(c0.l1, 3) & ADDR_MASK, io.to_maddr());
    let ram = w.give(D0, 1)[0];
    let req = [MmuUpdate { ptr: c0.l1.to_maddr() + 4 * 8, val: ram.to_maddr() | RO }];
    assert_eq!(w.mmu_batch(D0, &req, u32::from(DomId::IO.0)).result, Err(Errno::EBUSY), "RAM is not DOMID_IO's");
    w.check();
}

#[test]
fn unprivileged_foreign_domain_argument_gives_eperm() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.give(D2, 1);
    let req = [MmuUpdate { ptr: c.l1.to_maddr() + 24, val: 0 }];
    assert_eq!(w.mmu_batch(D1, &req, 2), BatchResult { done: 0, result: Err(Errno::EPERM) });
    assert_eq!(w.mmu_batch(D1, &req, (3 << 16) | 0x7FF0), BatchResult { done: 0, result: Err(Errno::EPERM) });
}

#[test]
fn batch_stops_at_first_failure_and_keeps_earlier_updates() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let reqs = [
        MmuUpdate { ptr: c.l1.to_maddr() + 8 * 7, val: c.data.to_maddr() | RO },
        MmuUpdate { ptr: c.l1.to_maddr() + 8 * 8, val: c.l4.to_maddr() | FLAGS },
        MmuUpdate { ptr: c.l1.to_maddr() + 8 * 9, val: c.data.to_maddr() | RO },
    ];
    assert_eq!(w.mmu_batch(D1, &reqs, 0x7FF0), BatchResult { done: 1, result: Err(Errno::EBUSY) });
    assert_ne!(w.read(c.l1, 7), 0);
    assert_eq!(w.read(c.l1, 8), 0);
    assert_eq!(w.read(c.l1, 9), 0);
    w.check();
}

// ---- §4 mmuext_op ----

#[test]
fn pin_of_a_frame_not_owned_gives_einval() {
    let mut w = World::new(64);
    let theirs = w.give(D2, 1)[0];
    for level in 1..=4 {
        refused(&mut w, Errno::EINVAL, |w| w.pin(D1, level, theirs));
    }
    refused(&mut w, Errno::EINVAL, |w| w.pin(D1, 1, Mfn(9999)));
}

#[test]
fn pin_propagates_validation_errors() {
    let mut w = World::new(64);
    let f = w.give(D1, 2);
    let theirs = w.give(D2, 1)[0];
    w.poke(f[0], 0, theirs.to_maddr() | RO);
    refused(&mut w, Errno::EBUSY, |w| w.pin(D1, 1, f[0]));
    w.poke(f[0], 0, 0xFEE0_0000 | RO);
    refused(&mut w, Errno::EPERM, |w| w.pin(D1, 1, f[0]));
    w.poke(f[1], 0, f[0].to_maddr() | FLAGS | PAT_PSE);
    refused(&mut w, Errno::EINVAL, |w| w.pin(D1, 2, f[1]));
}

#[test]
fn a_failed_validation_adjusts_the_entries_before_the_failure_but_not_the_failing_one() {
    let mut w = World::new(64);
    let f = w.give(D1, 2);
    let theirs = w.give(D2, 1)[0];
    let kernel_ro = PRESENT | ACCESSED;
    w.poke(f[0], 0, f[1].to_maddr() | kernel_ro);
    w.poke(f[0], 1, theirs.to_maddr() | kernel_ro);
    assert_eq!(w.pin(D1, 1, f[0]), Err(Errno::EBUSY));
    assert_ne!(w.read(f[0], 0), f[1].to_maddr() | kernel_ro, "validated entries keep their adjustments");
    assert_eq!(w.read(f[0], 1), theirs.to_maddr() | kernel_ro, "the refused entry is left as written");
    w.check();
}

#[test]
fn a_validated_lower_table_may_be_referenced_from_several_upper_entries() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let spare_l2 = w.give(D1, 1)[0];
    w.pin(D1, 2, spare_l2).unwrap();
    assert_eq!(w.update(D1, c.l2, 2, c.l1.to_maddr() | FLAGS), Ok(()));
    assert_eq!(w.update(D1, spare_l2, 7, c.l1.to_maddr() | RO), Ok(()));
    assert_eq!(w.info(c.l1).type_count(), 3);
    assert_eq!(w.update(D1, c.l3, 2, c.l2.to_maddr() | FLAGS), Ok(()));
    assert_eq!(w.info(c.l2).type_count(), 2);
    w.check();
}

#[test]
fn pin_of_a_writably_mapped_frame_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    // c.data is mapped RW by c.l1.
    refused(&mut w, Errno::EINVAL, |w| w.pin(D1, 1, c.data));
}

#[test]
fn pin_of_a_table_already_typed_at_another_level_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EINVAL, |w| w.pin(D1, 1, c.l2));
}

#[test]
fn pinning_twice_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EINVAL, |w| w.pin(D1, 4, c.l4));
    // A table that is typed but not pinned can be pinned.
    assert_eq!(w.pin(D1, 3, c.l3), Ok(()));
    w.check();
}

#[test]
fn unpin_of_a_frame_not_owned_or_not_pinned_gives_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EINVAL, |w| w.unpin(D1, theirs));
    refused(&mut w, Errno::EINVAL, |w| w.unpin(D1, c.l3));
    refused(&mut w, Errno::EINVAL, |w| w.unpin(D1, Mfn(9999)));
}

#[test]
fn new_baseptr_on_another_domain_gives_eperm() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let op = op(MMUEXT_NEW_BASEPTR, c.l4.0);
    refused(&mut w, Errno::EPERM, |w| w.ext_on(D0, op, 1));
}

#[test]
fn new_baseptr_type_errors_give_einval() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EINVAL, |w| w.baseptr(D1, c.l3));
    refused(&mut w, Errno::EINVAL, |w| w.baseptr(D1, c.data));
    refused(&mut w, Errno::EINVAL, |w| w.baseptr(D1, theirs));
    refused(&mut w, Errno::EINVAL, |w| w.user_baseptr(D1, c.l2));
}

#[test]
fn flush_and_invlpg_on_another_domain_give_eperm() {
    let mut w = World::new(64);
    w.give(D1, 1);
    for cmd in [
        MMUEXT_TLB_FLUSH_LOCAL,
        MMUEXT_INVLPG_LOCAL,
        MMUEXT_TLB_FLUSH_MULTI,
        MMUEXT_INVLPG_MULTI,
        MMUEXT_TLB_FLUSH_ALL,
        MMUEXT_INVLPG_ALL,
        MMUEXT_FLUSH_CACHE,
    ] {
        refused(&mut w, Errno::EPERM, |w| w.ext_on(D0, op(cmd, 0x1000), 1));
    }
}

#[test]
fn multi_flush_with_unreadable_vcpu_bitmap_gives_einval() {
    let mut w = World::new(64);
    w.give(D1, 1);
    for cmd in [MMUEXT_TLB_FLUSH_MULTI, MMUEXT_INVLPG_MULTI] {
        refused(&mut w, Errno::EINVAL, |w| w.ext(D1, MmuextOp { cmd, arg1: 0x1000, arg2: 0x5000, pad: 0 }));
    }
}

#[test]
fn flushes_reach_the_arch_layer() {
    let mut w = World::new(64);
    w.give(D1, 1);
    w.ext(D1, op(MMUEXT_TLB_FLUSH_LOCAL, 0)).unwrap();
    w.ext(D1, op(MMUEXT_INVLPG_LOCAL, 0x4000)).unwrap();
    w.ext(D1, op(MMUEXT_INVLPG_LOCAL, 0xFFFF_8000_0000_0000)).unwrap();
    w.ext(D1, op(MMUEXT_TLB_FLUSH_ALL, 0)).unwrap();
    assert_eq!(w.hooks.local_flushes, 1);
    assert_eq!(w.hooks.invlpgs, vec![0x4000], "hypervisor addresses are ignored");
    assert_eq!(w.hooks.domain_flushes, vec![D1]);
}

#[test]
fn a_frame_that_was_writable_is_flushed_from_its_owners_tlb_before_it_becomes_a_table() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let [was_rw, never_rw] = w.give(D1, 2)[..] else { unreachable!() };
    w.update(D1, c.l1, 20, was_rw.to_maddr() | FLAGS).unwrap();
    w.update(D1, c.l1, 20, 0).unwrap();
    w.hooks.domain_flushes.clear();
    w.pin(D1, 1, never_rw).unwrap();
    assert!(w.hooks.domain_flushes.is_empty(), "nothing stale to flush");
    w.pin(D1, 1, was_rw).unwrap();
    assert_eq!(w.hooks.domain_flushes, vec![D1], "a stale writable translation may remain");
    w.check();
}

#[test]
fn cache_flush_without_io_resources_gives_eacces() {
    let mut w = World::new(64);
    w.give(D1, 1);
    refused(&mut w, Errno::EACCES, |w| w.ext(D1, op(MMUEXT_FLUSH_CACHE, 0)));
    refused(&mut w, Errno::EACCES, |w| w.ext(D1, op(MMUEXT_FLUSH_CACHE_GLOBAL, 0)));
    assert_eq!(w.ext(D0, op(MMUEXT_FLUSH_CACHE, 0)), Ok(()));
    assert_eq!(w.hooks.cache_flushes, 1);
}

#[test]
fn clear_page_needs_an_owned_frame_that_can_be_writable() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    refused(&mut w, Errno::EINVAL, |w| w.ext(D1, op(MMUEXT_CLEAR_PAGE, theirs.0)));
    refused(&mut w, Errno::EINVAL, |w| w.ext(D1, op(MMUEXT_CLEAR_PAGE, c.l1.0)));
    w.poke(c.data, 3, 99);
    assert_eq!(w.ext(D1, op(MMUEXT_CLEAR_PAGE, c.data.0)), Ok(()));
    assert_eq!(w.read(c.data, 3), 0);
    w.check();
}

#[test]
fn copy_page_needs_owned_source_and_writable_destination() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let mine = w.give(D1, 1)[0];
    let theirs = w.give(D2, 1)[0];
    let copy = |src: Mfn, dst: Mfn| MmuextOp { cmd: MMUEXT_COPY_PAGE, arg1: dst.0, arg2: src.0, pad: 0 };
    refused(&mut w, Errno::EINVAL, |w| w.ext(D1, copy(theirs, mine)));
    refused(&mut w, Errno::EINVAL, |w| w.ext(D1, copy(mine, theirs)));
    refused(&mut w, Errno::EINVAL, |w| w.ext(D1, copy(mine, c.l2)));
    w.poke(c.l1, 100, 1234);
    assert_eq!(w.ext(D1, copy(c.l1, mine)), Ok(()), "a table may be the source");
    assert_eq!(w.read(mine, 100), 1234);
}

#[test]
fn mark_super_and_unmark_super_give_eopnotsupp() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    refused(&mut w, Errno::EOPNOTSUPP, |w| w.ext(D1, op(MMUEXT_MARK_SUPER, f.0)));
    refused(&mut w, Errno::EOPNOTSUPP, |w| w.ext(D1, op(MMUEXT_UNMARK_SUPER, f.0)));
}

#[test]
fn unknown_commands_and_set_ldt_give_enosys() {
    let mut w = World::new(64);
    w.give(D1, 1);
    for cmd in [MMUEXT_SET_LDT, 14, 21, 1000, u32::MAX] {
        refused(&mut w, Errno::ENOSYS, |w| w.ext(D1, op(cmd, 0)));
    }
}

#[test]
fn mmuext_foreigndom_own_id_or_unknown_gives_esrch_and_unprivileged_foreign_gives_eperm() {
    let mut w = World::new(64);
    let f = w.give(D1, 1)[0];
    w.give(D2, 1);
    refused(&mut w, Errno::ESRCH, |w| w.ext_on(D1, op(MMUEXT_PIN_L1_TABLE, f.0), 1));
    refused(&mut w, Errno::ESRCH, |w| w.ext_on(D1, op(MMUEXT_PIN_L1_TABLE, f.0), 99));
    refused(&mut w, Errno::EPERM, |w| w.ext_on(D1, op(MMUEXT_PIN_L1_TABLE, f.0), 2));
}

#[test]
fn update_va_mapping_rejects_hypervisor_addresses_and_missing_tables() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let mut g = crate::mm::requests::NoGuestMemory;
    assert_eq!(w.uvm(D1, Chain::va(1), 0, 0, &mut g), Err(Errno::EINVAL), "no root yet");
    w.baseptr(D1, c.l4).unwrap();
    let before = w.snapshot();
    for va in [abi::HYPERVISOR_VIRT_START, 0xFFFF_8000_0000_1000, 1 << 47, Chain::va(2)] {
        assert_eq!(w.uvm(D1, va, c.data.to_maddr() | RO, UVMF_INVLPG, &mut g), Err(Errno::EINVAL), "va {va:#x}");
    }
    assert!(w.snapshot() == before);
    assert!(w.hooks.invlpgs.is_empty(), "no flush after a failed update (XSA-279)");
    assert_eq!(w.uvm(D1, Chain::va(1) + 0x1000, c.data.to_maddr() | RO, UVMF_INVLPG, &mut g), Ok(()));
    assert_eq!(w.hooks.invlpgs, vec![Chain::va(1) + 0x1000]);
    w.check();
}

#[test]
fn update_va_mapping_through_a_not_present_upper_entry_gives_einval_whatever_it_holds() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    // Not present, but otherwise naming the domain's own valid L1.
    w.update(D1, c.l2, 3, c.l1.to_maddr() | (FLAGS & !PRESENT)).unwrap();
    let va = (1 << 39) | (1 << 30) | (3 << 21);
    let mut g = OneWord(0, 0);
    refused(&mut w, Errno::EINVAL, |w| w.uvm(D1, va, c.data.to_maddr() | RO, 0, &mut g));
    w.check();
}

#[test]
fn update_va_mapping_flushes_only_when_this_vcpu_is_in_the_bitmap() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    let mut g = OneWord(0x8000, 2);
    assert_eq!(w.uvm(D1, Chain::va(1), c.data.to_maddr() | RO, UVMF_TLB_FLUSH | 0x8000, &mut g), Ok(()));
    assert_eq!(w.hooks.local_flushes, 0, "vCPU 0 is not in the mask");
    let mut g = OneWord(0x8000, 3);
    assert_eq!(w.uvm(D1, Chain::va(1), 0, UVMF_TLB_FLUSH | 0x8000, &mut g), Ok(()));
    assert_eq!(w.hooks.local_flushes, 1);
    w.check();
}

#[test]
fn update_va_mapping_with_bad_vcpumask_gives_efault_after_the_change() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    let mut g = OneWord(0x8000, 1);
    assert_eq!(w.uvm(D1, Chain::va(1), 0, UVMF_TLB_FLUSH | 0x9000, &mut g), Err(Errno::EFAULT));
    assert_eq!(w.read(c.l1, 1), 0, "the entry was changed before the bitmap was read");
    assert_eq!(w.uvm(D1, Chain::va(1), c.data.to_maddr() | RO, UVMF_TLB_FLUSH | 0x8000, &mut g), Ok(()));
    assert_eq!(w.hooks.local_flushes, 1);
    w.check();
}

#[test]
fn preserve_ad_keeps_accessed_and_dirty_already_set_and_normal_update_does_not() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let live = w.read(c.l1, 1);
    // The CPU set Dirty on the live entry.
    w.poke(c.l1, 1, live | DIRTY);
    let val = c.data.to_maddr() | PRESENT | USER;
    let req = |cmd: u64| [MmuUpdate { ptr: (c.l1.to_maddr() + 8) | cmd, val }];
    assert_eq!(w.mmu_batch(D1, &req(MMU_PT_UPDATE_PRESERVE_AD), 0x7FF0).result, Ok(()));
    assert_eq!(w.read(c.l1, 1), val | ACCESSED | DIRTY | GLOBAL, "only A and D are carried over");
    assert_eq!(w.mmu_batch(D1, &req(MMU_NORMAL_PT_UPDATE), 0x7FF0).result, Ok(()));
    assert_eq!(w.read(c.l1, 1) & (ACCESSED | DIRTY), 0);
    assert_eq!(w.read(c.l1, 1), val | GLOBAL);
    w.check();
}

#[test]
fn page_table_owner_domid_io_gives_esrch_and_mmuext_on_domid_io_gives_einval() {
    let mut w = World::new(64);
    let f = w.give(D0, 1)[0];
    let req = [MmuUpdate { ptr: f.to_maddr(), val: 1 }];
    assert_eq!(w.mmu_batch(D0, &req, ((0x7FF1 + 1) << 16) | 0x7FF0), BatchResult::refused(Errno::ESRCH));
    refused(&mut w, Errno::EINVAL, |w| w.ext_on(D0, op(MMUEXT_TLB_FLUSH_LOCAL, 0), 0x7FF1));
}

#[test]
fn multi_flushes_act_only_when_this_vcpu_is_in_the_bitmap() {
    let mut w = World::new(64);
    w.give(D1, 1);
    let run = |w: &mut World, cmd: u32, mask: u64| {
        let ops = [MmuextOp { cmd, pad: 0, arg1: 0x7000, arg2: 0x9000 }];
        let mut src: &[MmuextOp] = &ops;
        w.mm().mmuext_op(D1, &mut src, 1, 0x7FF0, &mut OneWord(0x9000, mask)).result
    };
    assert_eq!(run(&mut w, MMUEXT_TLB_FLUSH_MULTI, 0), Ok(()));
    assert_eq!(run(&mut w, MMUEXT_INVLPG_MULTI, 2), Ok(()));
    assert_eq!((w.hooks.local_flushes, w.hooks.invlpgs.len()), (0, 0));
    assert_eq!(run(&mut w, MMUEXT_TLB_FLUSH_MULTI, 1), Ok(()));
    assert_eq!((w.hooks.local_flushes, w.hooks.invlpgs.len()), (1, 0));
    assert_eq!(run(&mut w, MMUEXT_INVLPG_MULTI, 3), Ok(()));
    assert_eq!((w.hooks.local_flushes, w.hooks.invlpgs.clone()), (1, vec![0x7000]));
}

#[test]
fn io_frames_are_mappable_by_the_hardware_domain_only_and_hypervisor_mmio_by_nobody() {
    let mut w = World::new(64);
    let io = Mfn(60);
    w.mm().mark_io(io);
    let c0 = pinned_chain(&mut w, D0);
    let c1 = pinned_chain(&mut w, D1);
    assert_eq!(w.update(D0, c0.l1, 3, io.to_maddr() | FLAGS), Ok(()), "no references are taken");
    refused(&mut w, Errno::EPERM, |w| w.update(D1, c1.l1, 3, io.to_maddr() | RO));
    refused(&mut w, Errno::EPERM, |w| w.update(D0, c0.l1, 4, 0xFEE0_0000 | RO));
    refused(&mut w, Errno::EPERM, |w| w.update(D0, c0.l1, 4, 0xFEC0_0000 | RO));
    assert_eq!(w.update(D0, c0.l1, 3, 0), Ok(()));
    w.check();
}

#[test]
fn new_user_baseptr_zero_clears_the_user_root() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    assert_eq!(w.user_baseptr(D1, c.l4), Ok(()));
    assert_eq!(w.doms[1].user_root, Some(c.l4));
    assert_eq!(w.info(c.l4).type_count(), 2);
    assert_eq!(w.user_baseptr(D1, Mfn(0)), Ok(()));
    assert_eq!(w.doms[1].user_root, None);
    assert_eq!(w.info(c.l4).type_count(), 1);
    assert_eq!(w.doms[1].kernel_root, None, "the kernel root is untouched");
    w.check();
}

// ---- set_gdt ----

#[test]
fn set_gdt_types_its_frames_as_descriptor_pages_and_releases_the_old_ones() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    assert_eq!(w.mm().set_gdt(D1, &[f[0]], 16), Ok(()));
    assert_eq!((w.info(f[0]).page_type(), w.info(f[0]).type_count()), (crate::mm::PageType::SegDesc, 1));
    w.check();
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 5, f[0].to_maddr() | FLAGS));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, f[0], 1, 0x00CF_F200_0000_FFFF));
    assert_eq!(w.mm().set_gdt(D1, &[f[1]], 600), Err(Errno::EINVAL), "600 entries need two frames");
    assert_eq!(w.mm().set_gdt(D1, &[f[1]], 16), Ok(()));
    assert_eq!(w.info(f[0]).type_count(), 0, "the old frame is released");
    assert_eq!(w.update(D1, c.l1, 5, f[0].to_maddr() | FLAGS), Ok(()));
    w.check();
}

#[test]
fn set_gdt_refuses_bad_frames_and_descriptors_and_changes_nothing() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    let theirs = w.give(D2, 1)[0];
    w.poke(f[1], 7, 0x0000_8900_0000_0067);
    for (frames, entries) in [
        (vec![theirs], 16),
        (vec![c.data], 16),
        (vec![c.l2], 16),
        (vec![Mfn(9999)], 16),
        (vec![f[0], f[1]], 1000),
        (vec![f[0]], 7169),
    ] {
        let before = w.snapshot();
        assert_eq!(w.mm().set_gdt(D1, &frames, entries), Err(Errno::EINVAL), "{frames:?} {entries}");
        assert!(w.snapshot() == before, "{frames:?}");
    }
    w.check();
}

#[test]
fn teardown_releases_gdt_frames() {
    let mut w = World::new(64);
    let f = w.give(D1, 1);
    w.mm().set_gdt(D1, &f, 512).unwrap();
    let report = crate::mm::teardown::Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (1, 0));
    w.check();
}
