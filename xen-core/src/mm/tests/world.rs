//! A test world: frame table, domains and fake memory, with helpers that
//! issue real requests through the model.

use super::tlb_sim::SimTlb;
use crate::mm::check::{check_invariants, check_tlb};
use crate::mm::mmuext::Root;
use crate::mm::phys_mem::fake::FakeMemory;
use crate::mm::pte::Pte;
use crate::mm::requests::{BatchResult, GuestRead, NoGuestMemory};
use crate::mm::{DomainMm, Mm, MmHooks, PageInfo, PhysAddr, PhysMemory, TlbClock};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

#[derive(Default, Debug, Clone)]
pub struct RecHooks {
    pub domain_flushes: Vec<DomId>,
    pub local_flushes: usize,
    pub invlpgs: Vec<u64>,
    pub cache_flushes: usize,
    pub root_changes: usize,
    pub freed: Vec<Mfn>,
    /// Frames `alloc_extent` may hand out, lowest first.
    pub pool: Vec<Mfn>,
    /// Preempt validation after every this many entries.
    pub preempt_every: Option<u32>,
    pub work: u32,
    /// The hypervisor's budget: preempt validation once this many entries
    /// were done since the last `fresh_budget` (and every time after).
    pub budget: Option<u32>,
    pub budget_used: u32,
    pub fresh_budgets: usize,
    /// Preempt batches (between requests) after this much work.
    pub preempt_batch_after: Option<u32>,
    pub batch_work: u32,
    /// Defer devalidations as the hypervisor does under hypercalls.
    pub defer: bool,
    /// Report no budget room, so (de)validation takes its per-entry walks
    /// instead of the per-table L1 loops (the reference they are compared with).
    pub per_entry: bool,
    /// Immediate full flushes the model asked for.
    pub now_flushes: usize,
    /// A flush or CR3 reload due at the end of the hypercall ([`World::exit`]).
    pub pending_flush: bool,
    pub pending_root: bool,
    /// The one CPU's TLB.
    pub tlb: SimTlb,
    /// Rules named by refusal sites.
    pub refusals: crate::mm::refusal::Refusals,
    /// Translated domains' p2m entries as [`MmHooks::p2m_entry`] reports
    /// them: (domain, gfn) → entry (the grant core's translated granters).
    pub p2m: std::collections::BTreeMap<(u16, u64), crate::p2m::P2mEntry>,
}

impl MmHooks for RecHooks {
    fn p2m_entry(&self, dom: DomId, gfn: abi::Gfn) -> Option<crate::p2m::P2mEntry> {
        self.p2m.get(&(dom.0, gfn.0)).copied()
    }
    fn flush_domain_tlb(&mut self, dom: DomId) {
        self.domain_flushes.push(dom);
        self.pending_flush = true;
    }
    fn flush_local_tlb(&mut self) {
        self.local_flushes += 1;
        self.pending_flush = true;
    }
    fn flush_tlb_now(&mut self) {
        self.now_flushes += 1;
        self.pending_flush = false;
        self.tlb.flush();
    }
    fn invlpg_local(&mut self, va: u64) {
        self.invlpgs.push(va);
        self.tlb.invlpg(va);
    }
    fn flush_cache(&mut self) {
        self.cache_flushes += 1;
    }
    fn root_changed(&mut self, _: DomId) {
        self.root_changes += 1;
        self.pending_root = true;
    }
    fn frame_freed(&mut self, mfn: Mfn) {
        self.freed.push(mfn);
        self.tlb.freed(mfn);
    }
    fn preempt(&mut self) -> bool {
        if let Some(budget) = self.budget {
            self.budget_used += 1;
            return self.budget_used > budget;
        }
        let Some(every) = self.preempt_every else { return false };
        self.work += 1;
        if self.work >= every {
            self.work = 0;
            return true;
        }
        false
    }
    fn budget_room(&self) -> u32 {
        if self.per_entry {
            return 0;
        }
        if let Some(budget) = self.budget {
            return budget.saturating_sub(self.budget_used);
        }
        // `preempt` says true on the call that brings `work` to `every`.
        self.preempt_every.map_or(u32::MAX, |every| every.saturating_sub(self.work + 1))
    }
    fn charge(&mut self, n: u32) {
        if self.budget.is_some() {
            self.budget_used += n;
        } else if self.preempt_every.is_some() {
            self.work += n;
        }
    }
    fn preempt_batch(&mut self, cost: u32) -> bool {
        let Some(limit) = self.preempt_batch_after else { return false };
        self.batch_work += cost;
        if self.batch_work > limit {
            self.batch_work = 0;
            return true;
        }
        false
    }
    fn batch_room(&self) -> u32 {
        // `preempt_batch(1)` says true on the call that takes the work past the limit.
        self.preempt_batch_after.map_or(u32::MAX, |limit| limit.saturating_sub(self.batch_work))
    }
    fn charge_batch(&mut self, n: u32) {
        if self.preempt_batch_after.is_some() {
            self.batch_work += n;
        }
    }
    fn fresh_budget(&mut self) {
        self.fresh_budgets += 1;
        self.budget_used = 0;
    }
    fn defer_devalidation(&mut self) -> bool {
        self.defer
    }
    fn refusals(&self) -> Option<&crate::mm::refusal::Refusals> {
        Some(&self.refusals)
    }
    fn alloc_extent(&mut self, order: u32) -> Option<Mfn> {
        // The first run of 2^order consecutive pool frames.
        let n = 1usize << order;
        let start = (0..self.pool.len())
            .find(|&i| i + n <= self.pool.len() && (0..n).all(|j| self.pool[i + j].0 == self.pool[i].0 + j as u64))?;
        let first = self.pool[start];
        self.pool.drain(start..start + n);
        Some(first)
    }
}

pub const D0: DomId = DomId(0);
pub const D1: DomId = DomId(1);
pub const D2: DomId = DomId(2);
/// Frame 0 belongs to the hypervisor itself.
pub const XEN_FRAME: Mfn = Mfn(0);
pub const FLAGS: u64 = PRESENT | RW | USER | ACCESSED;
pub const RO: u64 = PRESENT | USER | ACCESSED;

pub fn template() -> [u64; 16] {
    core::array::from_fn(|i| (0x7_0000_0000_0000 + ((i as u64) << 12)) | PRESENT | RW)
}

#[derive(Clone)]
pub struct World {
    pub frames: Vec<PageInfo>,
    pub m2p: Vec<u64>,
    pub doms: Vec<DomainMm>,
    pub mem: FakeMemory,
    pub hooks: RecHooks,
    pub template: [u64; 16],
    pub clock: TlbClock,
    next_free: u64,
}

/// Everything that must be unchanged by a failed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    frames: Vec<PageInfo>,
    m2p: Vec<u64>,
    doms: Vec<DomainMm>,
    mem: Vec<(u64, Vec<u64>)>,
}

impl Snapshot {
    /// Equal, except that entries may have gained the guest-visible §3.5
    /// adjustments (which Xen, too, leaves behind after a failed validation).
    pub fn same_modulo_adjustments(&self, other: &Snapshot) -> bool {
        if self.frames != other.frames || self.m2p != other.m2p || self.doms != other.doms {
            return false;
        }
        let words = |s: &Snapshot| -> std::collections::HashMap<u64, Vec<u64>> { s.mem.iter().cloned().collect() };
        let (a, b) = (words(self), words(other));
        let zero = vec![0u64; 512];
        a.keys().chain(b.keys()).all(|k| {
            let (x, y) = (a.get(k).unwrap_or(&zero), b.get(k).unwrap_or(&zero));
            x.iter().zip(y).all(|(&old, &new)| {
                old == new || (1..=4).any(|l| Pte(old).adjusted(l).0 == new || Pte(new).adjusted(l).0 == old)
            })
        })
    }
}

impl World {
    /// Domain 0 is privileged with I/O resources; 1 and 2 are ordinary.
    pub fn new(nframes: usize) -> World {
        let mut doms = vec![DomainMm::new(D0, 1000), DomainMm::new(D1, 1000), DomainMm::new(D2, 1000)];
        doms[0].privileged = true;
        doms[0].io_caps = true;
        let mut w = World {
            frames: vec![PageInfo::default(); nframes],
            m2p: vec![u64::MAX; nframes],
            doms,
            mem: FakeMemory::default(),
            hooks: RecHooks::default(),
            template: template(),
            clock: TlbClock::new(),
            next_free: 1,
        };
        // The hypervisor's own frame: allocated, owned by DOMID_XEN.
        w.mm().assign_frame(XEN_FRAME, DomId::XEN);
        w
    }

    pub fn mm(&mut self) -> Mm<'_, FakeMemory, RecHooks> {
        Mm {
            frames: &mut self.frames,
            m2p: &mut self.m2p,
            domains: &mut self.doms,
            mem: &mut self.mem,
            hooks: &mut self.hooks,
            l4_template: &self.template,
            clock: &mut self.clock,
        }
    }

    /// The end of a hypercall, as the arch layer does it: a requested CR3
    /// reload (global entries stay), then a requested full flush, which the
    /// model is told of.
    pub fn exit(&mut self) {
        if core::mem::take(&mut self.hooks.pending_root) {
            self.hooks.tlb.reload_cr3();
        }
        if core::mem::take(&mut self.hooks.pending_flush) {
            self.hooks.tlb.flush();
            self.clock.flushed();
        }
    }

    /// A switch to another domain: CR3 reload and full flush.
    pub fn switch(&mut self) {
        self.hooks.pending_root = false;
        self.hooks.pending_flush = false;
        self.hooks.tlb.flush();
        self.clock.flushed();
    }

    /// The CPU caches what `dom`'s tables give for each of `vas`.
    pub fn touch(&mut self, dom: DomId, vas: &[u64]) {
        let mut tlb = core::mem::take(&mut self.hooks.tlb);
        {
            let mm = self.mm();
            for &va in vas {
                tlb.fill(&mm, dom, va);
            }
        }
        self.hooks.tlb = tlb;
    }

    /// The guest writes `value` to word `index` of whatever `va` translates
    /// to *in the TLB*, stale or not. False if nothing writable is cached.
    pub fn write_through_tlb(&mut self, dom: DomId, va: u64, index: usize, value: u64) -> bool {
        let hit = self.hooks.tlb.entries.iter().find(|t| t.dom == dom && t.va == va & !0xFFF && t.writable).copied();
        match hit {
            Some(t) => {
                self.poke(t.mfn, index, value);
                true
            }
            None => false,
        }
    }

    /// Gives `n` fresh frames to `dom`.
    pub fn give(&mut self, dom: DomId, n: usize) -> Vec<Mfn> {
        (0..n)
            .map(|_| {
                let m = Mfn(self.next_free);
                self.next_free += 1;
                self.mm().assign_frame(m, dom);
                m
            })
            .collect()
    }

    pub fn info(&self, m: Mfn) -> PageInfo {
        self.frames[m.0 as usize]
    }

    pub fn check(&mut self) {
        if let Err(e) = self.check_all() {
            panic!("invariant violated: {e}");
        }
    }

    /// The frame-table invariants and the TLB's.
    pub fn check_all(&mut self) -> Result<(), String> {
        let tlb = self.hooks.tlb.entries.clone();
        let mm = self.mm();
        check_invariants(&mm)?;
        check_tlb(&mm, &tlb)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut mem: Vec<(u64, Vec<u64>)> =
            self.mem.frames.iter().filter(|(_, f)| f.iter().any(|&w| w != 0)).map(|(k, f)| (*k, f.to_vec())).collect();
        mem.sort();
        Snapshot {
            frames: self.frames.iter().map(|f| f.normalized()).collect(),
            m2p: self.m2p.clone(),
            doms: self.doms.clone(),
            mem,
        }
    }

    pub fn read(&self, table: Mfn, index: usize) -> u64 {
        self.mem.read_u64(PhysAddr(table.to_maddr() + index as u64 * 8))
    }

    /// Writes raw memory, bypassing the model (what a guest does through a
    /// writable mapping).
    pub fn poke(&mut self, table: Mfn, index: usize, value: u64) {
        self.mem.write_u64(PhysAddr(table.to_maddr() + index as u64 * 8), value);
    }

    pub fn mmu_batch(&mut self, dom: DomId, reqs: &[MmuUpdate], foreigndom: u32) -> BatchResult {
        let mut src = reqs;
        self.mm().mmu_update(dom, &mut src, reqs.len() as u32, foreigndom)
    }

    /// One MMU_NORMAL_PT_UPDATE of `table[index]` by `dom` (DOMID_SELF).
    pub fn update(&mut self, dom: DomId, table: Mfn, index: usize, val: u64) -> Result<(), Errno> {
        self.mmu_batch(dom, &[MmuUpdate { ptr: table.to_maddr() + index as u64 * 8, val }], DomId::SELF.0.into()).result
    }

    pub fn ext(&mut self, dom: DomId, op: MmuextOp) -> Result<(), Errno> {
        self.ext_on(dom, op, DomId::SELF.0)
    }

    pub fn ext_on(&mut self, dom: DomId, op: MmuextOp, foreigndom: u16) -> Result<(), Errno> {
        let ops = [op];
        let mut src: &[MmuextOp] = &ops;
        self.mm().mmuext_op(dom, &mut src, 1, foreigndom, &mut NoGuestMemory).result
    }

    pub fn pin(&mut self, dom: DomId, level: u8, m: Mfn) -> Result<(), Errno> {
        self.ext(dom, MmuextOp { cmd: MMUEXT_PIN_L1_TABLE + level as u32 - 1, arg1: m.0, ..Default::default() })
    }

    pub fn unpin(&mut self, dom: DomId, m: Mfn) -> Result<(), Errno> {
        self.ext(dom, MmuextOp { cmd: MMUEXT_UNPIN_TABLE, arg1: m.0, ..Default::default() })
    }

    pub fn baseptr(&mut self, dom: DomId, m: Mfn) -> Result<(), Errno> {
        self.ext(dom, MmuextOp { cmd: MMUEXT_NEW_BASEPTR, arg1: m.0, ..Default::default() })
    }

    pub fn user_baseptr(&mut self, dom: DomId, m: Mfn) -> Result<(), Errno> {
        let _ = Root::User;
        self.ext(dom, MmuextOp { cmd: MMUEXT_NEW_USER_BASEPTR, arg1: m.0, ..Default::default() })
    }

    pub fn uvm(&mut self, dom: DomId, va: u64, val: u64, flags: u64, guest: &mut impl GuestRead) -> Result<(), Errno> {
        self.mm().update_va_mapping(dom, va, val, flags, guest)
    }

    /// Builds L4→L3→L2→L1→data for `dom` with entry `index` at every level,
    /// written while the frames are untyped; nothing is pinned.
    pub fn build_chain(&mut self, dom: DomId, index: usize) -> Chain {
        let f = self.give(dom, 5);
        let c = Chain { l4: f[0], l3: f[1], l2: f[2], l1: f[3], data: f[4] };
        self.update(dom, c.l1, index, c.data.to_maddr() | FLAGS).unwrap();
        self.update(dom, c.l2, index, c.l1.to_maddr() | FLAGS).unwrap();
        self.update(dom, c.l3, index, c.l2.to_maddr() | FLAGS).unwrap();
        self.update(dom, c.l4, index, c.l3.to_maddr() | FLAGS).unwrap();
        c
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Chain {
    pub l4: Mfn,
    pub l3: Mfn,
    pub l2: Mfn,
    pub l1: Mfn,
    pub data: Mfn,
}

impl Chain {
    /// The virtual address the chain maps with entry `index` at every level.
    pub fn va(index: usize) -> u64 {
        let i = index as u64;
        (i << 39) | (i << 30) | (i << 21) | (i << 12)
    }
}

/// A guest memory holding one word.
pub struct OneWord(pub u64, pub u64);

impl GuestRead for OneWord {
    fn read_u64(&mut self, va: u64) -> Option<u64> {
        (va == self.0).then_some(self.1)
    }
}

impl Snapshot {
    /// Frame-table differences, for failure messages.
    pub fn frame_diff(&self, other: &Snapshot) -> String {
        self.frames
            .iter()
            .zip(&other.frames)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("frame {i}: {a:?} -> {b:?}\n"))
            .collect()
    }
}

impl Snapshot {
    /// Memory differences, for failure messages.
    pub fn mem_diff(&self, other: &Snapshot) -> String {
        let a: std::collections::HashMap<u64, Vec<u64>> = self.mem.iter().cloned().collect();
        let b: std::collections::HashMap<u64, Vec<u64>> = other.mem.iter().cloned().collect();
        let zero = vec![0u64; 512];
        let mut out = String::new();
        for k in a.keys().chain(b.keys()) {
            let (x, y) = (a.get(k).unwrap_or(&zero), b.get(k).unwrap_or(&zero));
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    out += &format!("frame {k} word {i}: {p:#x} -> {q:#x}\n");
                }
            }
        }
        out
    }
}

/// Runs `f`, expects `err`, and checks the world is exactly as before.
pub fn refused(w: &mut World, err: Errno, f: impl FnOnce(&mut World) -> Result<(), Errno>) {
    let before = w.snapshot();
    assert_eq!(f(w), Err(err));
    assert!(w.snapshot().same_modulo_adjustments(&before), "a refused request changed the state");
    w.check();
}

/// An mmuext_op request with only `cmd` and `arg1` set.
pub fn op(cmd: u32, arg1: u64) -> MmuextOp {
    MmuextOp { cmd, arg1, ..Default::default() }
}

/// A domain with a pinned, validated L4→L3→L2→L1 chain mapping `data` at index 1.
pub fn pinned_chain(w: &mut World, dom: DomId) -> Chain {
    let c = w.build_chain(dom, 1);
    w.pin(dom, 4, c.l4).unwrap();
    c
}
