//! The per-table L1 loops of validation and deferred devalidation
//! (`mm/l1_walk.rs`) against the per-entry walks they replace: on random
//! L1 tables (empty slots, the domain's own frames read-only and writable
//! with every adjustment bit, foreign, MMIO, hypervisor, shared_info and
//! page-table frames, disallowed cache bits), pin and unpin give the same
//! results and leave identical frame tables, memory and budgets, with and
//! without preemption.

use super::world::*;
use crate::mm::PageType;
use abi::mmu::pte::*;
use abi::{DomId, Errno, Mfn};
use proptest::prelude::*;

/// What one slot of the table under test holds.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Empty,
    /// Not present, other bits set: still an empty slot.
    Junk(u64),
    /// One of D1's data frames with these flag bits (RW, USER, GLOBAL,
    /// the kernel mark, cache bits, NX...).
    Own(u8, u64),
    Foreign,
    Mmio,
    Hypervisor,
    SharedInfo(bool),
    /// D1's other L1 table (pinned): refused writable, fine read-only.
    Table(bool),
}

fn slot() -> impl Strategy<Value = Slot> {
    let flags = prop::collection::vec(
        prop::sample::select(vec![RW, USER, GLOBAL, GUEST_KERNEL, ACCESSED, DIRTY, NX, PWT, PCD, AVAIL_LOW]),
        0..5,
    )
    .prop_map(|v| v.into_iter().fold(0, |a, b| a | b));
    prop_oneof![
        6 => Just(Slot::Empty),
        1 => any::<u64>().prop_map(|v| Slot::Junk(v & !PRESENT)),
        12 => (0u8..4, flags).prop_map(|(f, b)| Slot::Own(f, b)),
        1 => Just(Slot::Foreign),
        1 => Just(Slot::Mmio),
        1 => Just(Slot::Hypervisor),
        1 => any::<bool>().prop_map(Slot::SharedInfo),
        1 => any::<bool>().prop_map(Slot::Table),
    ]
}

struct Setup {
    table: Mfn,
}

/// D1 owns the table under test, four data frames, a pinned L1 and a
/// shared_info frame; D2 owns one frame. The table's slots follow `slots`
/// (runs of them, so long empty and dense stretches both occur).
fn build(slots: &[(Slot, u16)]) -> (World, Setup) {
    let mut w = World::new(64);
    let f = w.give(D1, 6);
    let (table, data, other_l1) = (f[0], &f[1..5], f[5]);
    let theirs = w.give(D2, 1)[0];
    let shared = Mfn(40);
    w.mm().assign_xen_heap_frame(shared, D1);
    w.pin(D1, 1, other_l1).unwrap();
    let mut i = 0usize;
    for &(s, run) in slots {
        for _ in 0..run {
            if i == 512 {
                break;
            }
            let v = match s {
                Slot::Empty => 0,
                Slot::Junk(v) => v,
                Slot::Own(k, bits) => data[k as usize].to_maddr() | PRESENT | bits,
                Slot::Foreign => theirs.to_maddr() | RO,
                Slot::Mmio => Mfn(0xF_0000).to_maddr() | RO,
                Slot::Hypervisor => XEN_FRAME.to_maddr() | RO,
                Slot::SharedInfo(rw) => shared.to_maddr() | RO | if rw { RW } else { 0 },
                Slot::Table(rw) => other_l1.to_maddr() | RO | if rw { RW } else { 0 },
            };
            w.poke(table, i, v);
            i += 1;
        }
    }
    (w, Setup { table })
}

/// Pin, then unpin, of `s.table` in `w`, each repeated while preempted;
/// the results and the world after each step.
fn pin_unpin(w: &mut World, s: &Setup) -> Vec<(Result<(), Errno>, u32)> {
    let mut out = Vec::new();
    for pin in [true, false] {
        let mut attempts = 0;
        let r = loop {
            attempts += 1;
            let r = if pin { w.pin(D1, 1, s.table) } else { w.unpin(D1, s.table) };
            w.check();
            if r != Err(Errno::ERESTART) || attempts > 2000 {
                break r;
            }
        };
        // What the unpin left queued, worked off as the next calls would.
        let mut rounds = 0;
        while w.mm().process_deferred(D1, true) == Err(Errno::ERESTART) && rounds < 2000 {
            rounds += 1;
        }
        w.check();
        out.push((r, attempts));
        if r.is_err() {
            break;
        }
    }
    out
}

fn same_walks(slots: &[(Slot, u16)], preempt_every: Option<u32>) -> Result<(), TestCaseError> {
    let (mut fast, s) = build(slots);
    fast.hooks.defer = true;
    fast.hooks.preempt_every = preempt_every;
    let mut reference = fast.clone();
    reference.hooks.per_entry = true;
    let (a, b) = (pin_unpin(&mut fast, &s), pin_unpin(&mut reference, &s));
    prop_assert_eq!(&a, &b, "results");
    prop_assert!(fast.snapshot() == reference.snapshot(), "{}", fast.snapshot().frame_diff(&reference.snapshot()));
    prop_assert_eq!(fast.hooks.work, reference.hooks.work, "budget used");
    prop_assert_eq!(&fast.hooks.freed, &reference.hooks.freed);
    prop_assert_eq!(fast.hooks.now_flushes, reference.hooks.now_flushes);
    Ok(())
}

fn runs() -> impl Strategy<Value = Vec<(Slot, u16)>> {
    prop::collection::vec((slot(), prop_oneof![4 => 1u16..4, 1 => 4u16..40, 1 => 40u16..300]), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn l1_loops_match_the_per_entry_walks(slots in runs()) {
        same_walks(&slots, None)?;
    }

    #[test]
    fn l1_loops_match_the_per_entry_walks_when_preempted(slots in runs(), every in 2u32..700) {
        same_walks(&slots, Some(every))?;
    }
}

#[test]
fn a_full_read_only_table_takes_its_references_and_gives_them_back() {
    let (mut w, s) = build(&[(Slot::Own(0, USER), 512)]);
    w.hooks.defer = true;
    let data = Mfn(s.table.0 + 1);
    let before = w.info(data).count();
    w.pin(D1, 1, s.table).unwrap();
    assert_eq!(w.info(data).count(), before + 512);
    assert_eq!(w.info(s.table).page_type(), PageType::L1);
    // Stored adjusted: a user mapping is made global.
    assert_eq!(w.read(s.table, 7), data.to_maddr() | PRESENT | USER | GLOBAL);
    w.unpin(D1, s.table).unwrap();
    assert_eq!(w.info(data).count(), before);
    assert!(w.mm().nothing_queued(D1), "settled in the unpin's own call");
    w.check();
}

#[test]
fn a_refused_entry_stops_the_loop_with_earlier_references_dropped() {
    let (mut w, s) = build(&[(Slot::Own(1, RW), 300), (Slot::Foreign, 1), (Slot::Own(1, 0), 5)]);
    let before = w.snapshot();
    assert_eq!(w.pin(D1, 1, s.table), Err(Errno::EBUSY));
    assert!(w.snapshot().same_modulo_adjustments(&before));
    w.check();
    let _ = DomId::SELF;
}
