//! Property tests: random operation sequences from three domains, with the
//! invariant checker run after every step. A simulated TLB keeps every
//! translation the current domain's tables gave until a flush removes it,
//! and the guest may write through any writable one, stale or not.

use super::world::*;
use crate::mm::requests::NoGuestMemory;
use crate::mm::reservation::{ExtentArray, Reservation};
use crate::mm::teardown::Teardown;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{DomId, Mfn};
use proptest::prelude::*;

const FRAMES_PER_DOM: usize = 10;
/// Frame 0 is the hypervisor's, then each domain's frames, then two
/// frame numbers beyond RAM.
pub(super) const NFRAMES: usize = 1 + 3 * FRAMES_PER_DOM + 2;

#[derive(Clone, Debug)]
pub(super) enum Op {
    Update {
        dom: u8,
        table: u8,
        index: usize,
        val: u64,
        cmd: u64,
        fd: u32,
    },
    Pin {
        dom: u8,
        level: u8,
        frame: u8,
    },
    Unpin {
        dom: u8,
        frame: u8,
    },
    Baseptr {
        dom: u8,
        frame: u8,
        user: bool,
    },
    Uvm {
        dom: u8,
        va: u64,
        val: u64,
        flags: u64,
    },
    Chain {
        dom: u8,
        index: usize,
        first: u8,
    },
    Toggle {
        dom: u8,
        table: u8,
        index: usize,
        bit: u64,
    },
    Link {
        dom: u8,
        table: u8,
        target: u8,
        index: usize,
    },
    Linear {
        dom: u8,
        level: u8,
        table: u8,
        target: u8,
        index: usize,
    },
    Preempt {
        every: Option<u32>,
    },
    Defer(bool),
    Clear {
        dom: u8,
        frame: u8,
    },
    Release {
        dom: u8,
        frame: u8,
    },
    Populate {
        dom: u8,
    },
    Gdt {
        dom: u8,
        frame: u8,
    },
    Flush {
        dom: u8,
        invlpg: Option<u64>,
    },
    /// The guest writes through the `pick`th writable translation cached.
    WriteTlb {
        dom: u8,
        pick: usize,
        index: usize,
        val: u64,
    },
    /// The guest unmaps the address of the `pick`th translation cached.
    Unmap {
        dom: u8,
        pick: usize,
        flags: u64,
    },
    /// The guest gives the frame of the `pick`th translation cached
    /// another use: 0–3 pin as L1–L4, 4 GDT frame, 5 balloon it out.
    Reuse {
        dom: u8,
        pick: usize,
        how: u8,
    },
}

/// Every address whose index at each level is 0, 1 or 2: after each
/// request the CPU may have cached any translation these give.
fn touched() -> Vec<u64> {
    let mut vas = Vec::new();
    for a in 0..3u64 {
        for b in 0..3u64 {
            for c in 0..3u64 {
                for d in 0..3u64 {
                    vas.push((a << 39) | (b << 30) | (c << 21) | (d << 12));
                }
            }
        }
    }
    vas
}

struct Array(Vec<u64>);

impl ExtentArray for Array {
    fn read(&mut self, i: u64) -> Result<u64, abi::Errno> {
        self.0.get(i as usize).copied().ok_or(abi::Errno::EFAULT)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), abi::Errno> {
        *self.0.get_mut(i as usize).ok_or(abi::Errno::EFAULT)? = v;
        Ok(())
    }
}

impl Op {
    fn dom(&self) -> Option<u8> {
        match *self {
            Op::Preempt { .. } | Op::Defer(_) => None,
            Op::Update { dom, .. }
            | Op::Pin { dom, .. }
            | Op::Unpin { dom, .. }
            | Op::Baseptr { dom, .. }
            | Op::Uvm { dom, .. }
            | Op::Chain { dom, .. }
            | Op::Toggle { dom, .. }
            | Op::Link { dom, .. }
            | Op::Linear { dom, .. }
            | Op::Clear { dom, .. }
            | Op::Release { dom, .. }
            | Op::Populate { dom }
            | Op::Gdt { dom, .. }
            | Op::Flush { dom, .. }
            | Op::WriteTlb { dom, .. }
            | Op::Unmap { dom, .. }
            | Op::Reuse { dom, .. } => Some(dom),
        }
    }
}

pub(super) fn frame_of(frame: u8) -> Mfn {
    Mfn(frame as u64 % NFRAMES as u64)
}

pub(super) fn value() -> impl Strategy<Value = u64> {
    let flags = prop::sample::select(vec![
        0,
        PRESENT,
        PRESENT | RW,
        PRESENT | USER,
        FLAGS,
        FLAGS | DIRTY,
        PRESENT | PAT_PSE,
        PRESENT | GLOBAL,
        PRESENT | PCD,
        PRESENT | RW | NX,
        PRESENT | GUEST_KERNEL,
    ]);
    prop_oneof![
        8 => (0u8..NFRAMES as u8 + 2, flags).prop_map(|(f, fl)| ((f as u64) << 12) | fl),
        1 => any::<u64>(),
    ]
}

pub(super) fn index() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![0usize, 1, 2, 3, 255, 256, 271, 272, 511])
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    // Mostly one domain, so that stale translations live long enough.
    let dom = prop::sample::select(vec![1u8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2]);
    let frame = 0u8..NFRAMES as u8 + 1;
    prop_oneof![
        10 => (dom.clone(), frame.clone(), index(), value(), prop::sample::select(vec![0u64, 0, 0, 0, 1, 2, 3, 5]),
               prop::sample::select(vec![0x7FF0u32, 0x7FF0, 0x7FF0, 0, 1, 2, 0x7FF1, 9]))
            .prop_map(|(dom, table, index, val, cmd, fd)| Op::Update { dom, table, index, val, cmd, fd }),
        4 => (dom.clone(), 1u8..=4, frame.clone()).prop_map(|(dom, level, frame)| Op::Pin { dom, level, frame }),
        3 => (dom.clone(), frame.clone()).prop_map(|(dom, frame)| Op::Unpin { dom, frame }),
        2 => (dom.clone(), frame.clone(), any::<bool>()).prop_map(|(dom, frame, user)| Op::Baseptr { dom, frame, user }),
        3 => (dom.clone(), prop::sample::select(vec![Chain::va(1), Chain::va(2), Chain::va(0), 0xFFFF_8000_0000_0000]), value(),
              prop::sample::select(vec![0u64, UVMF_INVLPG, UVMF_TLB_FLUSH]))
            .prop_map(|(dom, va, val, flags)| Op::Uvm { dom, va, val, flags }),
        2 => dom.clone().prop_map(|dom| Op::Populate { dom }),
        1 => (dom.clone(), frame.clone()).prop_map(|(dom, frame)| Op::Gdt { dom, frame }),
        1 => (dom.clone(), prop::option::of(prop::sample::select(vec![Chain::va(1), Chain::va(2)])))
            .prop_map(|(dom, invlpg)| Op::Flush { dom, invlpg }),
        6 => (dom.clone(), any::<usize>(), index(), value())
            .prop_map(|(dom, pick, index, val)| Op::WriteTlb { dom, pick, index, val }),
        4 => (dom.clone(), any::<usize>(), prop::sample::select(vec![0u64, 0, UVMF_INVLPG, UVMF_TLB_FLUSH]))
            .prop_map(|(dom, pick, flags)| Op::Unmap { dom, pick, flags }),
        4 => (dom.clone(), any::<usize>(), 0u8..6).prop_map(|(dom, pick, how)| Op::Reuse { dom, pick, how }),
        3 => (dom.clone(), prop::sample::select(vec![1usize, 2]), 0u8..FRAMES_PER_DOM as u8 - 4)
            .prop_map(|(dom, index, first)| Op::Chain { dom, index, first }),
        3 => (dom.clone(), 0u8..FRAMES_PER_DOM as u8, 0u8..FRAMES_PER_DOM as u8, index())
            .prop_map(|(dom, table, target, index)| Op::Link { dom, table, target, index }),
        3 => (dom.clone(), 2u8..=4, 0u8..FRAMES_PER_DOM as u8, 0u8..FRAMES_PER_DOM as u8, index())
            .prop_map(|(dom, level, table, target, index)| Op::Linear { dom, level, table, target, index }),
        4 => (dom.clone(), frame.clone(), index(), prop::sample::select(vec![RW, PAT_PSE, PCD, NX, ACCESSED, USER, PRESENT, 1 << 12]))
            .prop_map(|(dom, table, index, bit)| Op::Toggle { dom, table, index, bit }),
        1 => (dom.clone(), frame.clone()).prop_map(|(dom, frame)| Op::Clear { dom, frame }),
        1 => (dom, frame).prop_map(|(dom, frame)| Op::Release { dom, frame }),
        1 => prop::option::of(prop::sample::select(vec![2u32, 5, 40, 300])).prop_map(|every| Op::Preempt { every }),
        1 => any::<bool>().prop_map(Op::Defer),
    ]
}

/// A request failed (and so must have changed nothing); a preempted one
/// (ERESTART) made partial progress instead.
fn failed(r: Result<(), abi::Errno>) -> bool {
    matches!(r, Err(e) if e != abi::Errno::ERESTART)
}

/// Applies `op`; returns whether it failed (and so must have changed nothing).
pub(super) fn apply(w: &mut World, op: &Op) -> bool {
    let d = |x: u8| DomId(x as u16);
    match *op {
        Op::Update { dom, table, index, val, cmd, fd } => {
            let req = [MmuUpdate { ptr: frame_of(table).to_maddr() + index as u64 * 8 + cmd, val }];
            failed(w.mmu_batch(d(dom), &req, fd).result)
        }
        Op::Pin { dom, level, frame } => failed(w.pin(d(dom), level, frame_of(frame))),
        Op::Unpin { dom, frame } => failed(w.unpin(d(dom), frame_of(frame))),
        Op::Baseptr { dom, frame, user } => {
            failed(if user { w.user_baseptr(d(dom), frame_of(frame)) } else { w.baseptr(d(dom), frame_of(frame)) })
        }
        Op::Uvm { dom, va, val, flags } => failed(w.uvm(d(dom), va, val, flags, &mut NoGuestMemory)),
        Op::Populate { dom } => {
            let one = Reservation { nr_extents: 1, extent_order: 0, start: 0 };
            w.mm().populate_physmap(d(dom), one, &mut Array(vec![3])).done != 1
        }
        Op::Gdt { dom, frame } => failed(w.mm().set_gdt(d(dom), &[frame_of(frame)], 16)),
        Op::Flush { dom, invlpg } => {
            let op = match invlpg {
                None => MmuextOp { cmd: MMUEXT_TLB_FLUSH_LOCAL, ..Default::default() },
                Some(va) => MmuextOp { cmd: MMUEXT_INVLPG_LOCAL, arg1: va, ..Default::default() },
            };
            failed(w.ext(d(dom), op))
        }
        Op::Unmap { dom, pick, flags } => {
            let mine: Vec<_> = w.hooks.tlb.entries.iter().filter(|t| t.dom == d(dom)).copied().collect();
            match mine.get(pick % mine.len().max(1)) {
                Some(t) => failed(w.uvm(d(dom), t.va, 0, flags, &mut NoGuestMemory)),
                None => false,
            }
        }
        Op::Reuse { dom, pick, how } => {
            let mine: Vec<_> = w.hooks.tlb.entries.iter().filter(|t| t.dom == d(dom)).copied().collect();
            let Some(t) = mine.get(pick % mine.len().max(1)) else { return false };
            match how {
                0..=3 => failed(w.pin(d(dom), how + 1, t.mfn)),
                4 => failed(w.mm().set_gdt(d(dom), &[t.mfn], 16)),
                _ => failed(w.mm().release_frame(d(dom), t.mfn)),
            }
        }
        Op::WriteTlb { dom, pick, index, val } => {
            let mine: Vec<_> = w.hooks.tlb.writable().into_iter().filter(|t| t.dom == d(dom)).collect();
            if let Some(t) = mine.get(pick % mine.len().max(1)) {
                w.poke(t.mfn, index, val);
            }
            false
        }
        Op::Preempt { every } => {
            w.hooks.preempt_every = every;
            w.hooks.work = 0;
            false
        }
        Op::Defer(on) => {
            w.hooks.defer = on;
            false
        }
        Op::Chain { dom, index, first } => {
            // Five of the domain's frames linked L4→L3→L2→L1→data and the L4
            // pinned: reaches deep states quickly. Any step may fail if the
            // frames are already in use.
            let base = 1 + dom as u64 * FRAMES_PER_DOM as u64 + first as u64;
            let f: Vec<Mfn> = (base..base + 5).map(Mfn).collect();
            let link = [(f[3], f[4]), (f[2], f[3]), (f[1], f[2]), (f[0], f[1])];
            let mut failed = false;
            for (t, target) in link {
                failed |= w.update(d(dom), t, index, target.to_maddr() | FLAGS).is_err();
            }
            failed |= w.pin(d(dom), 4, f[0]).is_err();
            failed |= w.baseptr(d(dom), f[0]).is_err();
            let _ = failed;
            false
        }
        Op::Link { dom, table, target, index } => {
            // A read-only entry between two of the domain's own frames:
            // linear (same-level) references, self maps and cycles.
            let own = |i: u8| Mfn(1 + dom as u64 * FRAMES_PER_DOM as u64 + i as u64);
            failed(w.update(d(dom), own(table), index, own(target).to_maddr() | RO))
        }
        Op::Linear { dom, level, table, target, index } => {
            // Pin two of the domain's frames at the same level, then link
            // them: the same-level (linear) reference rules of XSA-240.
            let own = |i: u8| Mfn(1 + dom as u64 * FRAMES_PER_DOM as u64 + i as u64);
            let _ = w.pin(d(dom), level, own(table));
            let _ = w.pin(d(dom), level, own(target));
            let _ = w.update(d(dom), own(table), index, own(target).to_maddr() | RO);
            false
        }
        Op::Toggle { dom, table, index, bit } => {
            let old = w.read(frame_of(table), index);
            let req = [MmuUpdate { ptr: frame_of(table).to_maddr() + index as u64 * 8, val: old ^ bit }];
            failed(w.mmu_batch(d(dom), &req, 0x7FF0).result)
        }
        Op::Clear { dom, frame } => {
            failed(w.ext(d(dom), MmuextOp { cmd: MMUEXT_CLEAR_PAGE, arg1: frame_of(frame).0, ..Default::default() }))
        }
        Op::Release { dom, frame } => failed(w.mm().release_frame(d(dom), frame_of(frame))),
    }
}

pub(super) fn world() -> World {
    let mut w = World::new(NFRAMES - 2);
    for dom in [D0, D1, D2] {
        w.give(dom, FRAMES_PER_DOM);
    }
    w
}

proptest! {
    // 256 cases by default; PROPTEST_CASES overrides (cargo mutants uses fewer).
    /// After every step: counts equal the references that really exist, no
    /// page table is writably mapped, no entry crosses domains, types change
    /// only at type count zero, and a failed request changes nothing.
    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 1..60)) {
        let mut w = world();
        let vas = touched();
        let mut current = None;
        for (step, op) in ops.iter().enumerate() {
            if let Some(dom) = op.dom() {
                if current != Some(dom) {
                    // The arch layer flushes on every switch of domain.
                    w.switch();
                    current = Some(dom);
                }
            }
            let before = w.snapshot();
            let before_frames = w.frames.clone();
            let freed = w.hooks.freed.len();
            let failed = apply(&mut w, op);
            w.exit();
            // The allocator hands freed frames out again last in, first out.
            let again: Vec<Mfn> = w.hooks.freed[freed..].iter().rev().copied().collect();
            w.hooks.pool.splice(0..0, again);
            if let Err(e) = w.check_all() {
                prop_assert!(false, "step {step} {op:?}: {e}");
            }
            if let Some(dom) = current {
                w.touch(DomId(dom as u16), &vas);
            }
            if let Err(e) = w.check_all() {
                prop_assert!(false, "step {step} {op:?}, after caching translations: {e}");
            }
            // A request that resumes a preempted validation and then fails
            // undoes the earlier requests' partial work too.
            // Likewise a request that first works off deferred devalidations.
            let had_partial = before_frames.iter().any(|f| f.partial() || f.deval());
            if failed && !had_partial {
                prop_assert!(w.snapshot().same_modulo_adjustments(&before), "step {step} {op:?} failed but changed the state");
            }
            // Chain and Linear issue several requests; a type may legitimately
            // drop to zero and change between them.
            // So may a request that first works off deferred or partial work.
            let pending = before_frames.iter().any(|f| f.partial() || f.deval());
            let single = !matches!(op, Op::Chain { .. } | Op::Linear { .. }) && !pending;
            for (i, (a, b)) in before_frames.iter().zip(&w.frames).enumerate() {
                if single && a.type_count() > 0 && b.type_count() > 0 {
                    prop_assert_eq!(a.page_type(), b.page_type(), "step {} {:?}: frame {} changed type at non-zero count", step, op, i);
                }
            }
        }
        // Teardown of every domain returns every frame and leaks nothing,
        // partial validations included.
        w.hooks.preempt_every = None;
        for dom in [D1, D2, D0] {
            Teardown::new(&w.mm(), dom).run(&mut w.mm());
        }
        prop_assert!(w.check_all().is_ok());
        for dom in [D0, D1, D2] {
            prop_assert_eq!(w.doms[dom.0 as usize].tot_pages, 0);
        }
        prop_assert!(w.frames.iter().skip(1).all(|f| f.count() == 0 && f.type_count() == 0));
    }
}
