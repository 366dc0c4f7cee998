//! The one-request `mmu_update` path ([`Mm::mmu_update_single`]) against
//! the batch path on random tables: the property tests' random operations
//! build the state, then random requests (self maps of the table written
//! among them, the case the single path sends the general way) go through
//! both, and the results, the whole model state, the flushes, the freed
//! frames and the refusal rules must agree.
//!
//! [`Mm::mmu_update_single`]: crate::mm::Mm::mmu_update_single

use super::properties::{apply, frame_of, index, op, value, world, Op, NFRAMES};
use abi::mmu::pte::{PRESENT, RW, USER};
use abi::mmu::MmuUpdate;
use abi::DomId;
use proptest::prelude::*;

/// A request of `dom`: command `cmd` on entry `index` of frame `table`,
/// writing `val`, or with `self_map` an entry mapping `table` itself.
#[derive(Clone, Copy, Debug)]
struct Req {
    dom: u8,
    table: u8,
    index: usize,
    val: u64,
    cmd: u64,
    self_map: Option<u64>,
}

fn req() -> impl Strategy<Value = Req> {
    let dom = prop::sample::select(vec![1u8, 1, 1, 1, 0, 2]);
    let self_map = prop::option::weighted(
        0.2,
        prop::sample::select(vec![PRESENT, PRESENT | USER, PRESENT | RW, PRESENT | RW | USER]),
    );
    (dom, 0u8..NFRAMES as u8 + 1, index(), value(), prop::sample::select(vec![0u64, 0, 0, 1, 2, 3, 5]), self_map)
        .prop_map(|(dom, table, index, val, cmd, self_map)| Req { dom, table, index, val, cmd, self_map })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn a_single_request_gives_what_the_batch_gives_on_random_tables(
        ops in prop::collection::vec(op(), 0..40),
        reqs in prop::collection::vec(req(), 1..12),
    ) {
        let mut w = world();
        for o in ops.iter().filter(|o| !matches!(o, Op::Preempt { .. })) {
            apply(&mut w, o);
            w.exit();
        }
        for r in reqs {
            let dom = DomId(u16::from(r.dom));
            let table = frame_of(r.table);
            let val = r.self_map.map_or(r.val, |flags| table.to_maddr() | flags);
            let req = MmuUpdate { ptr: table.to_maddr() + r.index as u64 * 8 + r.cmd, val };
            // The single path runs only with nothing queued (its caller tests that).
            if w.mm().nothing_queued(dom) {
                let (mut a, mut b) = (w.clone(), w.clone());
                let batch = a.mmu_batch(dom, &[req], DomId::SELF.0.into());
                let single = b.mm().mmu_update_single(dom, req);
                prop_assert_eq!(single, batch.result, "{:x?}", req);
                prop_assert_eq!(batch.done, u32::from(single.is_ok()));
                prop_assert_eq!(b.snapshot(), a.snapshot(), "{:x?}", req);
                prop_assert_eq!(&b.hooks.domain_flushes, &a.hooks.domain_flushes, "{:x?}", req);
                prop_assert_eq!(&b.hooks.freed, &a.hooks.freed, "{:x?}", req);
                prop_assert_eq!(b.hooks.now_flushes, a.hooks.now_flushes, "{:x?}", req);
                prop_assert_eq!(b.hooks.refusals.take(), a.hooks.refusals.take(), "{:x?}", req);
                b.check();
            }
            // Either way the state moves on, as the batch leaves it.
            let _ = w.mmu_batch(dom, &[req], DomId::SELF.0.into());
            w.exit();
        }
    }
}

/// The single path makes the table frame's reference checks without
/// taking it: at the general count's limit it still answers as the batch,
/// which takes it. One below, both map (the batch's reference makes the
/// count the limit for the request, then drops it); at the limit, where
/// Xen's 55-bit count would go on, both refuse the table frame.
#[test]
fn at_the_table_frames_reference_limit_the_single_path_answers_as_the_batch() {
    use crate::mm::page_info::MAX_COUNT;
    use abi::{Errno, Mfn};
    let dom = DomId(1);
    let (table, data) = (Mfn(11), Mfn(12));
    let req = MmuUpdate { ptr: table.to_maddr() + 8, val: data.to_maddr() | PRESENT | RW | USER };
    for (count, want) in [(MAX_COUNT - 1, Ok(())), (MAX_COUNT, Err(Errno::EINVAL))] {
        let mut w = world();
        w.pin(dom, 1, table).unwrap();
        w.frames[table.0 as usize].set_count(count);
        let (mut a, mut b) = (w.clone(), w.clone());
        let batch = a.mmu_batch(dom, &[req], DomId::SELF.0.into());
        let single = b.mm().mmu_update_single(dom, req);
        assert_eq!((single, batch.result), (want, want), "table count {count}");
        assert_eq!(b.snapshot(), a.snapshot(), "table count {count}");
        assert_eq!(a.frames[table.0 as usize].count(), count, "table count {count}");
    }
}
