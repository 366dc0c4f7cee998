//! The nested tables computed from the p2m.

use super::world::{Bump, P2mWorld};
use crate::mm::phys_mem::fake::FakeMemory;
use crate::mm::tests::world::D2;
use crate::p2m::npt::{self, leaf};
use crate::p2m::{Order, P2m, P2mEntry, P2mType, Rights};
use abi::mmu::pte::*;
use abi::{Gfn, Mfn};

#[test]
fn leaf_entries_carry_rights_type_and_size() {
    let e = P2mEntry { mfn: Mfn(0x1234), ty: P2mType::Ram, rights: Rights::RWX };
    assert_eq!(leaf(e, Order::Page4K), 0x0123_4000 | PRESENT | RW | USER | ACCESSED | DIRTY | (1 << 9));
    let ro = P2mEntry { rights: Rights::R, ty: P2mType::Grant, ..e };
    assert_eq!(leaf(ro, Order::Page4K) & (RW | NX), NX);
    let dev = P2mEntry { ty: P2mType::Mmio, ..e };
    assert_eq!(leaf(dev, Order::Page4K) & (PCD | PWT), PCD | PWT);
    assert_ne!(leaf(e, Order::Page2M) & PAT_PSE, 0);
}

#[test]
fn nested_tables_map_exactly_the_p2m() {
    let mut t = P2mWorld::new();
    t.with(|p, mm| p.populate(mm, Gfn(0), Order::Page4K)).unwrap();
    t.w.hooks.pool = (512..1024).map(Mfn).collect();
    t.with(|p, mm| p.populate(mm, Gfn(1024), Order::Page2M)).unwrap();
    let foreign = t.w.give(D2, 1)[0];
    let g = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(77), Order::Page4K, Some(g))).unwrap();
    t.check_npt().unwrap();
}

#[test]
fn an_empty_p2m_builds_a_root_that_maps_nothing() {
    let (mut slots, mut supers) = (vec![None; 1024], vec![false; 2]);
    let p = P2m::new(crate::mm::tests::world::D1, &mut slots, &mut supers);
    let mut mem = FakeMemory::default();
    let root = npt::build(&p, &mut mem, &mut Bump(100)).unwrap();
    assert_eq!(root, Mfn(100));
    let w = npt::walk(&mem, root, Gfn(5));
    assert_eq!((w.entry, w.refs), (None, 1));
}

#[test]
fn running_out_of_table_frames_is_enomem() {
    struct None0;
    impl npt::TableFrames for None0 {
        fn alloc_table(&mut self) -> Option<Mfn> {
            None
        }
    }
    let (mut slots, mut supers) = (vec![None; 512], vec![false; 1]);
    let p = P2m::new(crate::mm::tests::world::D1, &mut slots, &mut supers);
    assert_eq!(npt::build(&p, &mut FakeMemory::default(), &mut None0), Err(abi::Errno::ENOMEM));
}

#[test]
fn untracked_entries_map_in_range_and_split_nothing_they_should_not() {
    let (mut slots, mut supers) = (vec![None; 8], vec![false; 1]);
    let mut p = P2m::new(crate::mm::tests::world::D1, &mut slots, &mut supers);
    let e = P2mEntry { mfn: Mfn(0x40), ty: P2mType::Ram, rights: Rights::RWX };
    assert!(p.map_untracked(Gfn(3), e));
    assert!(!p.map_untracked(Gfn(8), e), "past the end of the map");
    assert_eq!(p.get(Gfn(3)), Some((e, Order::Page4K)));
    let mut mem = FakeMemory::default();
    let root = npt::build(&p, &mut mem, &mut Bump(100)).unwrap();
    assert_eq!(npt::walk(&mem, root, Gfn(3)).entry, Some((e, Order::Page4K)));
    assert_eq!(npt::walk(&mem, root, Gfn(4)).entry, None);
}

/// Ballooning out of a 2 MiB entry and back in: after each change
/// `npt::update` on the changed frames alone makes a walk of every guest
/// frame agree with the p2m again (split to an L1 table, 4 KiB removals,
/// a repopulated chunk).
#[test]
fn incremental_updates_keep_the_nested_tables_equal_to_the_p2m_through_a_balloon() {
    let mut t = P2mWorld::new();
    t.w.hooks.pool = (512..1024).chain(1600..2400).map(Mfn).collect();
    t.with(|p, mm| p.populate(mm, Gfn(512), Order::Page2M)).unwrap();
    t.with(|p, mm| p.populate(mm, Gfn(3), Order::Page4K)).unwrap();
    let mut mem = FakeMemory::default();
    let mut frames = Bump(1 << 20);
    let root = t.with(|p, _| npt::build(p, &mut mem, &mut frames)).unwrap();
    let agree = |t: &mut P2mWorld, mem: &FakeMemory| {
        t.with(|p, _| {
            for g in 0..super::world::GFNS as u64 {
                assert_eq!(npt::walk(mem, root, Gfn(g)).entry, p.get(Gfn(g)), "gfn {g}");
            }
        })
    };
    // Out: two frames of the 2 MiB entry (a split), and the lone frame.
    for g in [600, 601, 3] {
        t.with(|p, mm| p.decrease(mm, Gfn(g), Order::Page4K)).unwrap();
        t.with(|p, _| npt::update(p, &mut mem, &mut frames, root, Gfn(g), Order::Page4K)).unwrap();
        agree(&mut t, &mem);
    }
    // In again, at a frame of the split chunk and in a new chunk.
    for g in [600, 1100] {
        t.with(|p, mm| p.populate(mm, Gfn(g), Order::Page4K)).unwrap();
        t.with(|p, _| npt::update(p, &mut mem, &mut frames, root, Gfn(g), Order::Page4K)).unwrap();
        agree(&mut t, &mem);
    }
    // A whole chunk out and back in as 2 MiB.
    t.with(|p, mm| p.decrease(mm, Gfn(512), Order::Page2M)).unwrap_or(());
    t.with(|p, _| npt::update(p, &mut mem, &mut frames, root, Gfn(512), Order::Page2M)).unwrap();
    agree(&mut t, &mem);
    t.with(|p, mm| p.populate(mm, Gfn(512), Order::Page2M)).unwrap();
    t.with(|p, _| npt::update(p, &mut mem, &mut frames, root, Gfn(512), Order::Page2M)).unwrap();
    agree(&mut t, &mem);
    t.check().unwrap();
}
