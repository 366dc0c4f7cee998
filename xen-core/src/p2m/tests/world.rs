//! A p2m test world: the memory model's test world (frame table, fake
//! memory, recording hooks) plus p2m storage for domain 1, and a checker
//! that counts the p2m's references as external to the page tables.

use crate::mm::check::{check_invariants_with, ExternalRefs};
use crate::mm::phys_mem::fake::FakeMemory;
use crate::mm::tests::world::{World, D1};
use crate::p2m::npt::{self, TableFrames};
use crate::p2m::{Order, P2m, P2mEntry};
use abi::{DomId, Gfn, Mfn};
use std::collections::HashMap;

/// Guest frames of the test p2m: three 2 MiB chunks.
pub const GFNS: usize = 1536;
/// Frames of the test machine.
pub const NFRAMES: usize = 2600;

pub struct P2mWorld {
    pub w: World,
    pub slots: Vec<Option<P2mEntry>>,
    pub supers: Vec<bool>,
}

impl P2mWorld {
    /// Domain 1 owns the p2m. The allocator hands out 400 single frames
    /// first, then one unaligned run of 512, then two aligned runs.
    pub fn new() -> P2mWorld {
        let mut w = World::new(NFRAMES);
        w.doms[1].max_pages = 4000;
        w.hooks.pool = (1600..2000).chain(2001..2513).chain(512..1536).map(Mfn).collect();
        P2mWorld { w, slots: vec![None; GFNS], supers: vec![false; GFNS / 512] }
    }

    /// Runs `f` on the p2m and the memory model together.
    pub fn with<R>(
        &mut self,
        f: impl FnOnce(&mut P2m<'_>, &mut crate::mm::Mm<'_, FakeMemory, crate::mm::tests::world::RecHooks>) -> R,
    ) -> R {
        let mut p2m = P2m::reopen(D1, &mut self.slots, &mut self.supers);
        let mut mm = self.w.mm();
        f(&mut p2m, &mut mm)
    }

    pub fn get(&mut self, gfn: u64) -> Option<(P2mEntry, Order)> {
        self.with(|p, _| p.get(Gfn(gfn)))
    }

    /// The memory model's invariants, the p2m's references counted, and the
    /// p2m's own 2 MiB invariant.
    pub fn check(&mut self) -> Result<(), String> {
        self.check_with(&crate::mm::check::NoExternal)
    }

    /// [`P2mWorld::check`] with references held elsewhere too (the event
    /// core's vcpu_info and FIFO frames).
    pub fn check_with(&mut self, extra: &impl ExternalRefs) -> Result<(), String> {
        let refs = Sum(P2mRefs::of(&self.slots), extra);
        let p2m_ok = {
            let p = P2m::reopen(D1, &mut self.slots, &mut self.supers);
            p.check().map_err(String::from)
        };
        p2m_ok?;
        let mm = self.w.mm();
        check_invariants_with(&mm, &refs)
    }

    /// [`P2mWorld::check_with`] with the grant tables' invariants and the
    /// references their mappings hold (a PVH mapper's type references).
    pub fn check_grants_with(
        &mut self,
        grants: &crate::grant::Grants<'_>,
        extra: &impl ExternalRefs,
    ) -> Result<(), String> {
        let refs = Sum(P2mRefs::of(&self.slots), extra);
        let p2m_ok = {
            let p = P2m::reopen(D1, &mut self.slots, &mut self.supers);
            p.check().map_err(String::from)
        };
        p2m_ok?;
        let mm = self.w.mm();
        crate::grant::check::check_all_with(&mm, grants, &refs)
    }

    /// Builds the nested tables in a scratch memory and compares a walk of
    /// every guest frame with the p2m.
    pub fn check_npt(&mut self) -> Result<(), String> {
        let p = P2m::reopen(D1, &mut self.slots, &mut self.supers);
        let mut mem = FakeMemory::default();
        let mut frames = Bump(1 << 20);
        let root = npt::build(&p, &mut mem, &mut frames).map_err(|e| format!("build: {e:?}"))?;
        for g in 0..GFNS as u64 {
            let walk = npt::walk(&mem, root, Gfn(g));
            if walk.entry != p.get(Gfn(g)) {
                return Err(format!("gfn {g}: npt {:?}, p2m {:?}", walk.entry, p.get(Gfn(g))));
            }
            let expect_refs = match walk.entry {
                Some((_, Order::Page2M)) => 3,
                Some((_, Order::Page4K)) => 4,
                None => walk.refs,
            };
            if walk.refs != expect_refs {
                return Err(format!("gfn {g}: {} references", walk.refs));
            }
        }
        Ok(())
    }
}

/// Table frames from a counter, far above the test machine's RAM.
pub struct Bump(pub u64);

impl TableFrames for Bump {
    fn alloc_table(&mut self) -> Option<Mfn> {
        self.0 += 1;
        Some(Mfn(self.0 - 1))
    }
}

/// Two sets of external references together.
struct Sum<'e, E: ExternalRefs>(P2mRefs, &'e E);

impl<E: ExternalRefs> ExternalRefs for Sum<'_, E> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let (a, b) = (self.0.refs(mfn), self.1.refs(mfn));
        (a.0 + b.0, a.1 + b.1)
    }
    fn foreign_map_allowed(&self, dom: DomId, target: Mfn) -> bool {
        self.0.foreign_map_allowed(dom, target) || self.1.foreign_map_allowed(dom, target)
    }
}

/// The p2m's references, for the memory model's checker.
pub struct P2mRefs(HashMap<Mfn, u64>);

impl P2mRefs {
    pub fn of(slots: &[Option<P2mEntry>]) -> P2mRefs {
        let mut m = HashMap::new();
        for e in slots.iter().flatten().filter(|e| e.ty.holds_reference()) {
            *m.entry(e.mfn).or_insert(0) += 1;
        }
        P2mRefs(m)
    }
}

impl ExternalRefs for P2mRefs {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        (self.0.get(&mfn).copied().unwrap_or(0), 0)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
}
