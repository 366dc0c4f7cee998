//! `GNTTABOP_map_grant_ref` (fact sheet §6.2 op 0), one element.
//!
//! Order as on Xen: flags, granting domain, a maptrack slot, the reference,
//! the pin (first pin: the entry must grant the caller, the frame must be
//! the granter's RAM), then the references and the host PTE. Any failure
//! after the pin undoes everything it took (XSA-224: the whole map fails if
//! a needed type reference cannot be taken).

use super::shared::{EntryWord, StatusWord};
use super::table::pinned_writable;
use super::translate::{HostSide, P2mSide, PteSide, REFUSED_FLAGS};
use super::{pin, Active, Grants, MAX_REFS};
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

    #[inline(always)]
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
        let t = &self.tables[rd.0 as usize];
        if r >= t.nr_entries() {
            return Err(status::BAD_GNTREF);
        }
        let ro = flags & gntmap::READONLY != 0;
        let slot = rd.0 as usize * MAX_REFS + r as usize;
        let act = self.active[slot];
        if act.pin != 0 && (act.domid != ld || act.pin & pin::OVERFLOW != 0 || act.sub_page) {
            return Err(status::GENERAL_ERROR);
        }
        // The entry's first word is read once: its checks, the v1 frame
        // and the v1 status flags all come from that read.
        let e = t.entry_word(mm.mem, r);
        let fresh = act.pin == 0 || (!ro && !pinned_writable(&act));
        if fresh {
            self.claim_status(mm, rd, r, e, act.pin == 0, ro, true, ld)?;
        }
        // Every map holds one general reference (and, writable, one
        // writable type reference) on the frame: taken with the pin.
        let taken = if act.pin == 0 {
            granted_frame(mm, &self.tables[rd.0 as usize], e, rd, side.own_p2m(), !ro).map(|mfn| Active {
                pin: 0,
                domid: ld,
                mfn,
                start: 0,
                length: 4096,
                sub_page: false,
            })
        } else {
            get_frame(mm, act.mfn, rd, !ro, status::GENERAL_ERROR).map(|()| act)
        };
        let a = match taken.and_then(|a| self.host_refs(mm, ld, rd, a.mfn, op, side).map(|()| a)) {
            Ok(a) => a,
            Err(s) => {
                if fresh {
                    self.reduce_status_for_pin(mm, rd, r, ro);
                }
                return Err(s);
            }
        };
        self.active[slot] = Active { pin: a.pin + pins_of(flags), ..a };
        *self.maptrack_mut(ld, handle) = super::MapTrack { flags: flags & KEPT_FLAGS, dom: rd, ref_: r };
        Ok((handle, a.mfn))
    }

    /// What a host mapping adds to the references taken with the pin (a
    /// second pair when it comes with a device mapping, which holds the
    /// first), and the host PTE. On failure the pin's pair is dropped too.
    #[inline(always)]
    fn host_refs<M: PhysMemory, H: MmHooks, S: HostSide<M, H>>(
        &self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        rd: DomId,
        mfn: Mfn,
        op: &MapGrantRef,
        side: &mut S,
    ) -> Result<(), i16> {
        let flags = op.flags;
        let writable = flags & gntmap::READONLY == 0;
        if flags & gntmap::HOST_MAP == 0 {
            return Ok(());
        }
        let both = flags & gntmap::DEVICE_MAP != 0;
        let r = if both { get_frame(mm, mfn, rd, writable, status::GENERAL_ERROR) } else { Ok(()) };
        let r = r.and_then(|()| {
            side.create(mm, ld, op, mfn, self.tables, self.nx).inspect_err(|_| {
                if both {
                    put_frame(mm, mfn, writable);
                }
            })
        });
        if r.is_err() {
            put_frame(mm, mfn, writable);
        }
        r
    }

    /// Checks reference `r` of `rd`, whose entry's first word `e` was read
    /// once, for a new pin by `ld` and sets reading (and writing) in its
    /// status (Xen's `_set_status`): on a first pin the entry must permit
    /// access and name `ld`; a writable pin needs an entry that is not
    /// read-only. Maps refuse sub-page entries; copies may use them.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn claim_status<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &mut Mm<'_, M, H>,
        rd: DomId,
        r: u32,
        e: EntryWord,
        first: bool,
        ro: bool,
        map: bool,
        ld: DomId,
    ) -> Result<(), i16> {
        let t = &self.tables[rd.0 as usize];
        let h = e.header();
        let mask = gtf::TYPE_MASK | if map { gtf::SUB_PAGE } else { 0 };
        if first && (h.flags & mask != gtf::PERMIT_ACCESS || h.domid != ld) {
            return Err(status::GENERAL_ERROR);
        }
        if !ro && h.flags & gtf::READONLY != 0 {
            return Err(status::GENERAL_ERROR);
        }
        t.set_status_in(mm.mem, r, e, gtf::READING | if ro { 0 } else { gtf::WRITING });
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
        let t = &self.tables[rd.0 as usize];
        // A retired table has no status word to compute (see below).
        if t.version != 0 {
            let w = t.status_word(r);
            self.reduce_status_at(mm, rd, self.active(rd, r), w, ro);
        }
    }

    /// [`Self::reduce_status_for_pin`] of the reference whose pins are now
    /// `a` and whose flags are in `w` (found when it was pinned).
    #[inline(always)]
    pub(crate) fn reduce_status_at<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &mut Mm<'_, M, H>,
        rd: DomId,
        a: &Active,
        w: StatusWord,
        ro: bool,
    ) {
        // A retired table's frames may belong to someone else by now.
        if self.tables[rd.0 as usize].version == 0 {
            return;
        }
        let mut clear = if a.pin == 0 { gtf::READING } else { 0 };
        if !ro && !pinned_writable(a) {
            clear |= gtf::WRITING;
        }
        if clear != 0 {
            w.clear(mm.mem, clear);
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

/// A general reference on `mfn`, which must be allocated to `rd`, and with
/// `writable` a writable type reference: the common case (an ordinary
/// frame of `rd`, already of the writable type for `writable`) in one
/// metadata access ([`crate::mm::PageInfo::try_get_plain`]), everything
/// else by [`Mm::get_page`] (failing: `no_ref`) and
/// [`Mm::get_simple_type`] (failing: `general_error`, nothing kept).
#[inline(always)]
pub(crate) fn get_frame<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    mfn: Mfn,
    rd: DomId,
    writable: bool,
    no_ref: i16,
) -> Result<(), i16> {
    if mm.is_ram(mfn) && mm.info_mut(mfn).try_get_plain(rd, writable) {
        return Ok(());
    }
    get_frame_slow(mm, mfn, rd, writable, no_ref)
}

#[inline(never)]
fn get_frame_slow<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    mfn: Mfn,
    rd: DomId,
    writable: bool,
    no_ref: i16,
) -> Result<(), i16> {
    mm.get_page(mfn, rd).map_err(|_| no_ref)?;
    if writable && mm.get_simple_type(mfn, PageType::Writable).is_err() {
        mm.put_page(mfn);
        return Err(status::GENERAL_ERROR);
    }
    Ok(())
}

/// Drops what [`get_frame`] took: in one metadata access while the frame
/// stays allocated ([`crate::mm::PageInfo::try_put_held`]), else
/// [`Mm::put_type`] and [`Mm::put_page`].
#[inline(always)]
pub(crate) fn put_frame<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, mfn: Mfn, writable: bool) {
    if mm.is_ram(mfn) && mm.info_mut(mfn).try_put_held(writable) {
        return;
    }
    put_frame_slow(mm, mfn, writable);
}

#[inline(never)]
fn put_frame_slow<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, mfn: Mfn, writable: bool) {
    if writable {
        mm.put_type(mfn);
    }
    mm.put_page(mfn);
}

/// The frame the entry of `rd`'s table `t` whose first word `e` was read
/// names, referenced: it must be RAM of `rd` (Xen's
/// `get_paged_frame`; else `bad_page`), with a writable type reference
/// for `writable` (else `general_error`). A translated (PVH) granter's
/// entries hold guest frame numbers, resolved through its p2m (`own`: the
/// caller's, when the caller is translated) for a pin that may write or
/// not ([`super::translate::translated_frame`]).
#[inline(always)]
pub(crate) fn granted_frame<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    t: &super::GrantTable,
    e: EntryWord,
    rd: DomId,
    own: Option<&crate::p2m::P2m<'_>>,
    writable: bool,
) -> Result<Mfn, i16> {
    let frame = t.frame_of(mm.mem, e);
    if t.translated {
        return translated_frame_typed(mm, own, rd, frame, writable);
    }
    let mfn = Mfn(frame);
    get_frame(mm, mfn, rd, writable, status::BAD_PAGE)?;
    Ok(mfn)
}

/// A translated granter's frame, referenced, and with `writable` a
/// writable type reference (else `general_error`, nothing kept).
#[inline(never)]
fn translated_frame_typed<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    own: Option<&crate::p2m::P2m<'_>>,
    rd: DomId,
    gfn: u64,
    writable: bool,
) -> Result<Mfn, i16> {
    let mfn = super::translate::translated_frame(mm, own, rd, gfn, writable)?;
    if writable && mm.get_simple_type(mfn, PageType::Writable).is_err() {
        mm.put_page(mfn);
        return Err(status::GENERAL_ERROR);
    }
    Ok(mfn)
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
/// reference on the L1 the caller drops ([`put_frame`]). `host_addr` is a VA in the
/// caller's current tables, or with `contains_pte` the PTE's machine
/// address (8-byte aligned, XSA-227). The L1 must be a live L1 of `ld`.
#[inline(always)]
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
    get_frame(mm, l1, ld, false, status::GENERAL_ERROR)?;
    if !mm.info(l1).is_validated_l1() {
        put_frame(mm, l1, false);
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
    put_frame(mm, l1, false);
    Ok(())
}
