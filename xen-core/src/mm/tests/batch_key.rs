//! The batch's own loop ([`Mm::mmu_update`]: the held L1's facts kept
//! while only plain references move, the preemption tests folded into the
//! loop's end test) against the per-request loop
//! ([`Mm::mmu_update_per_request`]: every request the general way, every
//! preemption test asked) on random tables. The property tests' random
//! operations build the state; then a random batch, most of its requests on
//! one or two tables (the runs the key serves), under a random batch
//! preemption limit and `foreigndom`, goes through both, and the results,
//! the whole model state, the flushes, the freed frames, the refusal rules
//! and the preemption budget must agree.
//!
//! [`Mm::mmu_update`]: crate::mm::Mm::mmu_update
//! [`Mm::mmu_update_per_request`]: crate::mm::Mm::mmu_update_per_request

use super::properties::{apply, frame_of, index, op, value, world, NFRAMES};
use abi::mmu::pte::{ACCESSED, ADDR_MASK, DIRTY, GLOBAL, GUEST_KERNEL, NX, PRESENT, RW, USER};
use abi::mmu::MmuUpdate;
use abi::{DomId, Mfn};
use proptest::prelude::*;

/// A request on table `table` (0 and 1: the batch's two tables, else any
/// frame) writing `val`, or with `mine` an entry with the flags of `val`
/// mapping one of FD's frames other than the tables (0–7), the request's
/// table (8), the batch's second table (9) or a frame of the caller's (10).
#[derive(Clone, Copy, Debug)]
struct Req {
    table: u8,
    index: usize,
    val: u64,
    cmd: u64,
    mine: Option<u8>,
}

fn req() -> impl Strategy<Value = Req> {
    let table = prop_oneof![12 => Just(0u8), 4 => Just(1u8), 1 => 2u8..NFRAMES as u8 + 3];
    let mine = prop::option::weighted(0.95, prop_oneof![30 => 0u8..8, 1 => Just(8), 1 => Just(9), 3 => Just(10)]);
    // Mostly the flags of the common maps and unmaps, which keep a batch
    // going; now and then ones that stop it.
    let flags = prop_oneof![
        24 => prop::sample::select(vec![
            0,
            PRESENT,
            PRESENT | RW,
            PRESENT | USER,
            PRESENT | RW | USER,
            PRESENT | RW | USER | ACCESSED | DIRTY,
            PRESENT | RW | NX,
            PRESENT | GLOBAL | USER,
            PRESENT | GUEST_KERNEL | USER,
        ]),
        1 => value(),
    ];
    let cmd = prop_oneof![40 => Just(0u64), 12 => Just(2), 1 => Just(1), 1 => Just(3), 1 => Just(5)];
    (table, index(), flags, cmd, mine).prop_map(|(table, index, val, cmd, mine)| Req { table, index, val, cmd, mine })
}

/// `foreigndom`: FD in bits 15:0, PFD + 1 in bits 31:16 (0: the caller).
fn foreigndom() -> impl Strategy<Value = u32> {
    let fd = prop::sample::select(vec![0x7FF0u32, 0, 1, 2, 0x7FF1]);
    let pfd = prop::sample::select(vec![0u32, 0, 1, 2, 3]);
    prop_oneof![4 => Just(0x7FF0), 1 => (fd, pfd).prop_map(|(fd, pfd)| pfd << 16 | fd)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn a_batch_gives_what_the_per_request_loop_gives_on_random_tables(
        ops in prop::collection::vec(op(), 0..20),
        dom in prop::sample::select(vec![1u8, 1, 1, 0, 0, 2]),
        own in (0u8..10, 0u8..10),
        pin in prop::sample::select(vec![Some(1u8), Some(1), Some(1), Some(1), Some(2), None]),
        reqs in prop::collection::vec(req(), 1..48),
        foreigndom in foreigndom(),
        limit in prop::option::weighted(0.3, prop::sample::select(vec![0u32, 1, 2, 5, 17])),
    ) {
        let mut w = world();
        for o in &ops {
            apply(&mut w, o);
            w.exit();
        }
        let d = DomId(u16::from(dom));
        // The batch's two tables: frames of the caller's, the first pinned
        // (an L1 mostly, so the runs the key serves happen).
        let mine = |i: u8| Mfn(1 + u64::from(dom) * 10 + u64::from(i));
        let tables = [mine(own.0), mine(own.1)];
        // The frames new entries map: FD's (a foreign FD's for the
        // privileged domain 0), the tables aside.
        let fd_dom = match foreigndom & 0xFFFF {
            fd @ 0..=2 => fd as u8,
            _ => dom,
        };
        let data: Vec<Mfn> = (0..10)
            .map(|i| Mfn(1 + u64::from(fd_dom) * 10 + i))
            .filter(|m| !tables.contains(m))
            .collect();
        if let Some(level) = pin {
            let _ = w.pin(d, level, tables[0]);
            w.exit();
        }
        let reqs: Vec<MmuUpdate> = reqs
            .iter()
            .map(|r| {
                let table = match r.table {
                    0 | 1 => tables[r.table as usize],
                    t => frame_of(t - 2),
                };
                let flags = r.val & !ADDR_MASK;
                let val = match r.mine {
                    // The request's table, or the batch's other one.
                    Some(8) => table.to_maddr() | flags,
                    Some(9) => tables[1].to_maddr() | flags,
                    // The caller's own data frame (not FD's when FD is foreign).
                    Some(10) => mine(if own.0 == 9 || own.1 == 9 { 8 } else { 9 }).to_maddr() | flags,
                    Some(i) => data[usize::from(i) % data.len()].to_maddr() | flags,
                    None => r.val,
                };
                MmuUpdate { ptr: table.to_maddr() + r.index as u64 * 8 + r.cmd, val }
            })
            .collect();
        w.hooks.preempt_batch_after = limit;
        let (mut a, mut b) = (w.clone(), w.clone());
        let got = a.mmu_batch(d, &reqs, foreigndom);
        let want = b.mm().mmu_update_per_request(d, &reqs, foreigndom);
        prop_assert_eq!(got, want);
        prop_assert_eq!(a.snapshot(), b.snapshot());
        prop_assert_eq!(a.hooks.batch_work, b.hooks.batch_work, "batch preemption budget");
        prop_assert_eq!((a.hooks.work, a.hooks.budget_used), (b.hooks.work, b.hooks.budget_used));
        prop_assert_eq!(&a.hooks.domain_flushes, &b.hooks.domain_flushes);
        prop_assert_eq!(&a.hooks.freed, &b.hooks.freed);
        prop_assert_eq!(a.hooks.now_flushes, b.hooks.now_flushes);
        prop_assert_eq!(a.hooks.refusals.take(), b.hooks.refusals.take());
        a.check();
    }
}
