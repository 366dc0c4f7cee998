//! The shadow model's behaviours one at a time.

use super::world::*;
use crate::p2m::Order;
use crate::shadow::{ec, Access, Kind};
use abi::mmu::pte::*;
use abi::Gfn;

const READ: Access = Access { write: false, user: false, exec: false };
const WRITE: Access = Access { write: true, user: false, exec: false };
const USER_READ: Access = Access { write: false, user: true, exec: false };

#[test]
fn shadows_are_built_lazily_on_the_first_fault() {
    let mut s = ShadowWorld::new(32, 64);
    assert_eq!(s.run(|sh, _| sh.slots().count()), 1, "only the root before any access");
    let five = s.mfn(5);
    assert_eq!(s.access(5 << 12, READ, None), Ended::Done(five));
    // Root, L3, L2, L1 shadows now exist.
    assert_eq!(s.run(|sh, _| sh.slots().count()), 4);
    s.check().unwrap();
}

#[test]
fn guest_page_table_pages_are_write_protected_and_writes_to_them_are_emulated() {
    let mut s = ShadowWorld::new(32, 64);
    let l1 = s.mfn(3);
    s.access(0, READ, None);
    assert!(s.protected(l1));
    // VA 3 << 12 maps the L1 table itself: a write there is emulated.
    let new = (9 << 12) | PRESENT | RW | USER | ACCESSED | DIRTY;
    assert_eq!(s.access(3 << 12, WRITE, Some((7, new))), Ended::Emulated(l1));
    // The changed entry is resynced: VA 7 << 12 now maps frame 9.
    let nine = s.mfn(9);
    assert_eq!(s.access(7 << 12, READ, None), Ended::Done(nine));
    s.check().unwrap();
}

#[test]
fn a_frame_that_becomes_a_page_table_loses_its_writable_mappings_at_once() {
    let mut s = ShadowWorld::new(32, 64);
    let six = s.mfn(6);
    assert_eq!(s.access(6 << 12, WRITE, Some((0, 0))), Ended::Done(six));
    assert!(s.tlb.entries.get(&(6 << 12)).unwrap().1.write);
    // Frame 6 becomes an L2 (its entry 0 naming the L1 in frame 3) under
    // L3[1], the table for VA 1 GiB; a walk through it shadows it.
    s.set(6, 0, (3 << 12) | PRESENT | RW | USER | ACCESSED);
    s.set(1, 1, (6 << 12) | PRESENT | RW | USER | ACCESSED);
    assert!(!s.protected(six));
    let zero = s.mfn(0);
    assert_eq!(s.access(1 << 30, READ, None), Ended::Done(zero));
    assert!(s.protected(six));
    assert!(!s.tlb.entries.contains_key(&(6 << 12)));
    assert_eq!(s.access(6 << 12, WRITE, Some((0, 0))), Ended::Emulated(six));
    s.check().unwrap();
}

#[test]
fn a_guest_fault_goes_back_with_the_hardware_error_code() {
    let mut s = ShadowWorld::new(32, 64);
    // Not present: VA 1 GiB (L3[1] empty).
    assert_eq!(s.access(1 << 30, READ, None), Ended::GuestFault(0));
    // Supervisor-only page read from user mode.
    s.set(3, 4, (4 << 12) | PRESENT | RW | ACCESSED | DIRTY);
    assert_eq!(s.access(4 << 12, USER_READ, None), Ended::GuestFault(ec::PRESENT | ec::USER));
    // Read-only page written.
    s.set(3, 5, (5 << 12) | PRESENT | USER | ACCESSED);
    assert_eq!(s.access(5 << 12, WRITE, Some((0, 1))), Ended::GuestFault(ec::PRESENT | ec::WRITE));
    // PS in an L3 entry is reserved.
    s.set(1, 1, PAT_PSE | PRESENT | RW | USER);
    assert_eq!(s.access(1 << 30, READ, None), Ended::GuestFault(ec::PRESENT | ec::RSVD));
    // No-execute.
    s.set(3, 6, (6 << 12) | PRESENT | USER | ACCESSED | NX);
    let fetch = Access { write: false, user: false, exec: true };
    assert_eq!(s.access(6 << 12, fetch, None), Ended::GuestFault(ec::PRESENT | ec::FETCH));
    s.check().unwrap();
}

#[test]
fn the_first_write_sets_the_guests_dirty_bit_before_the_shadow_allows_it() {
    let mut s = ShadowWorld::new(32, 64);
    s.set(3, 8, (8 << 12) | PRESENT | RW | USER);
    let eight = s.mfn(8);
    assert_eq!(s.access(8 << 12, READ, None), Ended::Done(eight));
    assert!(!s.tlb.entries[&(8 << 12)].1.write, "clean: mapped read-only");
    let l1 = s.mfn(3);
    assert_eq!(s.pw.w.read(l1, 8) & (ACCESSED | DIRTY), ACCESSED);
    assert_eq!(s.access(8 << 12, WRITE, Some((0, 5))), Ended::Done(eight));
    assert_eq!(s.pw.w.read(l1, 8) & (ACCESSED | DIRTY), ACCESSED | DIRTY);
    s.check().unwrap();
}

#[test]
fn a_guest_2m_page_is_shadowed_by_a_split_table() {
    let mut s = ShadowWorld::new(32, 64);
    // L2[1] maps a 2 MiB page from frame 0, not dirty: VA 2 MiB + 5 pages.
    let five = s.mfn(5);
    assert_eq!(s.access((1 << 21) + (5 << 12), READ, None), Ended::Done(five));
    assert!(s.run(|sh, _| sh.find(Kind::Split { base: Gfn(0) }).is_some()));
    assert_eq!(s.access((1 << 21) + (5 << 12), WRITE, Some((1, 1))), Ended::Done(five));
    let l2 = s.mfn(2);
    assert_ne!(s.pw.w.read(l2, 1) & DIRTY, 0);
    // A frame of the 2 MiB page beyond the p2m: MMIO or a crash.
    assert_eq!(s.access((1 << 21) + (14 << 12), READ, None), Ended::NoP2m(Gfn(14)));
    s.check().unwrap();
}

#[test]
fn shadows_survive_a_cr3_switch_and_back() {
    let mut s = ShadowWorld::new(32, 64);
    s.access(5 << 12, READ, None);
    // A second address space: root in frame 10 sharing the L3 in frame 1.
    s.set(10, 0, (1 << 12) | PRESENT | RW | USER | ACCESSED);
    s.write_cr3(Gfn(10));
    let allocs = s.pool.in_use.len();
    let five = s.mfn(5);
    assert_eq!(s.access(5 << 12, READ, None), Ended::Done(five));
    assert_eq!(s.pool.in_use.len(), allocs, "the L3, L2 and L1 shadows were reused");
    let flushes = s.tlb.flushes;
    s.write_cr3(Gfn(0));
    assert_eq!(s.tlb.flushes, flushes + 1);
    assert_eq!(s.access(5 << 12, READ, None), Ended::Done(five));
    assert_eq!(s.pool.in_use.len(), allocs, "the old root was still cached");
    s.check().unwrap();
}

#[test]
fn invlpg_reaches_the_tlb() {
    let mut s = ShadowWorld::new(32, 64);
    s.access(5 << 12, READ, None);
    assert!(s.tlb.entries.contains_key(&(5 << 12)));
    s.run(|sh, env| sh.invlpg(env, 5 << 12));
    assert!(!s.tlb.entries.contains_key(&(5 << 12)));
}

#[test]
fn a_guest_entry_naming_a_frame_outside_its_p2m_maps_nothing_foreign() {
    let mut s = ShadowWorld::new(32, 64);
    let l1 = s.mfn(3);
    s.access(0, READ, None);
    // The guest writes frame numbers that are other domains' machine
    // frames, or beyond its map: they are guest frames, never machine ones.
    let foreign = s.pw.w.give(crate::mm::tests::world::D2, 1)[0];
    for (word, gfn) in [(9, foreign.0), (10, 1 << 30), (11, 15)] {
        let e = (gfn << 12) | PRESENT | RW | USER | ACCESSED | DIRTY;
        assert_eq!(s.access(3 << 12, WRITE, Some((word, e))), Ended::Emulated(l1));
        let r = s.access((word as u64) << 12, READ, None);
        assert!(matches!(r, Ended::NoP2m(_)) || r == Ended::Done(s.mfn(gfn)), "{r:?}");
    }
    s.check().unwrap();
}

#[test]
fn ballooning_out_a_mapped_frame_drops_its_shadow_entries_and_tlb_entries() {
    let mut s = ShadowWorld::new(32, 64);
    s.access(9 << 12, WRITE, Some((0, 1)));
    let nine = s.mfn(9);
    let old = s.pw.get(9).map(|(e, _)| e);
    s.pw.with(|p, mm| p.decrease(mm, Gfn(9), Order::Page4K)).unwrap();
    s.run(|sh, env| sh.p2m_changed(env, old)).unwrap();
    assert!(!s.tlb.entries.values().any(|(m, _)| *m == nine));
    assert_eq!(s.access(9 << 12, READ, None), Ended::NoP2m(Gfn(9)));
    s.check().unwrap();
}

#[test]
fn ballooning_out_a_page_table_frame_drops_its_shadows() {
    let mut s = ShadowWorld::new(32, 64);
    s.access(5 << 12, READ, None);
    let old = s.pw.get(3).map(|(e, _)| e);
    s.pw.with(|p, mm| p.decrease(mm, Gfn(3), Order::Page4K)).unwrap();
    s.run(|sh, env| sh.p2m_changed(env, old)).unwrap();
    assert!(!s.protected(old.unwrap().mfn));
    assert!(s.access(5 << 12, READ, None) == Ended::Crashed, "the L1's frame is gone: crash");
}

#[test]
fn a_full_pool_drops_every_shadow_but_the_root_and_carries_on() {
    // Root + 3 per path: a second, disjoint path does not fit.
    let mut s = ShadowWorld::new(32, 4);
    s.set(0, 1, (11 << 12) | PRESENT | RW | USER | ACCESSED);
    s.set(11, 0, (12 << 12) | PRESENT | RW | USER | ACCESSED);
    s.set(12, 0, (13 << 12) | PRESENT | RW | USER | ACCESSED);
    s.set(13, 0, (5 << 12) | PRESENT | RW | USER | ACCESSED | DIRTY);
    let five = s.mfn(5);
    assert_eq!(s.access(5 << 12, READ, None), Ended::Done(five));
    assert_eq!(s.access(1 << 39, READ, None), Ended::Done(five));
    assert_eq!(s.access(5 << 12, READ, None), Ended::Done(five));
    s.check().unwrap();
}

#[test]
fn a_pool_too_small_for_one_path_crashes_the_domain() {
    let mut s = ShadowWorld::new(32, 2);
    assert_eq!(s.access(5 << 12, READ, None), Ended::Crashed);
}

#[test]
fn the_shared_store_emulator_writes_a_protected_table_through_the_shadow_model() {
    use crate::domain::vcpu::{reg, GuestContext};
    use crate::emulate::pte_write::{emulate, SegBases};
    use crate::shadow::fault::Outcome;
    use crate::shadow::ptwr::ShadowPteTables;
    let mut s = ShadowWorld::new(32, 64);
    s.access(0, READ, None);
    // `mov [rbx], rbp` at VA 3 << 12 + 8*7: entry 7 of the L1 (frame 3).
    let va = (3 << 12) + 7 * 8;
    let Outcome::EmulateWrite(target) = s.run(|sh, env| sh.page_fault(env, va, ec::WRITE)) else { panic!() };
    let mut ctx = GuestContext { rip: 0x1000, ..Default::default() };
    ctx.gpr[reg::RBX] = va;
    ctx.gpr[reg::RBP] = (10 << 12) | PRESENT | RW | USER | ACCESSED | DIRTY;
    let r = s.run(|sh, env| {
        let mut t = ShadowPteTables { shadow: sh, env, target, page_va: 3 << 12 };
        emulate(&[0x48, 0x89, 0x2B], &mut ctx, va, SegBases::default(), &mut t)
    });
    assert_eq!(r, Ok(()));
    assert_eq!(ctx.rip, 0x1003);
    let ten = s.mfn(10);
    assert_eq!(s.access(7 << 12, READ, None), Ended::Done(ten));
    s.check().unwrap();
}
