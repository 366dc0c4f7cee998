//! The per-call parts of the batched page-table hypercalls: the
//! single-operation `mmuext_op` path gives what the batch path gives, and
//! the table-frame reference an `mmu_update` batch keeps between requests
//! never outlives the call.

use super::world::*;
use crate::mm::requests::{BatchResult, NoGuestMemory};
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

/// A domain with a pinned chain, a spare unpinned L1 table holding one
/// entry, a spare data frame, and (with `queued`) a devalidation queued by
/// an unpin, so the next page-table hypercall starts with deferred work.
fn world(queued: bool) -> (World, Chain, Mfn, Mfn) {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 3);
    let (l1, data) = (f[0], f[1]);
    w.update(D1, l1, 3, data.to_maddr() | RO).unwrap();
    if queued {
        w.hooks.defer = true;
        let big = w.give(D1, 1)[0];
        for i in 0..8 {
            w.update(D1, big, i, f[2].to_maddr() | RO).unwrap();
        }
        w.pin(D1, 1, big).unwrap();
        // The unpin's own settling is cut short by the budget.
        w.hooks.budget = Some(2);
        w.unpin(D1, big).unwrap();
        assert!(w.doms[1].deferred_len > 0);
        w.hooks.budget = None;
        w.hooks.budget_used = 0;
    }
    (w, c, l1, data)
}

fn ops(c: &Chain, l1: Mfn, data: Mfn) -> Vec<MmuextOp> {
    vec![
        op(MMUEXT_TLB_FLUSH_LOCAL, 0),
        op(MMUEXT_INVLPG_LOCAL, Chain::va(1)),
        op(MMUEXT_TLB_FLUSH_ALL, 0),
        op(MMUEXT_PIN_L1_TABLE, l1.0),
        op(MMUEXT_PIN_L1_TABLE, data.0 + 40),
        op(MMUEXT_UNPIN_TABLE, l1.0),
        op(MMUEXT_UNPIN_TABLE, c.l4.0),
        op(MMUEXT_NEW_BASEPTR, c.l4.0),
        op(MMUEXT_NEW_BASEPTR, data.0),
        op(MMUEXT_TLB_FLUSH_MULTI, 0),
        op(MMUEXT_CLEAR_PAGE, c.l1.0),
        op(MMUEXT_CLEAR_PAGE, data.0),
        op(99, 0),
    ]
}

#[test]
fn a_single_operation_gives_what_the_batch_path_gives() {
    for budget in [None, Some(2)] {
        let (base, c, l1, data) = world(false);
        for o in ops(&c, l1, data) {
            let (mut a, mut b) = (base.clone(), base.clone());
            a.hooks.budget = budget;
            b.hooks.budget = budget;
            a.touch(D1, &[Chain::va(1)]);
            b.touch(D1, &[Chain::va(1)]);
            let list = [o];
            let via_batch = a.mm().mmuext_op(D1, &mut &list[..], 1, DomId::SELF.0, &mut NoGuestMemory);
            assert!(b.mm().nothing_queued(D1));
            let r = b.mm().mmuext_single(D1, o, &mut NoGuestMemory);
            let single = BatchResult { done: u32::from(r.is_ok()), result: r };
            let what = format!("{o:?} (budget {budget:?})");
            assert_eq!(single, via_batch, "{what}");
            assert_eq!(b.snapshot(), a.snapshot(), "{what}");
            // A flush may come at once instead of at the exit.
            a.exit();
            b.exit();
            let flushes = |w: &World| w.hooks.local_flushes + w.hooks.now_flushes;
            assert_eq!(flushes(&b), flushes(&a), "{what}");
            assert_eq!(b.hooks.tlb.entries, a.hooks.tlb.entries, "{what}");
            assert_eq!(
                (&b.hooks.domain_flushes, &b.hooks.invlpgs),
                (&a.hooks.domain_flushes, &a.hooks.invlpgs),
                "{what}"
            );
            assert_eq!(b.hooks.freed, a.hooks.freed, "{what}");
            b.check();
        }
    }
}

#[test]
fn queued_deferred_work_sends_a_single_operation_down_the_batch_path() {
    let (mut w, ..) = world(true);
    assert!(!w.mm().nothing_queued(D1));
    assert!(w.mm().nothing_queued(D2));
}

fn counts(w: &World, frames: &[Mfn]) -> Vec<u32> {
    frames.iter().map(|&m| w.info(m).count()).collect()
}

fn map(table: Mfn, index: usize, target: Mfn, flags: u64) -> MmuUpdate {
    MmuUpdate { ptr: table.to_maddr() + index as u64 * 8, val: target.to_maddr() | flags }
}

#[test]
fn an_mmu_update_batch_keeps_no_table_reference_after_it_ends() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 4);
    let (t, u, data) = (f[0], f[1], f[2]);
    let watched = [c.l1, t, u];
    let before = counts(&w, &watched);
    // Interleaved tables, all accepted: each switch drops the old frame's
    // reference and takes the new one's.
    let all =
        [map(t, 0, data, RO), map(t, 1, data, RO), map(u, 0, data, RO), map(t, 2, data, RO), map(c.l1, 5, data, RO)];
    assert_eq!(w.mmu_batch(D1, &all, 0x7FF0), BatchResult { done: 5, result: Ok(()) });
    assert_eq!(counts(&w, &watched), before);
    // Stopped on the held frame by a refused entry (a table mapped RW).
    let refused = [map(c.l1, 6, data, RO), map(c.l1, 7, c.l2, FLAGS), map(c.l1, 8, data, RO)];
    assert_eq!(w.mmu_batch(D1, &refused, 0x7FF0), BatchResult { done: 1, result: Err(Errno::EBUSY) });
    assert_eq!(counts(&w, &watched), before);
    // Stopped between requests by the preemption budget.
    w.hooks.preempt_batch_after = Some(1);
    let long = [map(t, 10, data, RO), map(t, 11, data, RO), map(t, 12, data, RO)];
    assert_eq!(w.mmu_batch(D1, &long, 0x7FF0), BatchResult { done: 2, result: Err(Errno::ERESTART) });
    assert_eq!(counts(&w, &watched), before);
    w.hooks.preempt_batch_after = None;
    // Stopped when the next table frame is refused (not the caller's).
    let foreign = w.give(D2, 1)[0];
    let to_foreign = [map(t, 13, data, RO), map(foreign, 0, data, RO)];
    assert_eq!(w.mmu_batch(D1, &to_foreign, 0x7FF0), BatchResult { done: 1, result: Err(Errno::EINVAL) });
    assert_eq!(counts(&w, &watched), before);
    w.check();
}

#[test]
fn a_table_frame_freed_by_its_own_batch_is_freed_when_the_batch_ends() {
    // A data frame given back while still mapped (its only references
    // are mappings): a batch that removes the last mapping and then
    // writes elsewhere frees it once, at the right moment.
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    let (t, data) = (f[0], f[1]);
    w.update(D1, c.l1, 9, t.to_maddr() | RO).unwrap();
    let frames = [t];
    // Drop the allocation reference, as a released frame would.
    let count = w.info(t).count();
    w.frames[t.0 as usize].set_count(count - 1);
    w.frames[t.0 as usize].set_allocated(false);
    assert_eq!(counts(&w, &frames), [1]);
    let reqs = [map(t, 0, data, RO), MmuUpdate { ptr: c.l1.to_maddr() + 9 * 8, val: 0 }, map(t, 1, data, RO)];
    // Request 0 writes t (data, no rules), request 1 unmaps it from c.l1,
    // which frees it, so request 2 finds a free frame.
    assert_eq!(w.mmu_batch(D1, &reqs, 0x7FF0), BatchResult { done: 2, result: Err(Errno::EINVAL) });
    assert_eq!(w.info(t).count(), 0);
    assert_eq!(w.hooks.freed, vec![t]);
}

#[test]
fn a_single_mmu_update_gives_what_the_batch_path_gives() {
    let (base, c, l1, data) = world(false);
    let foreign = Mfn(40);
    let reqs = [
        map(c.l1, 5, data, RO),
        map(c.l1, 5, data, FLAGS),
        map(c.l1, 1, data, RO),
        MmuUpdate { ptr: c.l1.to_maddr() + 8, val: 0 },
        map(c.l1, 6, c.l2, FLAGS),
        map(c.l1, 6, data, RO | abi::mmu::pte::PCD),
        map(c.l2, 7, l1, FLAGS),
        MmuUpdate { ptr: c.l2.to_maddr() + 8, val: 0 },
        map(c.l4, 300, c.l3, FLAGS),
        map(data, 3, data, FLAGS),
        map(foreign, 0, data, RO),
        MmuUpdate { ptr: data.to_maddr() | MMU_MACHPHYS_UPDATE, val: 9 },
        MmuUpdate { ptr: data.to_maddr() | MMU_PT_UPDATE_PRESERVE_AD, val: 0 },
        MmuUpdate { ptr: c.l1.to_maddr() | 5, val: 0 },
    ];
    for defer in [false, true] {
        for req in reqs {
            let (mut a, mut b) = (base.clone(), base.clone());
            a.hooks.defer = defer;
            b.hooks.defer = defer;
            a.touch(D1, &[Chain::va(1)]);
            b.touch(D1, &[Chain::va(1)]);
            let via_batch = a.mmu_batch(D1, &[req], DomId::SELF.0.into());
            let r = b.mm().mmu_update_single(D1, req);
            let single = BatchResult { done: u32::from(r.is_ok()), result: r };
            let what = format!("{req:x?} (defer {defer})");
            assert_eq!(single, via_batch, "{what}");
            assert_eq!(b.snapshot(), a.snapshot(), "{what}");
            assert_eq!(b.hooks.domain_flushes, a.hooks.domain_flushes, "{what}");
            assert_eq!(b.hooks.freed, a.hooks.freed, "{what}");
            b.check();
        }
    }
}
