//! `GNTTABOP_map_grant_ref` (fact sheet §6.2 op 0), one element.
//!
//! Order as on Xen: flags, granting domain, a maptrack slot, the reference,
//! the pin (first pin: the entry must grant the caller, the frame must be
//! the granter's RAM), then the references and the host PTE. Any failure
//! after the pin undoes everything it took (XSA-224: the whole map fails if
//! a needed type reference cannot be taken).

use super::table::pinned_writable;
use super::translate::{HostSide, P2mSide, PteSide, REFUSED_FLAGS};
use super::{pin, Grants};
use crate::mm::page_info::PageType;
use crate::mm::pte::{table_index, Pte};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::grant_table::{gntmap, gtf, status, MapGrantRef};
use abi::mmu::pte::{ACCESSED, AVAIL_LOW, DIRTY, NX, PRESENT, RW, USER};
use abi::{DomId, Mfn};

/// Maptrack flags kept per mapping (Xen keeps a 16-bit field).
const KEPT_FLAGS: u32 = 0xFFFF;

impl Grants<'_> {
    /// Maps one grant for `ld`; sets `op.status` and, on success,
    /// `op.handle` and `op.dev_bus_addr`.
    pub fn map<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, ld: DomId, op: &mut MapGrantRef) {
        op.status = match self.try_map(mm, ld, op, &mut PteSide) {
            Ok((handle, mfn)) => {
                op.handle = handle;
                op.dev_bus_addr = mfn.to_maddr();
                status::OKAY
            }
            Err(s) => s,
        };
    }

    /// [`Grants::map`] for a translated (PVH) mapper `ld`: the host mapping
    /// is an entry of its p2m at guest frame `host_addr >> 12`
    /// ([`super::translate`]); `dev_bus_addr` comes back 0, as on Xen for
    /// a mapping without `GNTMAP_device_map`.
    pub fn map_translated<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &mut MapGrantRef,
        side: &mut P2mSide<'_, '_, M, H>,
    ) {
        let flags = op.flags;
        let r = if flags & (gntmap::DEVICE_MAP | gntmap::HOST_MAP) == 0 {
            Err(status::BAD_GNTREF)
        } else if flags & REFUSED_FLAGS != 0 {
            Err(status::GENERAL_ERROR)
        } else {
            self.try_map(mm, ld, op, side)
        };
        op.status = match r {
            Ok((handle, _)) => {
                op.handle = handle;
                op.dev_bus_addr = 0;
                status::OKAY
            }
            Err(s) => s,
        };
    }

    fn try_map<M: PhysMemory, H: MmHooks, S: HostSide<M, H>>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &MapGrantRef,
        side: &mut S,
    ) -> Result<(u32, Mfn), i16> {
        let flags = op.flags;
        if flags & (gntmap::DEVICE_MAP | gntmap::HOST_MAP) == 0 {
            return Err(status::BAD_GNTREF);
        }
        // Xen looks the granter up by its real id: DOMID_SELF is no domain.
        let rd = op.dom;
        if mm.domain(rd).is_none() || self.table(rd).is_none() {
            return Err(status::BAD_DOMAIN);
        }
        let handle = self.free_handle(ld).ok_or(status::NO_SPACE)?;
        let r = op.ref_;
        if r >= self.tables[rd.0 as usize].nr_entries() {
            return Err(status::BAD_GNTREF);
        }
        let ro = flags & gntmap::READONLY != 0;
        let act = *self.active(rd, r);
        if act.pin != 0 && (act.domid != ld || act.pin & pin::OVERFLOW != 0 || act.sub_page) {
            return Err(status::GENERAL_ERROR);
        }
        let mut page_taken = false;
        if act.pin == 0 || (!ro && !pinned_writable(&act)) {
            self.claim_status(mm, rd, r, act.pin == 0, ro, true, ld)?;
            if act.pin == 0 {
                let t = self.tables[rd.0 as usize];
                match granted_frame(mm, &t, r, rd, side.own_p2m(), !ro) {
                    Ok(mfn) => {
                        let a = self.active_mut(rd, r);
                        *a = super::Active { pin: 0, domid: ld, mfn, start: 0, length: 4096, sub_page: false };
                        page_taken = true;
                    }
                    Err(s) => {
                        self.reduce_status_for_pin(mm, rd, r, ro);
                        return Err(s);
                    }
                }
            }
        }
        let pins = pins_of(flags);
        self.active_mut(rd, r).pin += pins;
        let mfn = self.active(rd, r).mfn;
        match self.take_refs(mm, ld, rd, mfn, op, page_taken, side) {
            Ok(()) => {
                *self.maptrack_mut(ld, handle) = super::MapTrack { flags: flags & KEPT_FLAGS, dom: rd, ref_: r };
                Ok((handle, mfn))
            }
            Err(s) => {
                self.active_mut(rd, r).pin -= pins;
                self.reduce_status_for_pin(mm, rd, r, ro);
                Err(s)
            }
        }
    }

    /// The frame references each mapping kind holds, and the host PTE.
    /// On failure every reference taken here (and `page_taken`'s) is dropped.
    #[allow(clippy::too_many_arguments)]
    fn take_refs<M: PhysMemory, H: MmHooks, S: HostSide<M, H>>(
        &self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        rd: DomId,
        mfn: Mfn,
        op: &MapGrantRef,
        page_taken: bool,
        side: &mut S,
    ) -> Result<(), i16> {
        let flags = op.flags;
        let ro = flags & gntmap::READONLY != 0;
        let (mut refs, mut types) = (0u32, 0u32);
        let mut step = || -> Result<(), i16> {
            if !page_taken {
                mm.get_page(mfn, rd).map_err(|_| status::GENERAL_ERROR)?;
            }
            refs += 1;
            if flags & gntmap::DEVICE_MAP != 0 && !ro {
                mm.get_simple_type(mfn, PageType::Writable).map_err(|_| status::GENERAL_ERROR)?;
                types += 1;
            }
            if flags & gntmap::HOST_MAP != 0 {
                if flags & gntmap::DEVICE_MAP != 0 {
                    mm.get_page(mfn, rd).map_err(|_| status::GENERAL_ERROR)?;
                    refs += 1;
                }
                if !ro {
                    mm.get_simple_type(mfn, PageType::Writable).map_err(|_| status::GENERAL_ERROR)?;
                    types += 1;
                }
                side.create(mm, ld, op, mfn, self.tables, self.nx)?;
            }
            Ok(())
        };
        let r = step();
        if r.is_err() {
            for _ in 0..types {
                mm.put_type(mfn);
            }
            for _ in 0..refs {
                mm.put_page(mfn);
            }
        }
        r
    }

    /// Sets reading (and writing) in the entry's status for a new pin,
    /// checking on a first pin that the entry grants `ld` access (Xen's
    /// `_set_status`). Maps refuse sub-page entries; copies may use them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn claim_status<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &mut Mm<'_, M, H>,
        rd: DomId,
        r: u32,
        first: bool,
        ro: bool,
        map: bool,
        ld: DomId,
    ) -> Result<(), i16> {
        let t = &self.tables[rd.0 as usize];
        let h = t.header(mm.mem, r);
        let mask = gtf::TYPE_MASK | if map { gtf::SUB_PAGE } else { 0 };
        if first && (h.flags & mask != gtf::PERMIT_ACCESS || h.domid != ld) {
            return Err(status::GENERAL_ERROR);
        }
        if !ro && h.flags & gtf::READONLY != 0 {
            return Err(status::GENERAL_ERROR);
        }
        t.set_status(mm.mem, r, gtf::READING | if ro { 0 } else { gtf::WRITING });
        Ok(())
    }

    /// Clears the status flags no pin needs any more (Xen's
    /// `reduce_status_for_pin`).
    pub(crate) fn reduce_status_for_pin<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &mut Mm<'_, M, H>,
        rd: DomId,
        r: u32,
        ro: bool,
    ) {
        // A retired table's frames may belong to someone else by now.
        if self.tables[rd.0 as usize].version == 0 {
            return;
        }
        let a = self.active(rd, r);
        let mut clear = if a.pin == 0 { gtf::READING } else { 0 };
        if !ro && !pinned_writable(a) {
            clear |= gtf::WRITING;
        }
        if clear != 0 {
            self.tables[rd.0 as usize].clear_status(mm.mem, r, clear);
        }
    }
}

/// The pins a map with `flags` adds.
pub(crate) const fn pins_of(flags: u32) -> u32 {
    let ro = flags & gntmap::READONLY != 0;
    let mut p = 0;
    if flags & gntmap::DEVICE_MAP != 0 {
        p += if ro { pin::DEVR } else { pin::DEVW };
    }
    if flags & gntmap::HOST_MAP != 0 {
        p += if ro { pin::HSTR } else { pin::HSTW };
    }
    p
}

/// A general reference on granted frame `gfn` (an MFN for PV), which must
/// be RAM of `rd` (Xen's `get_paged_frame`).
pub(crate) fn own_frame<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, gfn: u64, rd: DomId) -> Result<Mfn, i16> {
    let mfn = Mfn(gfn);
    if !mm.is_ram(mfn) || mm.is_mmio(mfn) {
        return Err(status::BAD_PAGE);
    }
    mm.get_page(mfn, rd).map_err(|_| status::BAD_PAGE)?;
    Ok(mfn)
}

/// The frame reference `r` of `rd`'s table `t` names, referenced. A
/// translated (PVH) granter's entries hold guest frame numbers, resolved
/// through its p2m (`own`: the caller's, when the caller is translated)
/// for a pin that may write or not ([`super::translate::translated_frame`]).
#[inline(always)]
pub(crate) fn granted_frame<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    t: &super::GrantTable,
    r: u32,
    rd: DomId,
    own: Option<&crate::p2m::P2m<'_>>,
    writable: bool,
) -> Result<Mfn, i16> {
    let frame = t.frame(mm.mem, r);
    if t.translated {
        return super::translate::translated_frame(mm, own, rd, frame, writable);
    }
    own_frame(mm, frame, rd)
}

/// The PTE a host mapping of `mfn` with map `flags` gets (Xen's
/// `grant_to_pte_flags` and the 64-bit PV adjustments).
pub(crate) fn grant_pte(mfn: Mfn, flags: u32, nx: bool) -> Pte {
    let mut v = mfn.to_maddr() | PRESENT | ACCESSED | DIRTY;
    if nx {
        v |= NX;
    }
    if flags & gntmap::APPLICATION_MAP != 0 {
        v |= USER;
    }
    if flags & gntmap::READONLY == 0 {
        v |= RW;
    }
    v |= (u64::from(flags >> gntmap::GUEST_AVAIL0_SHIFT) << 9) & AVAIL_LOW;
    Pte(v).adjusted(1)
}

/// Where a host mapping's PTE is: the L1 and index, with a general
/// reference on the L1 the caller drops. `host_addr` is a VA in the
/// caller's current tables, or with `contains_pte` the PTE's machine
/// address (8-byte aligned, XSA-227). The L1 must be a live L1 of `ld`.
pub(crate) fn pte_slot<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    ld: DomId,
    host_addr: u64,
    flags: u32,
) -> Result<(Mfn, usize), i16> {
    let (l1, index) = if flags & gntmap::CONTAINS_PTE != 0 {
        if host_addr & 7 != 0 {
            return Err(status::GENERAL_ERROR);
        }
        (Mfn(host_addr >> 12), ((host_addr & 0xFFF) / 8) as usize)
    } else {
        (mm.l1_for_va(ld, host_addr).map_err(|_| status::GENERAL_ERROR)?, table_index(host_addr, 1))
    };
    mm.get_page(l1, ld).map_err(|_| status::GENERAL_ERROR)?;
    let info = mm.info(l1);
    if info.page_type() != PageType::L1 || info.type_count() == 0 || !info.validated() {
        mm.put_page(l1);
        return Err(status::GENERAL_ERROR);
    }
    Ok((l1, index))
}

/// Writes the host PTE for `mfn`; the old entry's references go.
pub(super) fn create_host_mapping<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    ld: DomId,
    host_addr: u64,
    mfn: Mfn,
    flags: u32,
    nx: bool,
) -> Result<(), i16> {
    let (l1, index) = pte_slot(mm, ld, host_addr, flags)?;
    let old = Pte(mm.read_entry(l1, index));
    mm.write_entry(l1, index, grant_pte(mfn, flags, nx).0);
    mm.drop_entry(l1, 1, old);
    mm.put_page(l1);
    Ok(())
}
