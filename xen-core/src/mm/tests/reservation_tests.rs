//! Balloon accounting: extents, orders, max_pages, partial success, zombies.

use super::world::*;
use crate::mm::reservation::{ExtentArray, Reservation, MAX_NR_EXTENTS};
use abi::{Errno, Mfn};

struct Array {
    items: Vec<u64>,
    fault_at: Option<u64>,
}

impl ExtentArray for Array {
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        if Some(i) == self.fault_at {
            return Err(Errno::EFAULT);
        }
        self.items.get(i as usize).copied().ok_or(Errno::EFAULT)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        if Some(i) == self.fault_at {
            return Err(Errno::EFAULT);
        }
        *self.items.get_mut(i as usize).ok_or(Errno::EFAULT)? = v;
        Ok(())
    }
}

fn array(items: Vec<u64>) -> Array {
    Array { items, fault_at: None }
}

fn res(nr_extents: u64, extent_order: u32) -> Reservation {
    Reservation { nr_extents, extent_order, start: 0 }
}

fn world(pool: std::ops::Range<u64>) -> World {
    let mut w = World::new(2048);
    w.hooks.pool = pool.map(Mfn).collect();
    w
}

#[test]
fn increase_gives_whole_extents_and_reports_their_frames() {
    let mut w = world(100..200);
    let mut a = array(vec![0; 3]);
    assert_eq!(w.mm().increase_reservation(D1, res(3, 0), Some(&mut a)).done, 3);
    assert_eq!(a.items, vec![100, 101, 102]);
    assert_eq!(w.doms[1].tot_pages, 3);
    assert!(a.items.iter().all(|&m| w.info(Mfn(m)).owner() == D1));
    let mut b = array(vec![0; 2]);
    assert_eq!(w.mm().increase_reservation(D1, res(2, 2), Some(&mut b)).done, 2);
    assert_eq!(b.items, vec![103, 107]);
    assert_eq!(w.doms[1].tot_pages, 3 + 8);
    assert_eq!(w.mm().increase_reservation(D1, res(1, 0), None).done, 1, "no array: frames are just assigned");
    w.check();
}

#[test]
fn max_pages_stops_increase_part_way() {
    let mut w = world(100..200);
    w.doms[1].max_pages = 4;
    assert_eq!(w.mm().increase_reservation(D1, res(10, 0), None).done, 4);
    assert_eq!(w.doms[1].tot_pages, 4);
    assert_eq!(w.mm().increase_reservation(D1, res(1, 0), None).done, 0);
    w.check();
}

#[test]
fn orders_above_nine_huge_counts_and_bad_starts_do_nothing() {
    let mut w = world(0..1);
    let before = w.snapshot();
    assert_eq!(w.mm().increase_reservation(D1, res(1, 10), None).done, 0);
    assert_eq!(w.mm().increase_reservation(D1, res(MAX_NR_EXTENTS + 1, 0), None).done, 0);
    assert_eq!(w.mm().increase_reservation(D1, Reservation { nr_extents: 4, extent_order: 0, start: 4 }, None).done, 4);
    assert_eq!(w.mm().decrease_reservation(D1, res(u64::MAX, 0), &mut array(vec![])).done, 0);
    assert!(w.snapshot() == before);
}

#[test]
fn order_nine_extents_are_512_contiguous_frames() {
    let mut w = World::new(2048);
    w.hooks.pool = (1000..1600).map(Mfn).collect();
    let mut a = array(vec![0]);
    assert_eq!(w.mm().increase_reservation(D1, res(1, 9), Some(&mut a)).done, 1);
    assert_eq!(w.doms[1].tot_pages, 512);
    assert!((a.items[0]..a.items[0] + 512).all(|m| w.info(Mfn(m)).owner() == D1));
    assert_eq!(w.mm().increase_reservation(D1, res(1, 9), None).done, 0, "88 frames left: no second extent");
    w.check();
}

#[test]
fn populate_sets_the_m2p_and_writes_frames_back_and_stops_at_a_fault() {
    let mut w = world(100..200);
    let mut a = Array { items: vec![7, 8, 9, 10], fault_at: Some(2) };
    assert_eq!(w.mm().populate_physmap(D1, res(4, 0), &mut a).done, 2);
    assert_eq!(&a.items[..2], &[100, 101]);
    assert_eq!((w.m2p[100], w.m2p[101]), (7, 8));
    assert_eq!(w.doms[1].tot_pages, 2);
    let mut b = array(vec![40]);
    assert_eq!(w.mm().populate_physmap(D1, res(1, 1), &mut b).done, 1);
    assert_eq!((w.m2p[b.items[0] as usize], w.m2p[b.items[0] as usize + 1]), (40, 41));
    w.check();
}

#[test]
fn decrease_frees_unused_frames_and_stops_at_a_foreign_one() {
    let mut w = world(100..200);
    let mine = w.give(D1, 3);
    let theirs = w.give(D2, 1)[0];
    let mut a = array(vec![mine[0].0, mine[1].0, theirs.0, mine[2].0]);
    assert_eq!(w.mm().decrease_reservation(D1, res(4, 0), &mut a).done, 2);
    assert_eq!(w.hooks.freed, vec![mine[0], mine[1]]);
    assert_eq!(w.doms[1].tot_pages, 1);
    assert_eq!(w.info(theirs).owner(), D2);
    w.check();
}

#[test]
fn a_half_done_high_order_extent_is_neither_counted_nor_rolled_back() {
    let mut w = world(100..200);
    let mine = w.give(D1, 1)[0];
    // An order-1 extent at `mine`: the second frame belongs to someone else.
    w.give(D2, 1);
    assert_eq!(w.mm().decrease_reservation(D1, res(1, 1), &mut array(vec![mine.0])).done, 0);
    assert_eq!(w.hooks.freed, vec![mine], "the first frame stays released");
    w.check();
}

#[test]
fn a_decreased_frame_still_mapped_stays_alive_until_unmapped() {
    let mut w = world(100..200);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    let pages = w.doms[1].tot_pages;
    assert_eq!(w.mm().decrease_reservation(D1, res(2, 0), &mut array(vec![c.data.0, c.l1.0])).done, 2);
    assert!(w.hooks.freed.is_empty(), "mapped data and a live L1 are zombies");
    assert_eq!(w.doms[1].tot_pages, pages, "zombies still count");
    assert!(w.info(c.l1).validated());
    w.check();
    w.update(D1, c.l1, 1, 0).unwrap();
    assert_eq!(w.hooks.freed, vec![c.data], "the last reference freed it");
    assert_eq!(w.mm().decrease_reservation(D1, res(1, 0), &mut array(vec![c.l1.0])).done, 0, "released twice");
    w.check();
}

#[test]
fn the_extent_count_limit_is_exactly_2_to_the_26_minus_1() {
    let mut w = world(100..101);
    let r = Reservation { nr_extents: 1 << 26, extent_order: 0, start: 5 };
    assert_eq!(w.mm().increase_reservation(D1, r, None).done, 5, "refused whole: nothing done");
    assert_eq!(MAX_NR_EXTENTS, (1 << 26) - 1);
    let r = Reservation { nr_extents: (1 << 26) - 1, extent_order: 0, start: 5 };
    assert_eq!(w.mm().increase_reservation(D1, r, None).done, 6, "accepted: one extent, then out of memory");
}

#[test]
fn max_pages_counts_every_page_of_a_high_order_extent() {
    let mut w = world(100..200);
    w.doms[1].max_pages = 3;
    assert_eq!(w.mm().increase_reservation(D1, res(1, 2), None).done, 0, "4 pages do not fit in 3");
    assert_eq!(w.mm().increase_reservation(D1, res(1, 1), None).done, 1);
    w.check();
}
