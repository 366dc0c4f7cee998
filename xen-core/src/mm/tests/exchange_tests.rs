//! `XENMEM_exchange`: one test per errno row, the XSA-212 sub-range rule,
//! chunking, undo of a failed chunk, and preemption between chunks.

use super::world::*;
use crate::mm::exchange::{Exchange, ExchangeArrays, ExchangeDone, ExchangeSide};
use crate::mm::reservation::ExtentArray;
use crate::mm::DomainMm;
use abi::mmu::{MmuextOp, MMUEXT_PIN_L1_TABLE};
use abi::{DomId, Errno, Mfn};

/// A guest array; records every write.
#[derive(Default)]
struct Array {
    items: Vec<u64>,
    writes: usize,
}

impl ExtentArray for Array {
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        self.items.get(i as usize).copied().ok_or(Errno::EFAULT)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        self.writes += 1;
        *self.items.get_mut(i as usize).ok_or(Errno::EFAULT)? = v;
        Ok(())
    }
}

const IN_VA: u64 = 0x10_0000;
const OUT_VA: u64 = 0x20_0000;

fn side(extent_start: u64, nr_extents: u64, extent_order: u32) -> ExchangeSide {
    ExchangeSide { extent_start, nr_extents, extent_order, mem_flags: 0, domid: DomId::SELF }
}

/// Exchanges `input` extents of `in_order` for `nr_out` extents of
/// `out_order` with PFNs 1000, 1001, …
fn xchg(w: &mut World, dom: DomId, input: &[u64], in_order: u32, nr_out: u64, out_order: u32) -> (ExchangeDone, Array) {
    let x = Exchange {
        input: side(IN_VA, input.len() as u64, in_order),
        output: side(OUT_VA, nr_out, out_order),
        nr_exchanged: 0,
    };
    run(w, dom, &x, input)
}

fn run(w: &mut World, dom: DomId, x: &Exchange, input: &[u64]) -> (ExchangeDone, Array) {
    let mut i = Array { items: input.to_vec(), writes: 0 };
    let mut o = Array { items: (0..x.output.nr_extents.min(4096)).map(|k| 1000 + k).collect(), writes: 0 };
    let done = w.mm().exchange(dom, x, &mut ExchangeArrays { input: &mut i, output: &mut o });
    (done, o)
}

fn world() -> World {
    let mut w = World::new(512);
    w.hooks.pool = (100..300).map(Mfn).collect();
    w
}

/// Runs a refused exchange: the errno, `nr_exchanged` written back
/// unchanged, no output written, no state changed.
fn refused_with(w: &mut World, err: Errno, x: &Exchange, input: &[u64]) {
    let before = w.snapshot();
    let pool = w.hooks.pool.clone();
    let (done, out) = run(w, D1, x, input);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(x.nr_exchanged), result: Err(err) });
    assert_eq!(out.writes, 0);
    assert_eq!(w.snapshot(), before, "a refused exchange changed the state");
    assert_eq!(w.hooks.freed, vec![], "a refused exchange freed frames");
    assert_eq!(w.hooks.pool, pool, "a refused exchange kept frames");
    w.check();
}

/// One order-0 extent for one (the input MFN goes in the array).
fn one() -> Exchange {
    Exchange { input: side(IN_VA, 1, 0), output: side(OUT_VA, 1, 0), nr_exchanged: 0 }
}

#[test]
fn one_frame_is_exchanged_for_a_fresh_one_with_its_m2p_entry_and_mfn_written_back() {
    let mut w = world();
    let f = w.give(D1, 2);
    let (done, out) = xchg(&mut w, D1, &[f[0].0], 0, 1, 0);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(1), result: Ok(()) });
    assert_eq!(out.items, vec![100]);
    assert_eq!(w.m2p[100], 1000);
    assert_eq!(w.info(Mfn(100)).owner(), D1);
    assert_eq!(w.hooks.freed, vec![f[0]], "the input frame went back");
    assert_eq!(w.doms[1].tot_pages, 2, "the reservation is unchanged");
    assert_eq!((w.doms[1].given, w.doms[1].returned), (3, 1));
    w.check();
}

#[test]
fn scattered_frames_are_exchanged_for_one_contiguous_extent() {
    let mut w = world();
    let f = w.give(D1, 4);
    let input = [f[3].0, f[0].0, f[2].0, f[1].0];
    let (done, out) = xchg(&mut w, D1, &input, 0, 1, 2);
    assert_eq!(done.result, Ok(()));
    assert_eq!(done.nr_exchanged, Some(4));
    assert_eq!(out.items, vec![100]);
    assert_eq!(w.m2p[100..104], [1000, 1001, 1002, 1003]);
    assert_eq!(w.doms[1].tot_pages, 4);
    w.check();
}

#[test]
fn one_extent_is_exchanged_for_single_frames() {
    let mut w = world();
    let f = w.give(D1, 2);
    let (done, out) = xchg(&mut w, D1, &[f[0].0], 1, 2, 0);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(1), result: Ok(()) });
    assert_eq!(out.items, vec![100, 101]);
    assert_eq!((w.m2p[100], w.m2p[101]), (1000, 1001));
    assert_eq!(w.hooks.freed, f);
    w.check();
}

#[test]
fn orders_above_the_limit_are_eperm() {
    let mut w = world();
    let f = w.give(D1, 1);
    let x = Exchange { input: side(IN_VA, 1, 10), output: side(OUT_VA, 1, 10), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EPERM, &x, &[f[0].0]);
    let x = Exchange { input: side(IN_VA, 1024, 0), output: side(OUT_VA, 1, 10), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EPERM, &x, &[f[0].0]);
}

#[test]
fn inconsistent_requests_are_einval() {
    let mut w = world();
    let f = w.give(D1, 2);
    let input = [f[0].0, f[1].0];
    let base = Exchange { input: side(IN_VA, 2, 0), output: side(OUT_VA, 2, 0), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EINVAL, &Exchange { nr_exchanged: 3, ..base }, &input);
    let mut other = base;
    other.output.domid = D1;
    refused_with(&mut w, Errno::EINVAL, &other, &input);
    let mut sizes = base;
    sizes.output.extent_order = 1;
    refused_with(&mut w, Errno::EINVAL, &sizes, &input);
    let huge = Exchange { input: side(IN_VA, u64::MAX, 1), output: side(OUT_VA, u64::MAX, 1), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EINVAL, &huge, &input);
}

#[test]
fn nothing_left_to_exchange_succeeds_without_writing_back() {
    let mut w = world();
    let f = w.give(D1, 1);
    let x = Exchange { input: side(IN_VA, 1, 0), output: side(OUT_VA, 1, 0), nr_exchanged: 1 };
    let before = w.snapshot();
    let (done, _) = run(&mut w, D1, &x, &[f[0].0]);
    assert_eq!(done, ExchangeDone { nr_exchanged: None, result: Ok(()) });
    assert_eq!(w.snapshot(), before);
}

#[test]
fn arrays_outside_guest_space_are_efault() {
    let mut w = world();
    let f = w.give(D1, 1);
    let hv = 0xFFFF_8000_0000_0000;
    let mut x = one();
    x.input.extent_start = hv;
    refused_with(&mut w, Errno::EFAULT, &x, &[f[0].0]);
    let mut x = one();
    x.output.extent_start = hv;
    refused_with(&mut w, Errno::EFAULT, &x, &[f[0].0]);
}

/// XSA-212: the output array was checked only from its start, so MFNs
/// written back to later elements could land in the hypervisor. The whole
/// part still to do is checked, end included, and without overflow.
#[test]
fn xsa_212_arrays_whose_end_leaves_guest_space_are_refused_before_any_work() {
    let mut w = world();
    let f = w.give(D1, 2);
    let input = [f[0].0, f[1].0];
    let mut x = Exchange { input: side(IN_VA, 2, 0), output: side((1 << 47) - 8, 2, 0), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EFAULT, &x, &input);
    x.output.extent_start = OUT_VA;
    x.input.extent_start = (1 << 47) - 8;
    refused_with(&mut w, Errno::EFAULT, &x, &input);
    // Resuming: only the part still to do counts, so a start in the
    // hypervisor with the rest in guest space is not enough either.
    let mut x = Exchange { input: side(IN_VA, 2, 0), output: side(u64::MAX - 7, 2, 0), nr_exchanged: 1 };
    refused_with(&mut w, Errno::EFAULT, &x, &input);
    // Lengths that overflow.
    x = Exchange { input: side(IN_VA, 1 << 61, 0), output: side(OUT_VA, 1 << 61, 0), nr_exchanged: 0 };
    refused_with(&mut w, Errno::EFAULT, &x, &input);
}

#[test]
fn numa_placement_a_domu_insists_on_is_einval() {
    let mut w = world();
    let f = w.give(D1, 1);
    let mut x = one();
    x.output.mem_flags = (1 + 1) << 8 | 1 << 17;
    refused_with(&mut w, Errno::EINVAL, &x, &[f[0].0]);
    // A node it does not insist on is ignored.
    x.output.mem_flags = (1 + 1) << 8;
    assert_eq!(run(&mut w, D1, &x, &[f[0].0]).0.result, Ok(()));
}

#[test]
fn a_domain_that_does_not_exist_is_esrch_and_another_one_eperm() {
    let mut w = world();
    let f = w.give(D1, 1);
    let mut x = one();
    w.doms[2] = DomainMm::empty(D2);
    x.input.domid = D2;
    x.output.domid = D2;
    refused_with(&mut w, Errno::ESRCH, &x, &[f[0].0]);
    w.doms[2] = DomainMm::new(D2, 100);
    refused_with(&mut w, Errno::EPERM, &x, &[f[0].0]);
    // Its own numeric id names it (unlike mmu_update's foreigndom).
    x.input.domid = D1;
    x.output.domid = D1;
    assert_eq!(run(&mut w, D1, &x, &[f[0].0]).0.result, Ok(()));
}

#[test]
fn the_control_domain_may_exchange_another_domains_frames() {
    let mut w = world();
    let f = w.give(D1, 1);
    let mut x = one();
    x.input.domid = D1;
    x.output.domid = D1;
    let (done, out) = run(&mut w, D0, &x, &[f[0].0]);
    assert_eq!(done.result, Ok(()));
    assert_eq!(w.info(Mfn(out.items[0])).owner(), D1);
    w.check();
}

/// Rows of the input-page rule: held by anything but its allocation, not
/// the domain's, not RAM, or a hypervisor frame: `EINVAL`, nothing changed.
#[test]
fn input_pages_in_use_or_not_its_own_are_einval() {
    let mut w = world();
    let c = pinned_chain(&mut w, D1);
    let l1 = w.give(D1, 1)[0];
    w.ext(D1, MmuextOp { cmd: MMUEXT_PIN_L1_TABLE, arg1: l1.0, ..Default::default() }).unwrap();
    let theirs = w.give(D2, 1)[0];
    let shared = Mfn(400);
    w.mm().assign_xen_heap_frame(shared, D1);
    let free = Mfn(450);
    for (what, m) in [
        ("mapped", c.data),
        ("a page table", c.l2),
        ("pinned", l1),
        ("another domain's", theirs),
        ("a hypervisor frame shared with it", shared),
        ("free", free),
        ("beyond RAM", Mfn(100_000)),
    ] {
        let before = w.snapshot();
        let (done, out) = run(&mut w, D1, &one(), &[m.0]);
        assert_eq!(done, ExchangeDone { nr_exchanged: Some(0), result: Err(Errno::EINVAL) }, "{what}");
        assert_eq!(out.writes, 0);
        assert_eq!(w.snapshot(), before, "{what}: state changed");
    }
    w.check();
}

#[test]
fn a_frame_named_twice_is_einval_and_the_first_is_given_back_untouched() {
    let mut w = world();
    let f = w.give(D1, 2);
    let before = w.snapshot();
    let (done, _) = xchg(&mut w, D1, &[f[0].0, f[0].0], 0, 1, 1);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(0), result: Err(Errno::EINVAL) });
    assert_eq!(w.snapshot(), before);
    w.check();
}

#[test]
fn no_memory_for_the_outputs_is_enomem_and_undone() {
    let mut w = world();
    let f = w.give(D1, 4);
    w.hooks.pool = vec![Mfn(100), Mfn(102)];
    let before = w.snapshot();
    // Two frames but not contiguous: the order-1 extent cannot be had.
    let (done, _) = xchg(&mut w, D1, &[f[0].0, f[1].0], 0, 1, 1);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(0), result: Err(Errno::ENOMEM) });
    assert_eq!(w.snapshot(), before);
    // Outputs of the chunk already allocated go back when one is short.
    w.hooks.pool = vec![Mfn(100)];
    let (done, _) = xchg(&mut w, D1, &[f[0].0], 1, 2, 0);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(0), result: Err(Errno::ENOMEM) });
    assert_eq!(w.hooks.freed, vec![Mfn(100)]);
    assert_eq!(w.snapshot(), before);
    w.check();
}

#[test]
fn an_output_address_limit_the_allocation_cannot_meet_is_enomem() {
    let mut w = world();
    let f = w.give(D1, 1);
    let mut x = one();
    x.output.mem_flags = 16; // below 64 KiB: frames 0..15; the pool starts at 100
    let (done, _) = run(&mut w, D1, &x, &[f[0].0]);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(0), result: Err(Errno::ENOMEM) });
    assert_eq!(w.hooks.freed, vec![Mfn(100)], "the unusable extent went back");
    x.output.mem_flags = 32;
    assert_eq!(run(&mut w, D1, &x, &[f[0].0]).0.result, Ok(()));
    w.check();
}

#[test]
fn a_failing_chunk_keeps_the_chunks_before_it_and_reports_them() {
    let mut w = world();
    let f = w.give(D1, 3);
    let c = pinned_chain(&mut w, D1);
    let (done, out) = xchg(&mut w, D1, &[f[0].0, f[1].0, c.data.0, f[2].0], 0, 4, 0);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(2), result: Err(Errno::EINVAL) });
    assert_eq!(out.items[..3], [100, 101, 1002]);
    assert_eq!(w.hooks.freed, vec![f[0], f[1]]);
    assert_eq!(w.info(f[2]).owner(), D1);
    w.check();
}

#[test]
fn a_preempted_exchange_resumes_from_nr_exchanged_to_the_same_result() {
    let input_of = |w: &mut World| w.give(D1, 8).iter().map(|m| m.0).collect::<Vec<_>>();
    let mut plain = world();
    let input = input_of(&mut plain);
    let (done, out) = xchg(&mut plain, D1, &input, 0, 4, 1);
    assert_eq!(done, ExchangeDone { nr_exchanged: Some(8), result: Ok(()) });

    let mut w = world();
    let input = input_of(&mut w);
    w.hooks.preempt_batch_after = Some(0);
    let mut x = Exchange { input: side(IN_VA, 8, 0), output: side(OUT_VA, 4, 1), nr_exchanged: 0 };
    let mut i = Array { items: input, writes: 0 };
    let mut o = Array { items: (1000..1004).collect(), writes: 0 };
    let mut entries = 0;
    loop {
        entries += 1;
        let done = w.mm().exchange(D1, &x, &mut ExchangeArrays { input: &mut i, output: &mut o });
        w.check();
        x.nr_exchanged = done.nr_exchanged.unwrap();
        if done.result != Err(Errno::ERESTART) {
            assert_eq!(done.result, Ok(()));
            break;
        }
        assert_eq!(x.nr_exchanged % 2, 0, "stops between chunks of two inputs");
    }
    assert_eq!(entries, 4, "one chunk per call");
    assert_eq!(x.nr_exchanged, 8);
    assert_eq!(o.items, out.items);
    assert_eq!(w.snapshot(), plain.snapshot());
}
