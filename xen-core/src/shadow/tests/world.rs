//! The shadow test world: domain 1 with guest frames 0..14 populated in
//! its p2m (14 and 15 are holes), a bounded pool of shadow frames, a TLB
//! that keeps every translation until flushed, and a hardware walk of the
//! shadows. The reference walk here is written independently of
//! [`crate::shadow::guest`], so a shared mistake cannot hide.

use crate::mm::phys_mem::fake::FakeMemory;
use crate::mm::tests::world::D1;
use crate::mm::{PhysAddr, PhysMemory};
use crate::p2m::tests::world::P2mWorld;
use crate::p2m::{Order, P2m, P2mEntry};
use crate::shadow::fault::Outcome;
use crate::shadow::guest::GuestRights;
use crate::shadow::{ec, Access, Env, PteWrite, Shadow, ShadowFrames, ShadowHooks, Slot};
use abi::mmu::pte::*;
use abi::{Gfn, Mfn};
use std::collections::{BTreeMap, BTreeSet};

/// Guest frames populated at the start.
pub const POPULATED: u64 = 14;
/// Virtual addresses the tests use: L4 and L3 and L2 index 0 or 1, L1
/// index 0..16.
pub const VAS: usize = 128;

pub fn va(i: usize) -> u64 {
    let (l1, l2, l3, l4) = (i & 15, (i >> 4) & 1, (i >> 5) & 1, (i >> 6) & 1);
    ((l4 as u64) << 39) | ((l3 as u64) << 30) | ((l2 as u64) << 21) | ((l1 as u64) << 12)
}

/// Shadow frames from a bounded pool above the test machine's RAM.
pub struct Pool {
    pub free: Vec<Mfn>,
    pub in_use: BTreeSet<Mfn>,
}

impl ShadowFrames for Pool {
    fn alloc(&mut self) -> Option<Mfn> {
        let m = self.free.pop()?;
        self.in_use.insert(m);
        Some(m)
    }
    fn free(&mut self, mfn: Mfn) {
        assert!(self.in_use.remove(&mfn), "freeing a frame not in use");
        self.free.push(mfn);
    }
}

/// The one vCPU's TLB: page → (frame, rights), kept until flushed.
#[derive(Default)]
pub struct Tlb {
    pub entries: BTreeMap<u64, (Mfn, GuestRights)>,
    pub flushes: usize,
}

impl ShadowHooks for Tlb {
    fn flush_tlb(&mut self) {
        self.entries.clear();
        self.flushes += 1;
    }
    fn invlpg(&mut self, va: u64) {
        self.entries.remove(&(va & !0xFFF));
    }
}

/// What the reference says `va` translates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A page: guest frame, what the p2m maps there, the guest's rights.
    Page(Gfn, Option<P2mEntry>, GuestRights),
    /// The walk stops at a non-present entry (`rsvd`: a reserved bit).
    Fault { rsvd: bool },
    /// A table frame is not RAM.
    BadTable,
}

/// The reference walk: the guest's tables composed with the p2m.
pub fn reference(p2m: &P2m<'_>, mem: &FakeMemory, cr3: Gfn, va: u64) -> Reference {
    let mut table = cr3;
    let (mut w, mut u, mut x) = (true, true, true);
    for level in [4u32, 3, 2, 1] {
        let Some((te, _)) = p2m.get(table).filter(|(e, _)| e.ty == crate::p2m::P2mType::Ram) else {
            return Reference::BadTable;
        };
        let i = (va >> (12 + 9 * (level - 1))) & 511;
        let e = mem.read_u64(PhysAddr(te.mfn.to_maddr() + i * 8));
        if e & PRESENT == 0 {
            return Reference::Fault { rsvd: false };
        }
        let ps = e & PAT_PSE != 0 && level > 1;
        if ps && level > 2 {
            return Reference::Fault { rsvd: true };
        }
        w &= e & RW != 0;
        u &= e & USER != 0;
        x &= e & NX == 0;
        let frame = (e & ADDR_MASK) >> 12;
        if level == 1 || ps {
            let gfn = if ps { Gfn((frame & !511) + ((va >> 12) & 511)) } else { Gfn(frame) };
            return Reference::Page(gfn, p2m.get(gfn).map(|(e, _)| e), GuestRights { write: w, user: u, exec: x });
        }
        table = Gfn(frame);
    }
    unreachable!()
}

/// The hardware's walk of the shadows from `root`: the frame and rights, or
/// `None` (a #PF).
pub fn hardware_walk(mem: &FakeMemory, root: Mfn, va: u64) -> Option<(Mfn, GuestRights)> {
    let mut table = root;
    let (mut w, mut u, mut x) = (true, true, true);
    for level in [4u32, 3, 2, 1] {
        let i = (va >> (12 + 9 * (level - 1))) & 511;
        let e = mem.read_u64(PhysAddr(table.to_maddr() + i * 8));
        if e & PRESENT == 0 {
            return None;
        }
        assert!(e & PAT_PSE == 0 || level == 1, "shadows never use PS");
        assert!(e & GLOBAL == 0, "shadows never use G");
        w &= e & RW != 0;
        u &= e & USER != 0;
        x &= e & NX == 0;
        table = Mfn((e & ADDR_MASK) >> 12);
    }
    Some((table, GuestRights { write: w, user: u, exec: x }))
}

pub struct ShadowWorld {
    pub pw: P2mWorld,
    pub slots: Vec<Option<Slot>>,
    pub cr3: Option<Gfn>,
    pub pool: Pool,
    pub tlb: Tlb,
    /// The hardware CR3 (a shadow root).
    pub hw_cr3: Option<Mfn>,
    /// The domain was crashed.
    pub crashed: bool,
}

/// How an access ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Done through the shadows, on this frame.
    Done(Mfn),
    /// #PF injected into the guest.
    GuestFault(u32),
    /// Emulated (a write into a page-table page), on this frame.
    Emulated(Mfn),
    /// No p2m entry: MMIO or crash.
    NoP2m(Gfn),
    /// The domain was crashed.
    Crashed,
}

impl ShadowWorld {
    /// `slots` shadows at most, `frames` shadow frames.
    pub fn new(slots: usize, frames: u64) -> ShadowWorld {
        let mut pw = P2mWorld::new();
        for g in 0..POPULATED {
            pw.with(|p, mm| p.populate(mm, Gfn(g), Order::Page4K)).unwrap();
        }
        let mut s = ShadowWorld {
            pw,
            slots: vec![None; slots],
            cr3: None,
            pool: Pool { free: (0..frames).map(|i| Mfn((1 << 24) + i)).collect(), in_use: BTreeSet::new() },
            tlb: Tlb::default(),
            hw_cr3: None,
            crashed: false,
        };
        Shadow::new(&mut s.slots);
        s.build_tables();
        s.write_cr3(Gfn(0));
        s
    }

    /// Runs `f` on the shadow model with its environment.
    pub fn run<R>(&mut self, f: impl FnOnce(&mut Shadow<'_>, &mut Env<'_, '_, FakeMemory, Pool, Tlb>) -> R) -> R {
        let p2m = P2m::reopen(D1, &mut self.pw.slots, &mut self.pw.supers);
        let mut env = Env { p2m: &p2m, mem: &mut self.pw.w.mem, frames: &mut self.pool, hooks: &mut self.tlb };
        let mut sh = Shadow::reopen(&mut self.slots, self.cr3);
        let r = f(&mut sh, &mut env);
        self.cr3 = sh.cr3();
        r
    }

    pub fn mfn(&mut self, gfn: u64) -> Mfn {
        self.pw.get(gfn).expect("populated").0.mfn
    }

    /// Writes a guest entry as the domain builder does (the hypervisor's
    /// own write, resynced).
    pub fn set(&mut self, table_gfn: u64, index: usize, value: u64) {
        let t = self.mfn(table_gfn);
        self.run(|sh, env| sh.hypervisor_write(env, t, index, value));
    }

    /// The starting tables: L4 in frame 0, L3 in 1, L2 in 2, L1 in 3. L1
    /// maps frames 0..16 at VA 0..64 KiB (dirty, writable, user); L2's
    /// second entry maps a 2 MiB page from frame 0 (writable, not dirty).
    pub fn build_tables(&mut self) {
        let upper = PRESENT | RW | USER | ACCESSED;
        self.set(0, 0, (1 << 12) | upper);
        self.set(1, 0, (2 << 12) | upper);
        self.set(2, 0, (3 << 12) | upper);
        self.set(2, 1, PAT_PSE | upper);
        for i in 0..16 {
            self.set(3, i, (i as u64) << 12 | upper | DIRTY);
        }
    }

    pub fn write_cr3(&mut self, gfn: Gfn) {
        match self.run(|sh, env| sh.write_cr3(env, gfn)) {
            Ok(root) => self.hw_cr3 = Some(root),
            Err(_) => self.crashed = true,
        }
    }

    pub fn protected(&mut self, mfn: Mfn) -> bool {
        self.run(|sh, _| sh.is_protected(mfn))
    }

    /// One access by the guest, as the CPU and the intercept handle it.
    /// A store writes `value` at word `word` of the page; it goes through
    /// a writable TLB entry if there is one, stale or not.
    pub fn access(&mut self, va: u64, acc: Access, store: Option<(usize, u64)>) -> Ended {
        if self.crashed {
            return Ended::Crashed;
        }
        let page = va & !0xFFF;
        if let (Some((word, value)), Some(&(mfn, r))) = (store, self.tlb.entries.get(&page)) {
            if r.write && (!acc.user || r.user) {
                self.pw.w.mem.write_u64(PhysAddr(mfn.to_maddr() + word as u64 * 8), value);
                return Ended::Done(mfn);
            }
        }
        for _round in 0..6 {
            let root = self.hw_cr3.expect("a root");
            if let Some((mfn, r)) = hardware_walk(&self.pw.w.mem, root, va) {
                if r.permits(acc) {
                    self.tlb.entries.insert(page, (mfn, r));
                    if let Some((word, value)) = store {
                        self.pw.w.mem.write_u64(PhysAddr(mfn.to_maddr() + word as u64 * 8), value);
                    }
                    return Ended::Done(mfn);
                }
            }
            // A #PF drops the page's TLB entry.
            self.tlb.entries.remove(&page);
            let code = if acc.write { ec::WRITE } else { 0 }
                | if acc.user { ec::USER } else { 0 }
                | if acc.exec { ec::FETCH } else { 0 };
            match self.run(|sh, env| sh.page_fault(env, va, code)) {
                Outcome::Fixed => continue,
                Outcome::GuestFault { error_code } => return Ended::GuestFault(error_code),
                Outcome::EmulateWrite(t) => {
                    let (word, value) = store.expect("only a write is emulated");
                    let w = PteWrite { offset: (word * 8) as u16, len: 8, value };
                    self.run(|sh, env| sh.emulate_write(env, t, w)).expect("a fresh target");
                    return Ended::Emulated(t.mfn);
                }
                Outcome::NoP2m(g) => return Ended::NoP2m(g),
                Outcome::P2mDenied(g) => panic!("the test p2m allows everything, yet {g:?} was denied"),
                Outcome::Crash(_) => {
                    self.crashed = true;
                    return Ended::Crashed;
                }
            }
        }
        panic!("va {va:#x}: the intercept keeps answering Fixed but the shadows never allow {acc:?}");
    }

    /// The invariants of [`crate::shadow`]'s header, over every test VA,
    /// every shadow entry and every TLB entry.
    pub fn check(&mut self) -> Result<(), String> {
        if self.crashed {
            return Ok(());
        }
        let p2m = P2m::reopen(D1, &mut self.pw.slots, &mut self.pw.supers);
        let image: BTreeSet<Mfn> = p2m.entries().map(|(_, e)| e.mfn).collect();
        let sh = Shadow::reopen(&mut self.slots, self.cr3);
        let protected: BTreeSet<Mfn> = sh
            .slots()
            .filter_map(|s| match s.kind {
                crate::shadow::Kind::Table { mfn, .. } => Some(mfn),
                _ => None,
            })
            .collect();
        let shadow_frames: BTreeSet<Mfn> = sh.slots().map(|s| s.smfn).collect();
        let mem = &self.pw.w.mem;
        let cr3 = self.cr3.ok_or("no cr3")?;
        let root = self.hw_cr3.ok_or("no root")?;
        if sh.root().map(|r| r.smfn) != Some(root) {
            return Err(format!("hardware CR3 {root:?} is not the cached root {:?}", sh.root()));
        }
        // Every shadow translation is the guest's through the p2m, no wider.
        for i in 0..VAS {
            let v = va(i);
            let Some((mfn, r)) = hardware_walk(mem, root, v) else { continue };
            let Reference::Page(gfn, Some(p), g) = reference(&p2m, mem, cr3, v) else {
                return Err(format!(
                    "va {v:#x}: shadow maps {mfn:?}, the guest tables and p2m give {:?}",
                    reference(&p2m, mem, cr3, v)
                ));
            };
            if p.mfn != mfn {
                return Err(format!("va {v:#x}: shadow maps {mfn:?}, guest gfn {gfn:?} is {:?}", p.mfn));
            }
            let allowed = GuestRights { write: g.write && p.rights.write, user: g.user, exec: g.exec && p.rights.exec };
            if (r.write && !allowed.write) || (r.user && !allowed.user) || (r.exec && !allowed.exec) {
                return Err(format!("va {v:#x}: shadow grants {r:?}, guest and p2m allow {allowed:?}"));
            }
        }
        // Every shadow entry: leaves map the domain's frames, never a
        // protected one writably; upper entries point at live shadows.
        for s in sh.slots() {
            for idx in 0..512 {
                let e = mem.read_u64(PhysAddr(s.smfn.to_maddr() + idx * 8));
                if e & PRESENT == 0 {
                    continue;
                }
                let m = Mfn((e & ADDR_MASK) >> 12);
                if s.is_leaf_table() {
                    if !image.contains(&m) {
                        return Err(format!("{s:?}[{idx}] maps {m:?}, not the domain's"));
                    }
                    if e & RW != 0 && protected.contains(&m) {
                        return Err(format!("{s:?}[{idx}] maps page-table frame {m:?} writable"));
                    }
                } else if !shadow_frames.contains(&m) {
                    return Err(format!("{s:?}[{idx}] points at {m:?}, not a live shadow"));
                }
            }
        }
        // What the TLB still holds is no more dangerous.
        for (page, (m, r)) in &self.tlb.entries {
            if !image.contains(m) {
                return Err(format!("TLB {page:#x} -> {m:?}: not the domain's"));
            }
            if r.write && protected.contains(m) {
                return Err(format!("TLB {page:#x} -> page-table frame {m:?} writable"));
            }
        }
        if self.pool.in_use != shadow_frames {
            return Err("the pool's frames in use are not the shadows' frames".into());
        }
        Ok(())
    }
}
