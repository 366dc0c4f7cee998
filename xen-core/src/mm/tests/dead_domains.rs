//! Dead domains are gone (issue 8, F6): once torn down, or if never built,
//! a domain cannot be given memory, have its frames mapped, or be named.

use super::world::*;
use crate::mm::reservation::{ExtentArray, Reservation};
use crate::mm::teardown::Teardown;
use crate::mm::DomainMm;
use abi::mmu::{MmuUpdate, MMUEXT_PIN_L1_TABLE};
use abi::{DomId, Errno, Mfn};

struct Array(Vec<u64>);

impl ExtentArray for Array {
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        self.0.get(i as usize).copied().ok_or(Errno::EFAULT)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        *self.0.get_mut(i as usize).ok_or(Errno::EFAULT)? = v;
        Ok(())
    }
}

fn res(n: u64) -> Reservation {
    Reservation { nr_extents: n, extent_order: 0, start: 0 }
}

/// A world where domain 1 was torn down and domain 2 was never built.
fn world_with_dead_domains() -> (World, Mfn) {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let d1_frame = w.give(D1, 4)[0];
    let _ = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    w.doms[2] = DomainMm::empty(D2);
    (w, d1_frame)
}

/// Every way domain 0 can name `dead` is refused, and nothing changes.
fn assert_gone(w: &mut World, dead: DomId, frame: Mfn) {
    let before = w.snapshot();
    let pool = w.hooks.pool.len();
    assert!(w.mm().domain(dead).is_none());
    assert_eq!(w.mm().resolve_domid(D0, dead.0), Err(Errno::ESRCH));
    assert_eq!(w.mm().increase_reservation(dead, res(8), None).done, 0, "increase_reservation");
    assert_eq!(w.mm().populate_physmap(dead, res(2), &mut Array(vec![0, 1])).done, 0, "populate_physmap");
    assert_eq!(w.mm().decrease_reservation(dead, res(1), &mut Array(vec![frame.0])).done, 0, "decrease_reservation");
    assert_eq!(w.hooks.pool.len(), pool, "no frame was allocated");
    let c0 = w.build_chain(D0, 1);
    let snap = w.snapshot();
    let map = [MmuUpdate { ptr: c0.l1.to_maddr() + 16, val: frame.to_maddr() | RO }];
    assert_eq!(w.mmu_batch(D0, &map, dead.0.into()).result, Err(Errno::ESRCH), "mmu_update FD");
    let pfd = (u32::from(dead.0) + 1) << 16 | u32::from(DomId::SELF.0);
    assert_eq!(w.mmu_batch(D0, &map, pfd).result, Err(Errno::ESRCH), "mmu_update PFD");
    assert_eq!(w.ext_on(D0, op(MMUEXT_PIN_L1_TABLE, frame.0), dead.0), Err(Errno::ESRCH), "mmuext_op");
    assert_eq!(w.snapshot(), snap);
    let _ = before;
    w.check();
}

#[test]
fn a_torn_down_domain_cannot_be_given_memory_mapped_or_named() {
    let (mut w, frame) = world_with_dead_domains();
    assert_gone(&mut w, D1, frame);
}

#[test]
fn a_domain_never_built_cannot_be_given_memory_mapped_or_named() {
    let (mut w, _) = world_with_dead_domains();
    assert_gone(&mut w, D2, Mfn(150));
}

#[test]
fn every_frame_given_is_counted_back_including_balloon_frames_and_late_zombies() {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let c0 = w.build_chain(D0, 1);
    w.pin(D0, 4, c0.l4).unwrap();
    let built = w.give(D1, 3);
    assert_eq!(w.mm().increase_reservation(D1, res(5), None).done, 5);
    assert_eq!(w.doms[1].given, 8);
    // Domain 0 maps one of domain 1's frames, which outlives domain 1.
    let map = [MmuUpdate { ptr: c0.l1.to_maddr() + 16, val: built[0].to_maddr() | RO }];
    assert_eq!(w.mmu_batch(D0, &map, 1).result, Ok(()));
    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (7, 1));
    assert_eq!((w.doms[1].given, w.doms[1].returned), (8, 7));
    w.update(D0, c0.l1, 2, 0).unwrap();
    assert_eq!((w.doms[1].given, w.doms[1].returned), (8, 8), "the zombie is counted when it goes");
    w.check();
}

#[test]
fn nothing_can_be_queued_for_devalidation_on_a_domain_that_is_gone() {
    let mut w = World::new(64);
    let frame = w.give(D1, 1)[0];
    w.doms[1].exists = false;
    // Its queue would never be worked off: the table must go at once.
    assert!(!w.mm().defer(frame));
    assert_eq!(w.doms[1].deferred_len, 0);
}
