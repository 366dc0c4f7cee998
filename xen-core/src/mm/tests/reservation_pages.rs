//! The single-page (order 0) balloon loops, `Mm::decrease_pages` and
//! `Mm::populate_pages`, against the general extent loops they shortcut:
//! on random arrays (own, foreign, shared_info, mapped, out-of-range and
//! repeated frames, unreadable elements), with and without preemption and
//! `max_pages` limits, both give the same result, frame table, M2P,
//! domains, array and freed frames.

use super::world::*;
use crate::mm::reservation::{ExtentArray, ExtentsDone, Reservation};
use abi::{Errno, Mfn};
use proptest::prelude::*;

#[derive(Clone, Debug)]
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

/// D1 owns frames 1..=20 (frame 3 mapped by an L1 of D1's, frame 4 pinned
/// as an L1), D2 owns 21..=24, frame 40 is D1's shared_info; 100..140
/// are free for populate.
fn world(max_pages: u64, preempt_after: Option<u32>) -> World {
    let mut w = World::new(200);
    let mine = w.give(D1, 20);
    w.give(D2, 4);
    w.mm().assign_xen_heap_frame(Mfn(40), D1);
    w.poke(mine[4], 0, mine[2].to_maddr() | RO);
    w.pin(D1, 1, mine[4]).unwrap();
    w.hooks.pool = (100..140).map(Mfn).collect();
    w.hooks.preempt_batch_after = preempt_after;
    w.doms[1].max_pages = max_pages;
    w
}

fn frame() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 1u64..=20, 2 => 21u64..=24, 1 => Just(40u64), 1 => Just(0u64), 1 => 150u64..400, 1 => Just(u64::MAX)]
}

fn same(a: &World, b: &World, ra: ExtentsDone, rb: ExtentsDone) -> Result<(), TestCaseError> {
    prop_assert_eq!(ra, rb);
    prop_assert!(a.snapshot() == b.snapshot(), "{}", a.snapshot().frame_diff(&b.snapshot()));
    prop_assert_eq!(&a.hooks.freed, &b.hooks.freed);
    prop_assert_eq!(&a.hooks.pool, &b.hooks.pool);
    prop_assert_eq!(a.hooks.batch_work, b.hooks.batch_work);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decrease_pages_matches_the_extent_loop(
        items in prop::collection::vec(frame(), 1..30),
        fault in prop::option::of(0u64..30),
        start in 0u64..4,
        preempt in prop::option::of(0u32..12),
    ) {
        let mut a = world(1000, preempt);
        let mut b = a.clone();
        let r = Reservation { nr_extents: items.len() as u64, extent_order: 0, start };
        let (mut xa, mut xb) = (Array { items: items.clone(), fault_at: fault }, Array { items, fault_at: fault });
        let ra = if r.acceptable() { a.mm().decrease_pages(D1, r, &mut xa) } else { a.mm().decrease_reservation(D1, r, &mut xa) };
        let rb = if r.acceptable() { b.mm().decrease_extents(D1, r, &mut xb) } else { b.mm().decrease_reservation(D1, r, &mut xb) };
        same(&a, &b, ra, rb)?;
        a.check();
    }

    #[test]
    fn populate_pages_matches_the_extent_loop(
        items in prop::collection::vec(0u64..1 << 20, 1..50),
        fault in prop::option::of(0u64..50),
        start in 0u64..4,
        max_pages in 20u64..70,
        preempt in prop::option::of(0u32..12),
    ) {
        let mut a = world(max_pages, preempt);
        let mut b = a.clone();
        let r = Reservation { nr_extents: items.len() as u64, extent_order: 0, start };
        prop_assume!(r.acceptable());
        let (mut xa, mut xb) = (Array { items: items.clone(), fault_at: fault }, Array { items, fault_at: fault });
        let ra = a.mm().populate_pages(D1, r, &mut xa);
        let rb = b.mm().populate_extents(D1, r, &mut xb);
        same(&a, &b, ra, rb)?;
        prop_assert_eq!(&xa.items, &xb.items, "frames written back");
        a.check();
    }
}
