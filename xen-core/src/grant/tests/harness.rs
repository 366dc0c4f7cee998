//! A memory-model test world with grant tables for three domains.

use crate::grant::check::check_all_with;
use crate::grant::translate::P2mSide;
use crate::grant::unmap::Unmap;
use crate::grant::{storage_for, Active, GrantTable, Grants, MapTrack};
use crate::hvm::pvh_call::NptSync;
use crate::mm::check::ExternalRefs;
use crate::mm::phys_mem::fake::FakeMemory;
use crate::mm::tests::world::{pinned_chain, Chain, RecHooks, World, D0, D1, D2};
use crate::mm::{Mm, MmHooks, PhysAddr, PhysMemory};
use crate::p2m::{Order, P2m, P2mEntry};
use abi::grant_table::{gntmap, GnttabCopy, MapGrantRef};
use abi::{DomId, Errno, Gfn, Mfn};

pub const NFRAMES: usize = 160;

/// Guest frames of domain 1's p2m (used when it is a translated mapper).
pub const P2M_GFNS: usize = 64;

pub struct GWorld {
    pub w: World,
    pub tables: Vec<GrantTable>,
    pub active: Vec<Active>,
    pub maptrack: Vec<MapTrack>,
    /// Domain 1's p2m storage (empty unless a test makes it translated).
    pub slots: Vec<Option<P2mEntry>>,
    pub supers: Vec<bool>,
    /// The nested-table updates the p2m mapper asked for.
    pub npt: NptRec,
}

/// Records nested-table updates; fails them when told to.
#[derive(Default)]
pub struct NptRec {
    pub changed: Vec<u64>,
    pub fail: bool,
}

impl<M: PhysMemory, H: MmHooks> NptSync<M, H> for NptRec {
    fn changed(&mut self, _: &P2m<'_>, _: &mut Mm<'_, M, H>, gfn: Gfn, _: Order) -> Result<(), Errno> {
        self.changed.push(gfn.0);
        if self.fail {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }
}

/// The general references domain 1's p2m entries hold.
struct P2mCount<'s>(&'s [Option<P2mEntry>]);

impl ExternalRefs for P2mCount<'_> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        (self.0.iter().flatten().filter(|e| e.ty.holds_reference() && e.mfn == mfn).count() as u64, 0)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
}

/// The VA `chain`'s L1 maps at entry `index` (its data frame is at 1).
pub fn va(index: usize) -> u64 {
    Chain::va(1) & !0x1F_F000 | (index as u64) << 12
}

impl GWorld {
    pub fn new() -> GWorld {
        let mut w = World::new(NFRAMES);
        w.hooks.pool = (120..NFRAMES as u64).map(Mfn).collect();
        let (t, a, m) = storage_for(3);
        let mut g = GWorld {
            w,
            tables: vec![GrantTable::NONE; t],
            active: vec![Active::FREE; a],
            maptrack: vec![MapTrack::FREE; m],
            slots: vec![None; P2M_GFNS],
            supers: vec![false; 1],
            npt: NptRec::default(),
        };
        P2m::new(D1, &mut g.slots, &mut g.supers);
        for d in [D0, D1, D2] {
            g.with(|mm, gr| gr.init_domain(mm, d)).unwrap();
        }
        g.check();
        g
    }

    pub fn with<R>(&mut self, f: impl FnOnce(&mut Mm<'_, FakeMemory, RecHooks>, &mut Grants<'_>) -> R) -> R {
        let mut gr =
            Grants { tables: &mut self.tables, active: &mut self.active, maptrack: &mut self.maptrack, nx: true };
        let mut mm = self.w.mm();
        f(&mut mm, &mut gr)
    }

    pub fn check(&mut self) {
        if let Err(e) = self.check_all() {
            panic!("invariant violated: {e}");
        }
    }

    pub fn check_all(&mut self) -> Result<(), String> {
        let gr = Grants { tables: &mut self.tables, active: &mut self.active, maptrack: &mut self.maptrack, nx: true };
        let mm = self.w.mm();
        check_all_with(&mm, &gr, &P2mCount(&self.slots))
    }

    /// Runs `f` with domain 1's p2m too.
    pub fn with_p2m<R>(
        &mut self,
        f: impl FnOnce(&mut Mm<'_, FakeMemory, RecHooks>, &mut Grants<'_>, &mut P2m<'_>, &mut NptRec) -> R,
    ) -> R {
        let mut gr =
            Grants { tables: &mut self.tables, active: &mut self.active, maptrack: &mut self.maptrack, nx: true };
        let mut p2m = P2m::reopen(D1, &mut self.slots, &mut self.supers);
        let mut mm = self.w.mm();
        f(&mut mm, &mut gr, &mut p2m, &mut self.npt)
    }

    /// Makes domain 1 translated: its table's entries are guest frames, its
    /// host mappings p2m entries.
    pub fn make_translated(&mut self, dom: DomId) {
        self.tables[dom.0 as usize].translated = true;
    }

    /// What domain 1's p2m maps at `gfn`.
    pub fn p2m_at(&self, gfn: u64) -> Option<P2mEntry> {
        self.slots[gfn as usize]
    }

    /// A map by translated domain 1 into its p2m; the op and whether the
    /// nested tables failed.
    pub fn map_p2m(&mut self, op: MapGrantRef) -> (MapGrantRef, bool) {
        let mut op = op;
        let failed = self.with_p2m(|mm, g, p2m, npt| {
            let mut side = P2mSide { p2m, npt, failed: false };
            g.map_translated(mm, D1, &mut op, &mut side);
            side.failed
        });
        (op, failed)
    }

    /// An unmap by translated domain 1.
    pub fn unmap_p2m(&mut self, u: Unmap) -> i16 {
        self.with_p2m(|mm, g, p2m, npt| g.unmap_translated(mm, D1, u, &mut P2mSide { p2m, npt, failed: false }))
    }

    /// A copy by translated domain 1.
    pub fn copy_p2m(&mut self, op: GnttabCopy) -> i16 {
        self.with_p2m(|mm, g, p2m, _| g.copy_translated(mm, D1, &op, p2m))
    }

    /// A domain with a pinned chain as its kernel root; grant maps go at [`va`].
    pub fn address_space(&mut self, dom: DomId) -> Chain {
        let c = pinned_chain(&mut self.w, dom);
        self.w.baseptr(dom, c.l4).unwrap();
        c
    }

    /// Writes entry `r` of `granter`'s table as the guest does.
    pub fn grant(&mut self, granter: DomId, r: u32, grantee: DomId, frame: Mfn, flags: u16) {
        let t = self.tables[granter.0 as usize];
        let a = t.entry_addr(r);
        if t.version == 2 {
            self.w.mem.write_u64(a, u64::from(flags) | (u64::from(grantee.0) << 16));
            self.w.mem.write_u64(PhysAddr(a.0 + 8), frame.0);
        } else {
            self.w.mem.write_u64(a, u64::from(flags) | (u64::from(grantee.0) << 16) | (frame.0 << 32));
        }
    }

    /// Writes a v2 sub-page entry.
    pub fn grant_sub(&mut self, granter: DomId, r: u32, grantee: DomId, frame: Mfn, off: u16, len: u16) {
        let t = self.tables[granter.0 as usize];
        let a = t.entry_addr(r);
        let flags = u64::from(abi::grant_table::gtf::PERMIT_ACCESS | abi::grant_table::gtf::SUB_PAGE);
        self.w.mem.write_u64(a, flags | (u64::from(grantee.0) << 16) | (u64::from(off) << 32) | (u64::from(len) << 48));
        self.w.mem.write_u64(PhysAddr(a.0 + 8), frame.0);
    }

    pub fn status_flags(&self, dom: DomId, r: u32) -> u16 {
        self.tables[dom.0 as usize].status_flags(&self.w.mem, r)
    }

    pub fn map(&mut self, ld: DomId, op: MapGrantRef) -> MapGrantRef {
        let mut op = op;
        self.with(|mm, g| g.map(mm, ld, &mut op));
        op
    }

    pub fn map_host(&mut self, ld: DomId, granter: DomId, r: u32, addr: u64, ro: bool) -> MapGrantRef {
        let flags = gntmap::HOST_MAP | if ro { gntmap::READONLY } else { 0 };
        self.map(ld, MapGrantRef { host_addr: addr, flags, ref_: r, dom: granter, ..Default::default() })
    }

    pub fn unmap(&mut self, ld: DomId, host_addr: u64, dev_bus_addr: u64, handle: u32) -> i16 {
        self.with(|mm, g| g.unmap(mm, ld, Unmap { host_addr, dev_bus_addr, new_addr: 0, handle }))
    }

    pub fn copy(&mut self, ld: DomId, op: GnttabCopy) -> i16 {
        self.with(|mm, g| g.copy(mm, ld, &op))
    }
}

pub const DOMS: [DomId; 3] = [D0, D1, D2];
