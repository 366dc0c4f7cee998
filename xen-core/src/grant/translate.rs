//! Translated (PVH) domains on the grant core: the same map, unmap and
//! copy code as for PV, with the two places where a translated domain
//! differs behind [`HostSide`] and [`translated_frame`].
//!
//! * **A translated granter**: the frame in its grant entry is a guest
//!   frame, looked up in its p2m (the caller's own, or another domain's
//!   through [`MmHooks::p2m_entry`]). Only its ordinary RAM is grantable,
//!   as Xen's `get_paged_frame` and the owner check after it decide: a
//!   hole, MMIO or a frame beyond its map is `GNTST_bad_page`; a frame it
//!   maps through a grant of its own is another domain's, `general_error`
//!   (Xen's "could not pin"). Then the frame is referenced exactly as a PV
//!   granter's is ([`super::map::own_frame`]).
//! * **A translated mapper**: a host mapping is an entry of its p2m
//!   ([`P2mSide`]), at the guest frame `host_addr >> 12`, of type
//!   [`P2mType::Grant`], read-only with `GNTMAP_readonly`, never
//!   executable (Xen's `p2m_grant_map_rw`/`_ro`); the nested tables follow
//!   (and the shadows, which are rebuilt from the p2m). The references are
//!   the PV ones: the p2m entry holds the general reference a PTE would,
//!   and the maptrack slot the writable type reference (dropped on unmap
//!   or when the mapper dies). Unmapping hands the entry's reference back
//!   to the core only after the entry is gone from the p2m and the nested
//!   tables (the ASID flush is due before the mapper runs again), so the
//!   grant's last reference cannot drop under a live translation. The slot
//!   becomes a hole, as on Xen.
//!
//! Xen 4.17's rules for a translated mapper (`map_grant_ref`,
//! `create_grant_p2m_mapping`, `replace_grant_p2m_mapping`):
//! `GNTMAP_device_map`, `application_map` or `contains_pte` is
//! `general_error` before anything else is looked at; any other flag but
//! `readonly`, or cache attributes in the grant entry, `general_error`;
//! unmap with a `new_addr` (`unmap_and_replace`) or of a frame that is not
//! the grant mapping there, `general_error`. Deliberate differences: a
//! grant mapped over an existing grant mapping is refused with
//! `general_error` (Xen crashes the domain), and so is a translated domain
//! mapping its own grant (its p2m holds only other domains' frames as
//! grants).

use super::map::own_frame;
use super::GrantTable;
use crate::hvm::pvh_call::NptSync;
use crate::mm::{Mm, MmHooks, PhysMemory};
use crate::p2m::{Order, P2m, P2mEntry, P2mType, Rights};
use abi::grant_table::{gntmap, gtf, status, MapGrantRef};
use abi::{DomId, Gfn, Mfn};

/// The machine frame guest frame `gfn` of translated granter `rd` is,
/// referenced for `rd` (see the module header). `own`: the caller's p2m
/// when the caller is translated, used when it is `rd`'s.
pub(crate) fn translated_frame<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    own: Option<&P2m<'_>>,
    rd: DomId,
    gfn: u64,
    writable: bool,
) -> Result<Mfn, i16> {
    let g = Gfn(gfn);
    let e = match own.filter(|p| p.owner == rd) {
        Some(p) => p.in_range(g, 1).then(|| p.get(g)).flatten().map(|(e, _)| e),
        None => mm.hooks.p2m_entry(rd, g),
    };
    match e {
        None => Err(status::BAD_PAGE),
        Some(e) => match e.ty {
            P2mType::Ram if writable && !e.rights.write => Err(status::BAD_PAGE),
            P2mType::Ram => own_frame(mm, e.mfn.0, rd),
            P2mType::Grant => Err(status::GENERAL_ERROR),
            P2mType::Mmio => Err(status::BAD_PAGE),
        },
    }
}

/// Where a mapper's host mappings are, and whose p2m the core may read
/// for the caller: the PV form ([`PteSide`]) and the translated form
/// ([`P2mSide`]). Generic, so the PV paths pay nothing for the other.
pub trait HostSide<M: PhysMemory, H: MmHooks> {
    /// The caller's own p2m, if it is translated.
    fn own_p2m(&self) -> Option<&P2m<'_>>;
    /// Writes the host mapping of `mfn` for `op` (`tables`: every domain's
    /// grant table header, the granter's at `op.dom`);
    /// the general (and, writable, type) reference the core took for it
    /// becomes the mapping's.
    ///
    /// # Errors
    /// A `GNTST_*`; nothing was written.
    fn create(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &MapGrantRef,
        mfn: Mfn,
        tables: &[GrantTable],
        nx: bool,
    ) -> Result<(), i16>;
    /// Removes the host mapping at `addr`, which must still map `frame`
    /// (`new_addr`: `unmap_and_replace`'s VA); the mapping's references go
    /// to the caller, which drops them.
    ///
    /// # Errors
    /// A `GNTST_*`; nothing was removed.
    fn replace(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        addr: u64,
        frame: Mfn,
        new_addr: u64,
        flags: u32,
    ) -> Result<(), i16>;
}

/// A PV mapper: host mappings are PTEs in its page tables.
pub struct PteSide;

impl<M: PhysMemory, H: MmHooks> HostSide<M, H> for PteSide {
    #[inline(always)]
    fn own_p2m(&self) -> Option<&P2m<'_>> {
        None
    }
    #[inline(always)]
    fn create(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &MapGrantRef,
        mfn: Mfn,
        _: &[GrantTable],
        nx: bool,
    ) -> Result<(), i16> {
        super::map::create_host_mapping(mm, ld, op.host_addr, mfn, op.flags, nx)
    }
    #[inline(always)]
    fn replace(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        addr: u64,
        frame: Mfn,
        new_addr: u64,
        flags: u32,
    ) -> Result<(), i16> {
        super::unmap::replace_host_mapping(mm, ld, addr, frame, new_addr, flags)
    }
}

/// A translated mapper: its p2m, where its host mappings go, and the
/// nested tables that follow it.
pub struct P2mSide<'x, 'a, M: PhysMemory, H: MmHooks> {
    /// The mapper's p2m.
    pub p2m: &'x mut P2m<'a>,
    /// Its nested tables.
    pub npt: &'x mut dyn NptSync<M, H>,
    /// The nested tables could not follow a change: the caller must crash
    /// the domain before it runs again.
    pub failed: bool,
}

impl<M: PhysMemory, H: MmHooks> P2mSide<'_, '_, M, H> {
    fn sync(&mut self, mm: &mut Mm<'_, M, H>, gfn: Gfn) {
        if self.npt.changed(self.p2m, mm, gfn, Order::Page4K).is_err() {
            self.failed = true;
        }
    }
}

/// Map flags a translated mapper may not use at all (Xen: before the
/// granting domain is even looked up).
pub const REFUSED_FLAGS: u32 = gntmap::DEVICE_MAP | gntmap::APPLICATION_MAP | gntmap::CONTAINS_PTE;

impl<M: PhysMemory, H: MmHooks> HostSide<M, H> for P2mSide<'_, '_, M, H> {
    fn own_p2m(&self) -> Option<&P2m<'_>> {
        Some(self.p2m)
    }

    fn create(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        _: DomId,
        op: &MapGrantRef,
        mfn: Mfn,
        tables: &[GrantTable],
        _: bool,
    ) -> Result<(), i16> {
        let t = tables.get(op.dom.0 as usize).ok_or(status::GENERAL_ERROR)?;
        let cache = t.header(mm.mem, op.ref_).flags & (gtf::PWT | gtf::PCD | gtf::PAT);
        if cache != 0 || op.flags & !gntmap::READONLY != gntmap::HOST_MAP {
            return Err(status::GENERAL_ERROR);
        }
        let gfn = Gfn(op.host_addr >> 12);
        if !self.p2m.in_range(gfn, 1) || self.p2m.get(gfn).is_some_and(|(e, _)| e.ty == P2mType::Grant) {
            return Err(status::GENERAL_ERROR);
        }
        let rights = if op.flags & gntmap::READONLY != 0 { Rights::R } else { Rights::RW };
        let e = P2mEntry { mfn, ty: P2mType::Grant, rights };
        self.p2m.set_entry(mm, gfn, Order::Page4K, Some(e)).map_err(|_| status::GENERAL_ERROR)?;
        // The entry took a general reference of its own: the one the core
        // took for the mapping is not needed twice.
        mm.put_page(mfn);
        self.sync(mm, gfn);
        Ok(())
    }

    fn replace(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        _: DomId,
        addr: u64,
        frame: Mfn,
        new_addr: u64,
        flags: u32,
    ) -> Result<(), i16> {
        if new_addr != 0 || flags & gntmap::CONTAINS_PTE != 0 {
            return Err(status::GENERAL_ERROR);
        }
        let gfn = Gfn(addr >> 12);
        let mapped = self.p2m.in_range(gfn, 1)
            && self.p2m.get(gfn).is_some_and(|(e, _)| e.ty == P2mType::Grant && e.mfn == frame);
        if !mapped {
            return Err(status::GENERAL_ERROR);
        }
        // The entry's reference is the caller's now, dropped after this
        // returns: the nested tables no longer map it, and the ASID flush
        // is due before the mapper runs again.
        let _ = self.p2m.take_grant(mm, gfn);
        self.sync(mm, gfn);
        Ok(())
    }
}
