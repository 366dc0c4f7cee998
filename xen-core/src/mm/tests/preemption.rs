//! Preemptible validation (XSA-45, and the restartable-validation bugs of
//! XSA-299/309/310): long validations stop with ERESTART, leave partial
//! state the checker accepts, and resume, fail or get abandoned cleanly.

use super::world::*;
use crate::mm::teardown::Teardown;
use crate::mm::PageType;
use abi::{Errno, Mfn};

/// One L2 holding `n` L1 tables, each with 512 read-only entries.
fn fan_out(w: &mut World, n: usize) -> (Mfn, Mfn, Vec<Mfn>) {
    let f = w.give(D1, n + 2);
    let (l2, data) = (f[0], f[1]);
    let l1s = f[2..].to_vec();
    for (i, &l1) in l1s.iter().enumerate() {
        for j in 0..512 {
            w.poke(l1, j, data.to_maddr() | RO);
        }
        w.poke(l2, i, l1.to_maddr() | FLAGS);
    }
    (l2, data, l1s)
}

/// Repeats `op` while it is preempted; returns the final result and the
/// number of attempts, checking every invariant in between.
fn until_done(w: &mut World, mut op: impl FnMut(&mut World) -> Result<(), Errno>) -> (Result<(), Errno>, u32) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = op(w);
        w.check();
        if r != Err(Errno::ERESTART) {
            return (r, attempts);
        }
    }
}

#[test]
fn a_preempted_pin_resumes_to_the_same_result_as_an_unbounded_one() {
    let mut w = World::new(200);
    let (l2, data, l1s) = fan_out(&mut w, 64);
    let mut reference = w.clone();
    reference.pin(D1, 2, l2).unwrap();

    w.hooks.preempt_every = Some(1000);
    let (r, attempts) = until_done(&mut w, |w| w.pin(D1, 2, l2));
    assert_eq!(r, Ok(()));
    assert!(attempts >= 32, "64 × 512 entries in slices of 1000: {attempts} attempts");
    assert!(w.snapshot() == reference.snapshot(), "same end state as without preemption");
    assert_eq!(w.info(data).count(), 1 + 64 * 512);
    assert!(l1s.iter().all(|&l1| w.info(l1).validated() && !w.info(l1).partial()));
}

#[test]
fn a_preempted_validation_that_then_fails_restores_every_count() {
    let mut w = World::new(200);
    let (l2, _, l1s) = fan_out(&mut w, 16);
    let theirs = w.give(D2, 1)[0];
    w.poke(*l1s.last().unwrap(), 511, theirs.to_maddr() | RO);
    let before = w.snapshot();
    w.hooks.preempt_every = Some(700);
    let (r, attempts) = until_done(&mut w, |w| w.pin(D1, 2, l2));
    assert_eq!(r, Err(Errno::EBUSY));
    assert!(attempts > 5);
    let after = w.snapshot();
    assert!(after.same_modulo_adjustments(&before), "{}", before.frame_diff(&after));
}

#[test]
fn partial_tables_refuse_every_other_use_until_the_validation_resumes() {
    let mut w = World::new(200);
    let (l2, _, l1s) = fan_out(&mut w, 8);
    w.hooks.preempt_every = Some(600);
    assert_eq!(w.pin(D1, 2, l2), Err(Errno::ERESTART));
    w.check();
    let (root, child) = (w.info(l2), w.info(l1s[1]));
    assert!(root.partial() && root.partial_root() && child.partial());
    w.hooks.preempt_every = None;
    let [other_l2, empty_l2] = w.give(D1, 2)[..] else { unreachable!() };
    w.poke(other_l2, 0, l1s[1].to_maddr() | FLAGS);
    w.pin(D1, 2, empty_l2).unwrap();
    let before = w.snapshot();
    // Nor can another table take a reference to the half-validated child.
    assert_eq!(w.pin(D1, 2, other_l2), Err(Errno::EINVAL));
    assert_eq!(w.update(D1, empty_l2, 0, l1s[1].to_maddr() | FLAGS), Err(Errno::EINVAL));
    // The partial tables cannot be written, mapped writable, pinned elsewhere or switched to.
    assert_eq!(w.update(D1, l2, 100, 0), Err(Errno::EINVAL));
    assert_eq!(w.update(D1, l1s[1], 3, 0), Err(Errno::EINVAL));
    assert_eq!(w.pin(D1, 1, l1s[1]), Err(Errno::EINVAL));
    assert_eq!(w.pin(D1, 3, l2), Err(Errno::EINVAL));
    assert!(w.snapshot() == before);
    // Resuming completes it.
    assert_eq!(w.pin(D1, 2, l2), Ok(()));
    assert_eq!(w.info(l2).page_type(), PageType::L2);
    assert!(!w.info(l2).partial());
    w.check();
}

#[test]
fn teardown_abandons_a_preempted_validation_and_frees_everything() {
    let mut w = World::new(200);
    let (l2, _, _) = fan_out(&mut w, 8);
    w.hooks.preempt_every = Some(900);
    assert_eq!(w.pin(D1, 2, l2), Err(Errno::ERESTART));
    w.hooks.preempt_every = None;
    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (10, 0));
    w.check();
}

#[test]
fn an_upper_level_update_that_validates_a_big_subtree_is_preempted_and_resumed_by_retrying_it() {
    let mut w = World::new(200);
    let c = w.build_chain(D1, 0);
    w.pin(D1, 4, c.l4).unwrap();
    let (l2, _, _) = fan_out(&mut w, 16);
    w.hooks.preempt_every = Some(1000);
    let (r, attempts) = until_done(&mut w, |w| w.update(D1, c.l3, 5, l2.to_maddr() | FLAGS));
    assert_eq!(r, Ok(()));
    assert!(attempts > 2);
    assert_eq!(w.info(l2).type_count(), 1);
    assert!(w.info(l2).validated());
    w.check();
}

#[test]
fn unpinning_a_big_tree_devalidates_what_fits_its_budget_and_defers_the_rest_to_later_hypercalls_in_slices() {
    let mut w = World::new(200);
    let (l2, data, l1s) = fan_out(&mut w, 64);
    w.pin(D1, 2, l2).unwrap();
    let mut reference = w.clone();
    reference.unpin(D1, l2).unwrap();

    w.hooks.defer = true;
    w.hooks.preempt_every = Some(1000);
    assert_eq!(w.unpin(D1, l2), Ok(()), "the unpin itself completes at once");
    assert!(w.info(l2).deval());
    assert!(w.doms[1].deferred_len >= 1);
    // The unpin's own budget (1000 entries) went on the first L1 tables.
    assert!(w.info(l1s[0]).type_count() == 0 && !w.info(l1s[0]).deval());
    assert!(w.info(l1s[63]).type_count() == 1);
    w.check();
    // The domain's next page-table hypercalls work the queue off, restarting
    // while work remains.
    let (r, attempts) = until_done(&mut w, |w| {
        w.ext(D1, abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_TLB_FLUSH_LOCAL, ..Default::default() })
    });
    assert_eq!(r, Ok(()));
    assert!(attempts >= 31, "64 × 512 entries in slices of 1000: {attempts}");
    assert_eq!(w.doms[1].deferred_len, 0);
    assert!(l1s.iter().all(|&l1| w.info(l1).type_count() == 0 && !w.info(l1).deval()));
    assert_eq!(w.info(data).count(), 1);
    let (a, b) = (w.snapshot(), reference.snapshot());
    assert!(a.same_modulo_adjustments(&b), "{}", a.frame_diff(&b));
}

#[test]
fn a_table_waiting_for_devalidation_is_settled_before_it_is_used_again() {
    let mut w = World::new(200);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    let (l2, _, l1s) = fan_out(&mut w, 4);
    w.update(D1, c.l3, 7, l2.to_maddr() | FLAGS).unwrap();
    w.hooks.defer = true;
    // No budget left: the update cannot settle the L2 it released.
    w.hooks.preempt_every = Some(1);
    assert_eq!(w.update(D1, c.l3, 7, 0), Ok(()));
    w.hooks.preempt_every = None;
    assert!(w.info(l2).deval());
    w.check();
    // Taking a type on the queued L2 settles it first (called on the model
    // directly: a hypercall would have worked the queue off at its start).
    assert_eq!(w.mm().get_page(l2, D1), Ok(()));
    assert_eq!(w.mm().get_simple_type(l2, PageType::Writable), Ok(()));
    assert!(!w.info(l2).deval() && w.info(l1s[0]).type_count() == 0);
    w.mm().put_page_and_type(l2);
    w.check();
}

#[test]
fn teardown_finishes_deferred_devalidations() {
    let mut w = World::new(200);
    let (l2, _, _) = fan_out(&mut w, 8);
    w.pin(D1, 2, l2).unwrap();
    w.hooks.defer = true;
    w.hooks.preempt_every = Some(100);
    w.unpin(D1, l2).unwrap();
    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (10, 0));
    w.check();
}

#[test]
fn settling_a_table_deep_in_the_queue_keeps_the_others_queued() {
    let mut w = World::new(200);
    let (a, _, _) = fan_out(&mut w, 2);
    let (b, _, _) = fan_out(&mut w, 2);
    w.pin(D1, 2, a).unwrap();
    w.pin(D1, 2, b).unwrap();
    w.hooks.defer = true;
    // Both unpins in one hypercall without budget left to settle them:
    // both devalidations wait in the queue.
    w.hooks.preempt_every = Some(1);
    let ops = [a, b].map(|m| abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_UNPIN_TABLE, arg1: m.0, ..Default::default() });
    let mut src: &[abi::mmu::MmuextOp] = &ops;
    let r = w.mm().mmuext_op(D1, &mut src, 2, 0x7FF0, &mut crate::mm::requests::NoGuestMemory);
    assert_eq!(r.result, Ok(()));
    assert_eq!(&w.doms[1].deferred[..w.doms[1].deferred_len], &[a, b]);
    // Pinning `a` again settles it first; `b` stays queued.
    w.hooks.defer = false;
    w.hooks.preempt_every = None;
    w.mm().settle(a);
    assert_eq!(&w.doms[1].deferred[..w.doms[1].deferred_len], &[b]);
    assert!(!w.info(a).deval() && w.info(b).deval());
    w.check();
}

#[test]
fn an_unpin_whose_devalidation_fits_the_budget_settles_it_in_the_same_hypercall() {
    let mut w = World::new(200);
    let (l2, data, l1s) = fan_out(&mut w, 4);
    w.pin(D1, 2, l2).unwrap();
    w.hooks.defer = true;
    w.hooks.budget = Some(8192);
    assert_eq!(w.unpin(D1, l2), Ok(()));
    // Nothing is left for the domain's next, unrelated hypercall.
    assert_eq!(w.doms[1].deferred_len, 0);
    assert!(!w.info(l2).deval() && !w.info(l2).validated());
    assert!(l1s.iter().all(|&l1| w.info(l1).type_count() == 0 && !w.info(l1).deval()));
    assert_eq!(w.info(data).count(), 1);
    w.check();
}

#[test]
fn empty_slots_cost_no_preemption_budget() {
    let mut w = World::new(200);
    let f = w.give(D1, 3);
    let (l2, l1, data) = (f[0], f[1], f[2]);
    w.poke(l1, 300, data.to_maddr() | RO);
    w.poke(l2, 400, l1.to_maddr() | FLAGS);
    // Two present entries in 1024 slots: a budget of two entries suffices
    // to validate them, and again to devalidate them.
    w.hooks.budget = Some(2);
    assert_eq!(w.pin(D1, 2, l2), Ok(()));
    w.hooks.defer = true;
    w.hooks.budget_used = 0;
    assert_eq!(w.unpin(D1, l2), Ok(()));
    assert_eq!(w.doms[1].deferred_len, 0);
    assert_eq!(w.info(l1).type_count(), 0);
    w.check();
}
