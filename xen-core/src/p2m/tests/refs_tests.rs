//! Entries and the frame-table references they hold.

use super::world::P2mWorld;
use crate::mm::tests::world::{D0, D1, D2};
use crate::p2m::{Order, P2mEntry, P2mType, Rights};
use abi::{Errno, Gfn, Mfn};

#[test]
fn populated_frame_is_owned_ram_with_a_p2m_reference_and_an_m2p_entry() {
    let mut t = P2mWorld::new();
    let mfn = t.with(|p, mm| p.populate(mm, Gfn(7), Order::Page4K)).unwrap();
    assert_eq!(t.get(7), Some((P2mEntry { mfn, ty: P2mType::Ram, rights: Rights::RWX }, Order::Page4K)));
    let info = t.w.info(mfn);
    assert_eq!((info.owner(), info.count()), (D1, 2), "allocation reference plus the p2m's");
    assert_eq!(t.w.m2p[mfn.0 as usize], 7);
    assert_eq!(t.w.doms[1].tot_pages, 1);
    t.check().unwrap();
}

#[test]
fn aligned_2m_populate_is_one_entry_and_unaligned_is_512_small_ones() {
    let mut t = P2mWorld::new();
    // The pool's first run of 512 frames starts at 2001: not aligned.
    let first = t.with(|p, mm| p.populate(mm, Gfn(0), Order::Page2M)).unwrap();
    assert_eq!(first, Mfn(2001));
    assert_eq!(t.get(0).unwrap().1, Order::Page4K);
    assert_eq!(t.get(511).unwrap().0.mfn, Mfn(2001 + 511));
    let second = t.with(|p, mm| p.populate(mm, Gfn(512), Order::Page2M)).unwrap();
    assert_eq!(second, Mfn(512));
    assert_eq!(
        t.get(512 + 100),
        Some((P2mEntry { mfn: Mfn(612), ty: P2mType::Ram, rights: Rights::RWX }, Order::Page2M))
    );
    t.check().unwrap();
    t.check_npt().unwrap();
}

#[test]
fn changing_one_frame_of_a_2m_entry_splits_it_and_merge_rejoins_it() {
    let mut t = P2mWorld::new();
    t.w.hooks.pool = (512..1024).map(Mfn).collect();
    t.with(|p, mm| p.populate(mm, Gfn(512), Order::Page2M)).unwrap();
    t.with(|p, mm| p.set_rights(mm, Gfn(600), Rights::RX)).unwrap();
    assert_eq!(t.get(600).unwrap(), (P2mEntry { mfn: Mfn(600), ty: P2mType::Ram, rights: Rights::RX }, Order::Page4K));
    assert_eq!(t.get(601).unwrap().1, Order::Page4K, "the whole chunk is split");
    assert_eq!(t.get(601).unwrap().0.rights, Rights::RWX, "the rest keep their rights");
    assert!(!t.with(|p, _| p.merge(Gfn(512))), "rights differ: no merge");
    t.with(|p, mm| p.set_rights(mm, Gfn(600), Rights::RWX)).unwrap();
    assert!(t.with(|p, _| p.merge(Gfn(700))));
    assert_eq!(t.get(600).unwrap().1, Order::Page2M);
    t.check().unwrap();
    t.check_npt().unwrap();
}

#[test]
fn balloon_out_frees_the_frame_after_a_flush_and_balloon_in_repopulates() {
    let mut t = P2mWorld::new();
    let mfn = t.with(|p, mm| p.populate(mm, Gfn(3), Order::Page4K)).unwrap();
    let flushes = t.w.hooks.now_flushes;
    t.with(|p, mm| p.decrease(mm, Gfn(3), Order::Page4K)).unwrap();
    assert_eq!(t.get(3), None);
    assert_eq!(t.w.hooks.freed, vec![mfn]);
    assert_eq!(t.w.hooks.now_flushes, flushes + 1, "a cached translation of the frame is flushed before it is freed");
    assert_eq!(t.w.doms[1].tot_pages, 0);
    assert_eq!(t.w.m2p[mfn.0 as usize], u64::MAX);
    t.with(|p, mm| p.populate(mm, Gfn(3), Order::Page4K)).unwrap();
    assert!(t.get(3).is_some());
    t.check().unwrap();
}

#[test]
fn balloon_out_of_a_2m_entry_frees_all_512_frames() {
    let mut t = P2mWorld::new();
    t.w.hooks.pool = (512..1024).map(Mfn).collect();
    t.with(|p, mm| p.populate(mm, Gfn(1024), Order::Page2M)).unwrap();
    t.with(|p, mm| p.decrease(mm, Gfn(1024), Order::Page2M)).unwrap();
    assert_eq!(t.w.hooks.freed.len(), 512);
    assert_eq!(t.w.doms[1].tot_pages, 0);
    t.check().unwrap();
}

#[test]
fn balloon_out_of_a_hole_or_a_grant_is_enoent() {
    let mut t = P2mWorld::new();
    assert_eq!(t.with(|p, mm| p.remove_ram(mm, Gfn(5))), Err(Errno::ENOENT));
    let foreign = t.w.give(D2, 1)[0];
    let e = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(5), Order::Page4K, Some(e))).unwrap();
    assert_eq!(t.with(|p, mm| p.remove_ram(mm, Gfn(5))), Err(Errno::ENOENT));
    assert_eq!(t.with(|p, mm| p.remove_ram(mm, Gfn(1 << 20))), Err(Errno::EINVAL));
    t.check().unwrap();
}

#[test]
fn grant_entry_holds_a_reference_on_the_granters_frame_until_unmapped() {
    let mut t = P2mWorld::new();
    let foreign = t.w.give(D2, 1)[0];
    let e = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(9), Order::Page4K, Some(e))).unwrap();
    assert_eq!(t.w.info(foreign).count(), 2);
    assert_eq!(t.w.info(foreign).owner(), D2, "a grant does not change the owner");
    t.check().unwrap();
    t.with(|p, mm| p.set_entry(mm, Gfn(9), Order::Page4K, None)).unwrap();
    assert_eq!(t.w.info(foreign).count(), 1);
    t.check().unwrap();
}

#[test]
fn ram_entry_for_another_domains_frame_is_refused_and_changes_nothing() {
    let mut t = P2mWorld::new();
    let foreign = t.w.give(D2, 1)[0];
    let e = P2mEntry { mfn: foreign, ty: P2mType::Ram, rights: Rights::RWX };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(1), Order::Page4K, Some(e))), Err(Errno::EINVAL));
    // Own frames cannot be "granted" either, nor can frames beyond RAM.
    let own = t.w.give(D1, 1)[0];
    let g = P2mEntry { mfn: own, ty: P2mType::Grant, rights: Rights::R };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(1), Order::Page4K, Some(g))), Err(Errno::EINVAL));
    let beyond = P2mEntry { mfn: Mfn(1 << 30), ty: P2mType::Grant, rights: Rights::R };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(1), Order::Page4K, Some(beyond))), Err(Errno::EINVAL));
    assert_eq!(t.get(1), None);
    assert_eq!(t.w.info(foreign).count(), 1, "no reference was taken");
    t.check().unwrap();
}

#[test]
fn a_2m_ram_entry_part_of_which_is_not_owned_takes_no_reference_at_all() {
    let mut t = P2mWorld::new();
    // Frames 512..1024: the first 511 given to domain 1, the last to domain 2.
    for m in 512..1023 {
        t.w.mm().assign_frame(Mfn(m), D1);
    }
    t.w.mm().assign_frame(Mfn(1023), D2);
    let e = P2mEntry { mfn: Mfn(512), ty: P2mType::Ram, rights: Rights::RWX };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(0), Order::Page2M, Some(e))), Err(Errno::EINVAL));
    assert!((512..1024).all(|m| t.w.info(Mfn(m)).count() == 1));
    assert_eq!(t.get(0), None);
}

#[test]
fn unaligned_2m_entries_are_refused() {
    let mut t = P2mWorld::new();
    let e = P2mEntry { mfn: Mfn(512), ty: P2mType::Ram, rights: Rights::RWX };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(1), Order::Page2M, Some(e))), Err(Errno::EINVAL));
    let odd = P2mEntry { mfn: Mfn(513), ..e };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(0), Order::Page2M, Some(odd))), Err(Errno::EINVAL));
}

#[test]
fn mmio_entries_need_io_resources_and_a_frame_that_is_not_ram() {
    let mut t = P2mWorld::new();
    let dev = P2mEntry { mfn: Mfn(1 << 30), ty: P2mType::Mmio, rights: Rights::RW };
    assert_eq!(t.with(|p, mm| p.set_entry(mm, Gfn(2), Order::Page4K, Some(dev))), Err(Errno::EPERM));
    let (ok, ram) = t.with(|p, mm| {
        p.owner = D0;
        let ok = p.set_entry(mm, Gfn(2), Order::Page4K, Some(dev));
        let ram = p.set_entry(mm, Gfn(3), Order::Page4K, Some(P2mEntry { mfn: Mfn(700), ..dev }));
        (ok, ram)
    });
    assert_eq!((ok, ram), (Ok(()), Err(Errno::EINVAL)));
}

#[test]
fn populate_stops_at_max_pages() {
    let mut t = P2mWorld::new();
    t.w.doms[1].max_pages = 1;
    t.with(|p, mm| p.populate(mm, Gfn(0), Order::Page4K)).unwrap();
    assert_eq!(t.with(|p, mm| p.populate(mm, Gfn(1), Order::Page4K)), Err(Errno::ENOMEM));
    assert_eq!(t.get(1), None);
    t.check().unwrap();
}

#[test]
fn populate_over_ram_orphans_the_old_frame_as_xen_does_but_never_over_a_grant() {
    let mut t = P2mWorld::new();
    let old = t.with(|p, mm| p.populate(mm, Gfn(4), Order::Page4K)).unwrap();
    let new = t.with(|p, mm| p.populate(mm, Gfn(4), Order::Page4K)).unwrap();
    assert_ne!(old, new);
    assert_eq!(t.w.info(old).count(), 1, "still the domain's, no longer mapped");
    assert_eq!(t.w.m2p[old.0 as usize], u64::MAX);
    let foreign = t.w.give(D2, 1)[0];
    let g = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(6), Order::Page4K, Some(g))).unwrap();
    assert_eq!(t.with(|p, mm| p.populate(mm, Gfn(6), Order::Page4K)), Err(Errno::EINVAL));
    t.check().unwrap();
}

#[test]
fn clear_drops_every_reference_and_leaves_ram_to_the_model_teardown() {
    let mut t = P2mWorld::new();
    let a = t.with(|p, mm| p.populate(mm, Gfn(0), Order::Page4K)).unwrap();
    let foreign = t.w.give(D2, 1)[0];
    let g = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(1), Order::Page4K, Some(g))).unwrap();
    t.with(|p, mm| p.clear(mm));
    assert_eq!((t.w.info(a).count(), t.w.info(foreign).count()), (1, 1));
    let report = crate::mm::teardown::Teardown::new(&t.w.mm(), D1).run(&mut t.w.mm());
    assert_eq!(report.frames_freed, 1);
    t.check().unwrap();
}
