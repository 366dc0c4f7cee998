//! One test per row of the §3.11 errno table of the fact sheet
//! (mmu_update), each checking the exact errno and that a failure changes
//! nothing.

use super::world::*;
use crate::mm::requests::{BatchResult, RequestSource};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

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

/// Found by the hostile guest's fuzzer (issue 8, F7): shared_info was
/// accepted as an L1 (and L2) table and as a GDT frame. The hypervisor
/// stores CR2 in it on every page fault, so a fault at an address shaped
/// like a PTE became a guest mapping of any frame.
#[test]
fn shared_info_is_never_a_page_table_or_a_descriptor_page() {
    let mut w = World::new(64);
    let shared = Mfn(50);
    w.mm().assign_xen_heap_frame(shared, D1);
    let c = pinned_chain(&mut w, D1);
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l2, 5, shared.to_maddr() | FLAGS));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l3, 5, shared.to_maddr() | FLAGS));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, c.l4, 5, shared.to_maddr() | FLAGS));
    for level in 1..=4 {
        refused(&mut w, Errno::EINVAL, |w| w.pin(D1, level, shared));
    }
    refused(&mut w, Errno::EINVAL, |w| w.user_baseptr(D1, shared));
    refused(&mut w, Errno::EINVAL, |w| w.baseptr(D1, shared));
    refused(&mut w, Errno::EINVAL, |w| w.mm().set_gdt(D1, &[shared], 16));
    assert_eq!(w.update(D1, c.l1, 3, shared.to_maddr() | FLAGS), Ok(()), "it stays mappable as data");
    w.check();
}

/// Found by the hostile guest's fuzzer (issue 8, F8): decrease_reservation
/// freed shared_info, which populate_physmap then handed back as an
/// ordinary frame (or to another domain) while the hypervisor kept writing
/// it as the domain's shared_info.
#[test]
fn shared_info_cannot_be_given_back() {
    let mut w = World::new(64);
    let shared = Mfn(50);
    w.mm().assign_xen_heap_frame(shared, D1);
    refused(&mut w, Errno::ENXIO, |w| w.mm().release_frame(D1, shared));
    assert_eq!(w.info(shared).count(), 1, "still allocated");
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
