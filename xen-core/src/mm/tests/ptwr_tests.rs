//! The L1 tables writable-page-table emulation writes: found through the
//! kernel root, read-only, the domain's own, in use; changed by the rules
//! of `mmu_update`.

use super::world::*;
use crate::domain::vcpu::{reg, GuestContext};
use crate::emulate::pte_write::{emulate, NotEmulated, SegBases};
use crate::mm::ptwr::GuestL1s;
use abi::mmu::pte::*;

/// Where the chain's L1 maps itself read-only (entry 2).
fn table_va() -> u64 {
    Chain::va(1) - (1 << 12) + (2 << 12)
}

/// D1 with its chain pinned and loaded, the L1 mapped read-only at
/// [`table_va`].
fn world() -> (World, Chain) {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.baseptr(D1, c.l4).unwrap();
    w.update(D1, c.l1, 2, c.l1.to_maddr() | RO).unwrap();
    (w, c)
}

#[test]
fn a_read_only_mapping_of_an_own_l1_in_use_is_a_ptwr_slot() {
    let (mut w, c) = world();
    assert_eq!(w.mm().ptwr_slot(D1, table_va() + 24), Some((c.l1, 3)));
    // The data page is mapped writable: not a table write.
    assert_eq!(w.mm().ptwr_slot(D1, Chain::va(1)), None);
    // Another domain's kernel root does not map it.
    assert_eq!(w.mm().ptwr_slot(D2, table_va()), None);
    assert_eq!(w.mm().ptwr_slot(D1, abi::HYPERVISOR_VIRT_START), None);
}

#[test]
fn upper_tables_and_plain_frames_mapped_read_only_are_not_slots() {
    let (mut w, c) = world();
    let frame = w.give(D1, 1)[0];
    for (i, m) in [(3, c.l2), (4, c.l3), (5, c.l4), (6, frame)] {
        w.update(D1, c.l1, i, m.to_maddr() | RO).unwrap();
        let va = Chain::va(1) - (1 << 12) + ((i as u64) << 12);
        assert_eq!(w.mm().ptwr_slot(D1, va), None, "entry {i}");
    }
}

#[test]
fn an_unused_l1_is_not_a_slot() {
    let (mut w, c) = world();
    let spare = w.give(D1, 1)[0];
    w.pin(D1, 1, spare).unwrap();
    w.update(D1, c.l1, 3, spare.to_maddr() | RO).unwrap();
    let va = Chain::va(1) + (2 << 12);
    assert_eq!(w.mm().ptwr_slot(D1, va), Some((spare, 0)));
    // Unpinned under a hypercall, its devalidation is deferred: type count
    // zero while it still waits in the queue.
    w.hooks.defer = true;
    w.unpin(D1, spare).unwrap();
    assert_eq!(w.mm().ptwr_slot(D1, va), None, "type count zero");
}

#[test]
fn ptwr_update_follows_the_l1_rules() {
    let (mut w, c) = world();
    let frame = w.give(D1, 1)[0];
    w.mm().ptwr_update(D1, c.l1, 7, frame.to_maddr() | FLAGS).unwrap();
    assert_eq!(w.read(c.l1, 7), frame.to_maddr() | FLAGS | GLOBAL, "adjusted as mmu_update adjusts");
    assert_eq!(w.info(frame).type_count(), 1, "the writable mapping holds a type reference");
    w.check();
    refused(&mut w, abi::Errno::EBUSY, |w| w.mm().ptwr_update(D1, c.l1, 8, c.l2.to_maddr() | FLAGS));
    let foreign = w.give(D2, 1)[0];
    refused(&mut w, abi::Errno::EBUSY, |w| w.mm().ptwr_update(D1, c.l1, 8, foreign.to_maddr() | RO));
    refused(&mut w, abi::Errno::EINVAL, |w| w.mm().ptwr_update(D1, c.l1, 8, frame.to_maddr() | RO | PCD));
    w.mm().ptwr_update(D1, c.l1, 7, 0).unwrap();
    assert_eq!(w.info(frame).type_count(), 0);
    w.check();
}

#[test]
fn linux_set_pte_store_is_emulated_into_the_l1() {
    let (mut w, c) = world();
    let frame = w.give(D1, 1)[0];
    let mut ctx = GuestContext { rip: 0x1000, ..Default::default() };
    ctx.gpr[reg::RBX] = table_va() + 9 * 8;
    ctx.gpr[reg::RBP] = frame.to_maddr() | FLAGS | NX;
    let mut mm = w.mm();
    let mut l1s = GuestL1s { mm: &mut mm, dom: D1 };
    assert_eq!(emulate(&[0x48, 0x89, 0x2B], &mut ctx, table_va() + 72, SegBases::default(), &mut l1s), Ok(()));
    assert_eq!(ctx.rip, 0x1003);
    assert_eq!(w.read(c.l1, 9), frame.to_maddr() | FLAGS | NX | GLOBAL);
    w.check();
    // A store mapping the table itself writable is the guest's page fault.
    ctx.gpr[reg::RBP] = c.l1.to_maddr() | FLAGS;
    let mut mm = w.mm();
    let mut l1s = GuestL1s { mm: &mut mm, dom: D1 };
    let r = emulate(&[0x48, 0x89, 0x2B], &mut ctx, table_va() + 72, SegBases::default(), &mut l1s);
    assert_eq!(r, Err(NotEmulated::Refused));
    assert_eq!(ctx.rip, 0x1003);
    w.check();
}

#[test]
fn another_domain_cannot_reach_the_slot() {
    let (mut w, _) = world();
    let c2 = pinned_chain(&mut w, D2);
    w.baseptr(D2, c2.l4).unwrap();
    let mut ctx = GuestContext::default();
    ctx.gpr[reg::RBX] = table_va();
    let mut mm = w.mm();
    let mut l1s = GuestL1s { mm: &mut mm, dom: D2 };
    let r = emulate(&[0x48, 0x89, 0x2B], &mut ctx, table_va(), SegBases::default(), &mut l1s);
    assert_eq!(r, Err(NotEmulated::NotATable));
}

#[test]
fn a_foreign_l1_mapped_by_a_privileged_domain_is_not_its_slot() {
    let (mut w, c) = world();
    let c0 = pinned_chain(&mut w, D0);
    w.baseptr(D0, c0.l4).unwrap();
    // Domain 0 maps domain 1's L1 read-only (FD = 1).
    let req = [abi::mmu::MmuUpdate { ptr: c0.l1.to_maddr() + 3 * 8, val: c.l1.to_maddr() | RO }];
    assert_eq!(w.mmu_batch(D0, &req, u32::from(D1.0)).result, Ok(()));
    let va = Chain::va(1) + (2 << 12);
    assert_eq!(w.mm().ptwr_slot(D0, va), None);
    assert_eq!(w.mm().ptwr_slot(D1, table_va()), Some((c.l1, 0)));
}
