//! `GNTTABOP_copy` (fact sheet §6.2 op 5), one element.
//!
//! Each side is a grant reference (of any domain, the caller being its
//! grantee) or one of the caller's own frames, named with `DOMID_SELF`
//! literally. Order as on Xen: both domains (permission, existence), then
//! the source claimed read-only, the destination claimed writable (a
//! writable type reference for the copy), then the offsets (beyond the page
//! → `bad_copy_arg`, outside a sub-page grant → `general_error`). A grant
//! is pinned only for the duration of the copy.

use super::map::{get_frame, granted_frame, put_frame};
use super::shared::StatusWord;
use super::table::by_any_id;
use super::{pin, Active, Grants, MAX_REFS};
use crate::mm::{Mm, MmHooks, PhysAddr, PhysMemory};
use crate::p2m::P2m;
use abi::grant_table::{gntcopy, gtf, status, CopyPtr, GnttabCopy};
use abi::{DomId, Mfn};

/// A claimed side of a copy. The source holds a general reference on its
/// frame, the destination a general and a writable type reference.
#[derive(Clone, Copy, Debug)]
struct Buf {
    dom: DomId,
    mfn: Mfn,
    /// The grant, if the side is one: its active slot and where its
    /// status flags are, found when it was pinned.
    grant: Option<(usize, StatusWord)>,
    start: u16,
    len: u16,
}

impl Grants<'_> {
    /// Runs one copy for `ld`; returns a `GNTST_*`.
    pub fn copy<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, ld: DomId, op: &GnttabCopy) -> i16 {
        match self.try_copy(mm, ld, op, None) {
            Ok(()) => status::OKAY,
            Err(s) => s,
        }
    }

    /// [`Grants::copy`] for a translated (PVH) caller whose p2m is `own`
    /// (its frame sides already translated to machine frames): a reference
    /// of its own table is resolved through `own`.
    pub fn copy_translated<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &GnttabCopy,
        own: &P2m<'_>,
    ) -> i16 {
        match self.try_copy(mm, ld, op, Some(own)) {
            Ok(()) => status::OKAY,
            Err(s) => s,
        }
    }

    #[inline(always)]
    fn try_copy<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        op: &GnttabCopy,
        own: Option<&P2m<'_>>,
    ) -> Result<(), i16> {
        let src_gref = op.flags & gntcopy::SOURCE_GREF != 0;
        let dst_gref = op.flags & gntcopy::DEST_GREF != 0;
        let sd = side_domain(mm, ld, &op.source, src_gref)?;
        let dd = side_domain(mm, ld, &op.dest, dst_gref)?;
        let src = self.claim(mm, ld, sd, &op.source, src_gref, true, own)?;
        let dst = match self.claim(mm, ld, dd, &op.dest, dst_gref, false, own) {
            Ok(b) => b,
            Err(s) => {
                self.release(mm, src, true);
                return Err(s);
            }
        };
        let r = check_ranges(op, &src, &dst);
        if r.is_ok() && op.len != 0 {
            let from = PhysAddr(src.mfn.to_maddr() + u64::from(op.source.offset));
            let to = PhysAddr(dst.mfn.to_maddr() + u64::from(op.dest.offset));
            mm.mem.copy_bytes(to, from, usize::from(op.len));
        }
        self.release(mm, src, true);
        self.release(mm, dst, false);
        r
    }

    /// Takes a side: pins a grant (`acquire_grant_for_copy`) or references
    /// an own frame, with a writable type reference for the destination
    /// (`!read_only`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn claim<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        dom: DomId,
        ptr: &CopyPtr,
        is_gref: bool,
        read_only: bool,
        own: Option<&P2m<'_>>,
    ) -> Result<Buf, i16> {
        if is_gref {
            return self.acquire(mm, ld, dom, ptr.u as u32, read_only, own);
        }
        let mfn = Mfn(ptr.u);
        get_frame(mm, mfn, dom, !read_only, status::BAD_PAGE)?;
        Ok(Buf { dom, mfn, grant: None, start: 0, len: 4096 })
    }

    /// Pins (`rd`, `r`) for a copy by `ld` and references its frame (a
    /// writable type reference too unless `ro`). The entry's first word is
    /// read once: its checks, the v1 frame and the v1 status flags all
    /// come from that one read.
    #[inline(always)]
    fn acquire<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        rd: DomId,
        r: u32,
        ro: bool,
        own: Option<&P2m<'_>>,
    ) -> Result<Buf, i16> {
        let t = &self.tables[rd.0 as usize];
        if t.version == 0 || r >= t.nr_entries() {
            return Err(status::BAD_GNTREF);
        }
        let slot = rd.0 as usize * MAX_REFS + r as usize;
        let (pins, holder) = (self.active[slot].pin, self.active[slot].domid);
        if pins != 0 && (holder != ld || pins & pin::OVERFLOW != 0) {
            return Err(status::GENERAL_ERROR);
        }
        let e = t.entry_word(mm.mem, r);
        let h = e.header();
        let fresh = pins == 0 || (!ro && pins & (pin::HSTW_MASK | pin::DEVW_MASK) == 0);
        if fresh {
            self.claim_status(mm, rd, r, e, pins == 0, ro, false, ld)?;
        }
        let t = &self.tables[rd.0 as usize];
        let taken = if t.version == 2 && h.flags & gtf::TYPE_MASK == gtf::TRANSITIVE {
            // Transitive grants are not supported (Xen's `gnttab=no-transitive`).
            Err(status::GENERAL_ERROR)
        } else if pins == 0 {
            let sub = t.version == 2 && h.flags & gtf::SUB_PAGE != 0;
            let (start, length) = if sub { (h.word1 as u16, (h.word1 >> 16) as u16) } else { (0, 4096) };
            granted_frame(mm, t, e, rd, own, !ro).map(|mfn| Active {
                pin: 0,
                domid: ld,
                mfn,
                start,
                length,
                sub_page: sub,
            })
        } else {
            let a = self.active[slot];
            get_frame(mm, a.mfn, rd, !ro, status::BAD_DOMAIN).map(|()| a)
        };
        let a = match taken {
            Ok(a) => a,
            Err(s) => {
                if fresh {
                    self.reduce_status_for_pin(mm, rd, r, ro);
                }
                return Err(s);
            }
        };
        self.active[slot] = Active { pin: pins + if ro { pin::HSTR } else { pin::HSTW }, ..a };
        let w = self.tables[rd.0 as usize].status_word_of(r, e);
        Ok(Buf { dom: rd, mfn: a.mfn, grant: Some((slot, w)), start: a.start, len: a.length })
    }

    /// Undoes [`Self::claim`] of a side claimed `read_only` or not.
    #[inline(always)]
    fn release<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, b: Buf, read_only: bool) {
        if let Some((slot, w)) = b.grant {
            let a = &mut self.active[slot];
            a.pin -= if read_only { pin::HSTR } else { pin::HSTW };
            let a = *a;
            self.reduce_status_at(mm, b.dom, &a, w, read_only);
        }
        put_frame(mm, b.mfn, !read_only);
    }
}

/// The domain of one side: a frame must be named `DOMID_SELF` literally.
fn side_domain<M: PhysMemory, H: MmHooks>(
    mm: &Mm<'_, M, H>,
    ld: DomId,
    ptr: &CopyPtr,
    is_gref: bool,
) -> Result<DomId, i16> {
    if ptr.domid != DomId::SELF && !is_gref {
        return Err(status::PERMISSION_DENIED);
    }
    by_any_id(mm, ld, ptr.domid).ok_or(status::BAD_DOMAIN)
}

/// Xen's offset checks, after both sides were claimed.
#[inline(always)]
fn check_ranges(op: &GnttabCopy, src: &Buf, dst: &Buf) -> Result<(), i16> {
    let len = u32::from(op.len);
    let (so, dof) = (u32::from(op.source.offset), u32::from(op.dest.offset));
    if so + len > 4096 || dof + len > 4096 {
        return Err(status::BAD_COPY_ARG);
    }
    let inside = |off: u32, b: &Buf| off >= u32::from(b.start) && off + len <= u32::from(b.start) + u32::from(b.len);
    if !inside(so, src) || !inside(dof, dst) {
        return Err(status::GENERAL_ERROR);
    }
    Ok(())
}
