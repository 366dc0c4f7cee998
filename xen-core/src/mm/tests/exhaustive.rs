//! Exhaustive check of a small configuration: every state reachable from
//! a small machine under an alphabet of guest operations, found breadth
//! first, with the invariant checkers run in each.
//!
//! The machine: tables of 2 entries (so no hypervisor L4 slots), frames
//! 0 (the hypervisor's), 1–5 of domain 1 (L4 → L3 → L2 → L1 `A` → data `B`,
//! the L4 its kernel root), 6 of domain 2 (the victim), 7 free. Domain 1
//! acts; the one CPU never switches away from it, so nothing but the model
//! and the guest's own requests flushes its TLB. After every operation the
//! hypercall ends as the arch layer ends it (a requested CR3 reload keeps
//! global entries; a requested flush is reported to the clock), and the TLB
//! caches every translation the tables give (the CPU may, speculatively),
//! keeping what it held.
//!
//! The alphabet covers every page-table hypercall, on the frames and values
//! that can meet a stale translation: `mmu_update` of table entries and
//! `MMU_MACHPHYS_UPDATE`, pin and unpin,
//! `NEW_BASEPTR`, `TLB_FLUSH_LOCAL`, `INVLPG_LOCAL`, `update_va_mapping`
//! with no flush, INVLPG or a full flush, `decrease_reservation`,
//! `populate_physmap` (the allocator is LIFO, as the hypervisor's),
//! `set_gdt`, `MMUEXT_CLEAR_PAGE`, and guest writes of PTEs and a call
//! gate through any writable translation still cached.
//!
//! States are compared after canonicalizing the flush clock (a stamp is
//! only "since the last flush" or not) and the ever-growing frame
//! accounting, so the space is finite.

use super::tlb_sim::SimTlb;
use crate::mm::check::{check_invariants, check_tlb};
use crate::mm::mmuext::Root;
use crate::mm::requests::NoGuestMemory;
use crate::mm::reservation::{ExtentArray, Reservation};
use crate::mm::test_modes::{plant, set_table_entries, Fault};
use crate::mm::{DomainMm, Mm, MmHooks, PageInfo, PhysAddr, PhysMemory, TlbClock};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

const D1: DomId = DomId(1);
const D2: DomId = DomId(2);
const XEN: Mfn = Mfn(0);
const L4: Mfn = Mfn(1);
const L3: Mfn = Mfn(2);
const L2: Mfn = Mfn(3);
const A: Mfn = Mfn(4);
const B: Mfn = Mfn(5);
const V: Mfn = Mfn(6);
const C: Mfn = Mfn(7);
const NFRAMES: usize = 8;
const RW_FLAGS: u64 = PRESENT | RW | USER | ACCESSED;
const RO_FLAGS: u64 = PRESENT | USER | ACCESSED;
/// A DPL-3 call gate to the hypervisor's code selector.
const CALL_GATE: u64 = 0x0000_EC00_E008_1000;
static NO_HV_SLOTS: [u64; 16] = [0; 16];

/// Machine memory holding only the first `entries` words of each frame;
/// the rest reads as zero and ignores writes (nothing ever uses it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SmallMem {
    entries: usize,
    words: Vec<u64>,
}

impl SmallMem {
    fn slot(&self, a: PhysAddr) -> Option<usize> {
        let (frame, word) = ((a.0 >> 12) as usize, ((a.0 & 0xFFF) / 8) as usize);
        (word < self.entries && frame < NFRAMES).then_some(frame * self.entries + word)
    }
}

impl PhysMemory for SmallMem {
    fn read_u64(&self, a: PhysAddr) -> u64 {
        self.slot(a).map_or(0, |i| self.words[i])
    }
    fn write_u64(&mut self, a: PhysAddr, v: u64) {
        if let Some(i) = self.slot(a) {
            self.words[i] = v;
        }
    }
    fn zero_frame(&mut self, mfn: Mfn) {
        for w in 0..self.entries as u64 {
            self.write_u64(PhysAddr(mfn.to_maddr() + w * 8), 0);
        }
    }
}

/// The arch layer's side: one CPU's TLB and a LIFO allocator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Hooks {
    tlb: SimTlb,
    pool: Vec<Mfn>,
    pending_flush: bool,
    pending_root: bool,
}

impl MmHooks for Hooks {
    fn flush_domain_tlb(&mut self, _: DomId) {
        self.pending_flush = true;
    }
    fn flush_local_tlb(&mut self) {
        self.pending_flush = true;
    }
    fn flush_tlb_now(&mut self) {
        self.tlb.flush();
        self.pending_flush = false;
    }
    fn invlpg_local(&mut self, va: u64) {
        self.tlb.invlpg(va);
    }
    fn flush_cache(&mut self) {}
    fn root_changed(&mut self, _: DomId) {
        self.pending_root = true;
    }
    fn frame_freed(&mut self, mfn: Mfn) {
        self.tlb.freed(mfn);
        self.pool.push(mfn);
    }
    fn alloc_extent(&mut self, order: u32) -> Option<Mfn> {
        if order == 0 {
            self.pool.pop()
        } else {
            None
        }
    }
    fn defer_devalidation(&mut self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    frames: Vec<PageInfo>,
    m2p: Vec<u64>,
    doms: Vec<DomainMm>,
    mem: SmallMem,
    hooks: Hooks,
    clock: TlbClock,
}

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

/// One guest operation of domain 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Update {
        table: Mfn,
        index: usize,
        val: u64,
    },
    MachPhys {
        frame: Mfn,
    },
    Pin {
        level: u8,
        frame: Mfn,
    },
    Unpin {
        frame: Mfn,
    },
    Baseptr {
        frame: Mfn,
    },
    FlushLocal,
    Invlpg {
        va: u64,
    },
    Uvm {
        va: u64,
        val: u64,
        flags: u64,
    },
    Decrease {
        frame: Mfn,
    },
    Populate,
    SetGdt {
        frame: Option<Mfn>,
    },
    ClearPage {
        frame: Mfn,
    },
    /// A write through whatever writable translation of `va` is cached.
    Write {
        va: u64,
        word: usize,
        val: u64,
    },
}

/// The size of the search.
#[derive(Clone, Copy)]
struct Config {
    entries: usize,
    /// More frames and values in play.
    extended: bool,
    /// Give up (and fail) beyond this many states.
    max_states: usize,
}

const SMALL: Config = Config { entries: 2, extended: false, max_states: 100_000 };
const LARGER: Config = Config { entries: 2, extended: true, max_states: 5_000_000 };

fn va(i4: usize, i3: usize, i2: usize, i1: usize) -> u64 {
    ((i4 as u64) << 39) | ((i3 as u64) << 30) | ((i2 as u64) << 21) | ((i1 as u64) << 12)
}

const fn rw(m: Mfn) -> u64 {
    m.to_maddr() | RW_FLAGS
}

const fn ro(m: Mfn) -> u64 {
    m.to_maddr() | RO_FLAGS
}

impl Config {
    /// Every address the tables can translate.
    fn all_vas(&self) -> Vec<u64> {
        let n = self.entries;
        (0..n * n * n * n).map(|i| va(i / (n * n * n), i / (n * n) % n, i / n % n, i % n)).collect()
    }

    fn alphabet(&self) -> Vec<Op> {
        let mut ops = self.focused_alphabet();
        if self.extended {
            // C as a second L1 or data frame, B as an L2, a second L1 slot.
            let va_c = va(0, 0, 0, 1);
            ops.extend([0, rw(C)].map(|val| Op::Update { table: A, index: 1, val }));
            ops.push(Op::Update { table: L2, index: 1, val: rw(C) });
            ops.extend([Op::Pin { level: 2, frame: B }, Op::Pin { level: 1, frame: C }, Op::Unpin { frame: C }]);
            ops.extend([Op::SetGdt { frame: Some(C) }, Op::ClearPage { frame: C }, Op::Invlpg { va: va_c }]);
            ops.extend([UVMF_NONE, UVMF_TLB_FLUSH].map(|flags| Op::Uvm { va: va_c, val: 0, flags }));
            ops.extend([rw(B), CALL_GATE].map(|val| Op::Write { va: va_c, word: 1, val }));
        }
        ops
    }

    /// Every kind of operation, on the frames and values that can interact
    /// with a stale translation: `A` (the L1) maps `B` or not; `B` can be
    /// hooked under L2 as an L1, written while untyped, pinned, made a GDT
    /// frame, ballooned out and back in; `C` waits in the allocator.
    fn focused_alphabet(&self) -> Vec<Op> {
        let va_a = va(0, 0, 0, 0);
        let va_b = va(0, 0, 1, 0);
        let mut ops = Vec::new();
        ops.extend([0, rw(B), ro(B)].map(|val| Op::Update { table: A, index: 0, val }));
        ops.extend([0, rw(A)].map(|val| Op::Update { table: L2, index: 0, val }));
        ops.extend([0, rw(B)].map(|val| Op::Update { table: L2, index: 1, val }));
        ops.extend([0, rw(V)].map(|val| Op::Update { table: B, index: 0, val }));
        ops.push(Op::MachPhys { frame: B });
        ops.extend([A, B].map(|frame| Op::Pin { level: 1, frame }));
        ops.extend([A, B].map(|frame| Op::Unpin { frame }));
        ops.extend([A, B, C].map(|frame| Op::Decrease { frame }));
        ops.extend([Op::Baseptr { frame: L4 }, Op::FlushLocal, Op::Populate, Op::ClearPage { frame: B }]);
        ops.extend([Op::SetGdt { frame: Some(B) }, Op::SetGdt { frame: None }]);
        ops.extend([va_a, va_b].map(|va| Op::Invlpg { va }));
        ops.push(Op::Uvm { va: va_a, val: 0, flags: UVMF_TLB_FLUSH });
        for val in [0, rw(B)] {
            ops.extend([UVMF_NONE, UVMF_INVLPG].map(|flags| Op::Uvm { va: va_a, val, flags }));
        }
        ops.push(Op::Uvm { va: va_b, val: 0, flags: UVMF_NONE });
        for va in [va_a, va_b] {
            ops.extend([rw(V), CALL_GATE].map(|val| Op::Write { va, word: 0, val }));
        }
        ops
    }
}

impl State {
    fn mm(&mut self) -> Mm<'_, SmallMem, Hooks> {
        Mm {
            frames: &mut self.frames,
            m2p: &mut self.m2p,
            domains: &mut self.doms,
            mem: &mut self.mem,
            hooks: &mut self.hooks,
            l4_template: &NO_HV_SLOTS,
            clock: &mut self.clock,
        }
    }

    fn initial(cfg: &Config) -> State {
        let mut doms = vec![DomainMm::new(DomId(0), 0), DomainMm::new(D1, 6), DomainMm::new(D2, 1)];
        doms[0].privileged = true;
        let mut s = State {
            frames: vec![PageInfo::default(); NFRAMES],
            m2p: vec![9; NFRAMES],
            doms,
            mem: SmallMem { entries: cfg.entries, words: vec![0; NFRAMES * cfg.entries] },
            hooks: Hooks { pool: vec![C], ..Hooks::default() },
            clock: TlbClock::new(),
        };
        let mut mm = s.mm();
        mm.assign_frame(XEN, DomId::XEN);
        for f in [L4, L3, L2, A, B] {
            mm.assign_frame(f, D1);
        }
        mm.assign_frame(V, D2);
        for (table, target) in [(A, B), (L2, A), (L3, L2), (L4, L3)] {
            let req = [MmuUpdate { ptr: table.to_maddr(), val: target.to_maddr() | RW_FLAGS }];
            assert_eq!(mm.mmu_update(D1, &mut &req[..], 1, DomId::SELF.0.into()).result, Ok(()));
        }
        assert_eq!(mm.set_root(D1, Root::Kernel, L4), Ok(()));
        s.settle(cfg);
        s
    }

    fn apply(&mut self, op: Op) {
        let one = Reservation { nr_extents: 1, extent_order: 0, start: 0 };
        let mut mm = self.mm();
        let ext = |mm: &mut Mm<'_, SmallMem, Hooks>, cmd: u32, arg1: u64| {
            let op = [MmuextOp { cmd, arg1, ..Default::default() }];
            let _ = mm.mmuext_op(D1, &mut &op[..], 1, DomId::SELF.0, &mut NoGuestMemory);
        };
        match op {
            Op::Update { table, index, val } => {
                let req = [MmuUpdate { ptr: table.to_maddr() + index as u64 * 8, val }];
                let _ = mm.mmu_update(D1, &mut &req[..], 1, DomId::SELF.0.into());
            }
            Op::MachPhys { frame } => {
                let req = [MmuUpdate { ptr: frame.to_maddr() | MMU_MACHPHYS_UPDATE, val: 1 }];
                let _ = mm.mmu_update(D1, &mut &req[..], 1, DomId::SELF.0.into());
            }
            Op::Pin { level, frame } => ext(&mut mm, MMUEXT_PIN_L1_TABLE + u32::from(level) - 1, frame.0),
            Op::Unpin { frame } => ext(&mut mm, MMUEXT_UNPIN_TABLE, frame.0),
            Op::Baseptr { frame } => ext(&mut mm, MMUEXT_NEW_BASEPTR, frame.0),
            Op::FlushLocal => ext(&mut mm, MMUEXT_TLB_FLUSH_LOCAL, 0),
            Op::Invlpg { va } => ext(&mut mm, MMUEXT_INVLPG_LOCAL, va),
            Op::Uvm { va, val, flags } => {
                let _ = mm.update_va_mapping(D1, va, val, flags, &mut NoGuestMemory);
            }
            Op::Decrease { frame } => {
                mm.decrease_reservation(D1, one, &mut Array(vec![frame.0]));
            }
            Op::Populate => {
                let mut out = Array(vec![9]);
                if mm.populate_physmap(D1, one, &mut out).done == 1 {
                    // The arch layer scrubs what it hands out.
                    mm.mem.zero_frame(Mfn(out.0[0]));
                }
            }
            Op::SetGdt { frame } => {
                let frames: Vec<Mfn> = frame.into_iter().collect();
                let _ = mm.set_gdt(D1, &frames, if frame.is_some() { 16 } else { 0 });
            }
            Op::ClearPage { frame } => ext(&mut mm, MMUEXT_CLEAR_PAGE, frame.0),
            Op::Write { va, word, val } => {
                let hit = mm.hooks.tlb.entries.iter().find(|t| t.va == va && t.writable).map(|t| t.mfn);
                if let Some(mfn) = hit {
                    mm.mem.write_u64(PhysAddr(mfn.to_maddr() + word as u64 * 8), val);
                }
            }
        }
    }

    /// The end of the hypercall, the CPU caching what it may, and the
    /// clock made canonical.
    fn settle(&mut self, cfg: &Config) {
        if core::mem::take(&mut self.hooks.pending_root) {
            self.hooks.tlb.reload_cr3();
        }
        if core::mem::take(&mut self.hooks.pending_flush) {
            self.hooks.tlb.flush();
            self.clock.flushed();
        }
        let mut tlb = core::mem::take(&mut self.hooks.tlb);
        {
            let mm = self.mm();
            for va in cfg.all_vas() {
                tlb.fill(&mm, D1, va);
            }
        }
        self.hooks.tlb = tlb;
        for f in self.frames.iter_mut() {
            f.set_stamp(u16::from(self.clock.needs_flush(f.stamp())));
        }
        self.clock.set_time(1);
        // Frames given and returned only grow; what they say is their
        // difference, and nothing but the summary reads them.
        for d in self.doms.iter_mut() {
            d.given -= d.returned;
            d.returned = 0;
        }
    }

    fn check(&mut self) -> Result<(), String> {
        let tlb = self.hooks.tlb.entries.clone();
        let mm = self.mm();
        check_invariants(&mm)?;
        check_tlb(&mm, &tlb)
    }

    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// What a search found.
struct Outcome {
    states: usize,
    /// The first violation, with the shortest trace reaching it.
    violation: Option<(String, Vec<Op>)>,
}

fn search(cfg: Config) -> Outcome {
    set_table_entries(cfg.entries as u16);
    let alphabet = cfg.alphabet();
    let mut init = State::initial(&cfg);
    if let Err(e) = init.check() {
        return Outcome { states: 1, violation: Some((e, vec![])) };
    }
    // Fingerprint → (parent's fingerprint, the operation from it).
    let mut seen: HashMap<u64, (u64, Option<Op>)> = HashMap::new();
    seen.insert(init.fingerprint(), (0, None));
    let trace = |seen: &HashMap<u64, (u64, Option<Op>)>, mut at: u64| {
        let mut ops = Vec::new();
        while let Some(&(parent, Some(op))) = seen.get(&at) {
            ops.push(op);
            at = parent;
        }
        ops.reverse();
        ops
    };
    let mut frontier = vec![init];
    let mut depth = 0;
    while !frontier.is_empty() {
        println!("depth {depth}: {} new states, {} in all", frontier.len(), seen.len());
        depth += 1;
        assert!(seen.len() <= cfg.max_states, "more than {} states: shrink the configuration", cfg.max_states);
        let mut next = Vec::new();
        for s in &frontier {
            let parent = s.fingerprint();
            for &op in &alphabet {
                let mut t = s.clone();
                t.apply(op);
                t.settle(&cfg);
                let fp = t.fingerprint();
                if seen.contains_key(&fp) {
                    continue;
                }
                seen.insert(fp, (parent, Some(op)));
                if let Err(e) = t.check() {
                    set_table_entries(512);
                    return Outcome { states: seen.len(), violation: Some((e, trace(&seen, fp))) };
                }
                next.push(t);
            }
        }
        frontier = next;
    }
    set_table_entries(512);
    Outcome { states: seen.len(), violation: None }
}

fn report(name: &str, o: &Outcome) {
    println!("{name}: {} states explored", o.states);
    println!("  (frames: 1 L4, 2 L3, 3 L2, 4 A = L1, 5 B = data, 6 the victim's, 7 free; tables of 2 entries)");
    if let Some((e, ops)) = &o.violation {
        println!("{name}: violation after {} operations: {e}", ops.len());
        for (i, op) in ops.iter().enumerate() {
            println!("  {}. {op:?}", i + 1);
        }
    }
}

#[test]
fn every_reachable_state_of_a_small_configuration_keeps_every_invariant() {
    let o = search(SMALL);
    report("small configuration", &o);
    assert!(o.violation.is_none());
    assert!(o.states > 1000, "the search reached only {} states", o.states);
}

#[test]
#[ignore = "405,048 states, about 14 minutes in a debug build: cargo test -- --ignored larger_configuration"]
fn every_reachable_state_of_a_larger_configuration_keeps_every_invariant() {
    let o = search(LARGER);
    report("larger configuration", &o);
    assert!(o.violation.is_none());
}

/// Plants `faults`, searches, and returns the shortest failing trace.
fn planted(faults: &[Fault]) -> (String, Vec<Op>) {
    plant(faults);
    let o = search(SMALL);
    plant(&[]);
    report(&format!("planted {faults:?}"), &o);
    o.violation.expect("the search finds the planted break")
}

#[test]
fn exhaustive_search_finds_a_removed_type_change_flush_with_the_shortest_trace() {
    let (e, ops) = planted(&[Fault::NoTypeChangeFlush]);
    // Unmap B without a flush, then make it a table or descriptor page.
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(e.contains("may still write"), "{e}");
}

#[test]
fn exhaustive_search_finds_a_removed_free_flush_with_the_shortest_trace() {
    let (e, ops) = planted(&[Fault::NoFreeFlush]);
    // Unmap B without a flush, then balloon it out.
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(e.contains("free frame") || e.contains("survived"), "{e}");
}

#[test]
fn exhaustive_search_finds_a_writable_mapping_of_a_table_with_the_shortest_trace() {
    let (e, ops) = planted(&[Fault::WritableTableMapping]);
    // Unmap B, hook it under L2 as an L1, map it writable from A.
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert!(e.contains("writable"), "{e}");
}
