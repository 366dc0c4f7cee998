//! One test per row of the §4 errno table of the fact sheet (mmuext_op),
//! and the update_va_mapping rules, each checking the exact errno and that
//! a failure changes nothing.

use super::world::*;
use crate::mm::requests::BatchResult;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{Errno, Mfn};

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
    w.pin(D1, 1, never_rw).unwrap();
    assert_eq!(w.hooks.now_flushes, 0, "nothing stale to flush");
    w.pin(D1, 1, was_rw).unwrap();
    assert_eq!(w.hooks.now_flushes, 1, "a stale writable translation may remain");
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
fn unknown_commands_give_enosys() {
    let mut w = World::new(64);
    w.give(D1, 1);
    for cmd in [14, 21, 1000, u32::MAX] {
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
