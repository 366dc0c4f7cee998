//! `GNTTABOP_copy` (fact sheet §6.2 op 5), one element.
//!
//! Each side is a grant reference (of any domain, the caller being its
//! grantee) or one of the caller's own frames, named with `DOMID_SELF`
//! literally. Order as on Xen: both domains (permission, existence), then
//! the source claimed read-only, the destination claimed writable (a
//! writable type reference for the copy), then the offsets (beyond the page
//! → `bad_copy_arg`, outside a sub-page grant → `general_error`). A grant
//! is pinned only for the duration of the copy.

use super::map::{granted_frame, own_frame};
use super::table::{by_any_id, pinned_writable};
use super::{pin, Active, Grants};
use crate::mm::page_info::PageType;
use crate::mm::{Mm, MmHooks, PhysAddr, PhysMemory};
use crate::p2m::P2m;
use abi::grant_table::{gntcopy, gtf, status, CopyPtr, GnttabCopy};
use abi::{DomId, Mfn};

/// A claimed side of a copy.
#[derive(Clone, Copy, Debug)]
struct Buf {
    dom: DomId,
    mfn: Mfn,
    /// The grant, if the side is one.
    gref: Option<u32>,
    read_only: bool,
    typed: bool,
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
                self.release(mm, src);
                return Err(s);
            }
        };
        let r = check_ranges(op, &src, &dst);
        if r.is_ok() && op.len != 0 {
            let from = PhysAddr(src.mfn.to_maddr() + u64::from(op.source.offset));
            let to = PhysAddr(dst.mfn.to_maddr() + u64::from(op.dest.offset));
            mm.mem.copy_bytes(to, from, usize::from(op.len));
        }
        self.release(mm, src);
        self.release(mm, dst);
        r
    }

    /// Takes a side: pins a grant (`acquire_grant_for_copy`) or references
    /// an own frame, then a writable type reference for the destination.
    #[allow(clippy::too_many_arguments)]
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
        let mut buf = if is_gref {
            self.acquire(mm, ld, dom, ptr.u as u32, read_only, own)?
        } else {
            let mfn = own_frame(mm, ptr.u, dom)?;
            Buf { dom, mfn, gref: None, read_only, typed: false, start: 0, len: 4096 }
        };
        if !read_only {
            if mm.get_simple_type(buf.mfn, PageType::Writable).is_err() {
                self.release(mm, buf);
                return Err(status::GENERAL_ERROR);
            }
            buf.typed = true;
        }
        Ok(buf)
    }

    /// Pins (`rd`, `r`) for a copy by `ld` and takes a general reference on
    /// its frame.
    fn acquire<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        rd: DomId,
        r: u32,
        ro: bool,
        own: Option<&P2m<'_>>,
    ) -> Result<Buf, i16> {
        let t = self.tables[rd.0 as usize];
        if t.version == 0 || r >= t.nr_entries() {
            return Err(status::BAD_GNTREF);
        }
        let act = *self.active(rd, r);
        if act.pin != 0 && (act.domid != ld || act.pin & pin::OVERFLOW != 0) {
            return Err(status::GENERAL_ERROR);
        }
        let h = t.header(mm.mem, r);
        let fresh = act.pin == 0 || (!ro && !pinned_writable(&act));
        if fresh {
            self.claim_status(mm, rd, r, act.pin == 0, ro, false, ld)?;
        }
        let taken = if t.version == 2 && h.flags & gtf::TYPE_MASK == gtf::TRANSITIVE {
            // Transitive grants are not supported (Xen's `gnttab=no-transitive`).
            Err(status::GENERAL_ERROR)
        } else if act.pin == 0 {
            let sub = t.version == 2 && h.flags & gtf::SUB_PAGE != 0;
            let (start, length) = if sub { (h.word1 as u16, (h.word1 >> 16) as u16) } else { (0, 4096) };
            granted_frame(mm, &t, r, rd, own, !ro).map(|mfn| {
                *self.active_mut(rd, r) = Active { pin: 0, domid: ld, mfn, start, length, sub_page: sub };
            })
        } else {
            mm.get_page(act.mfn, rd).map_err(|_| status::BAD_DOMAIN)
        };
        if let Err(s) = taken {
            if fresh {
                self.reduce_status_for_pin(mm, rd, r, ro);
            }
            return Err(s);
        }
        let a = self.active_mut(rd, r);
        a.pin += if ro { pin::HSTR } else { pin::HSTW };
        let a = *a;
        Ok(Buf { dom: rd, mfn: a.mfn, gref: Some(r), read_only: ro, typed: false, start: a.start, len: a.length })
    }

    /// Undoes [`Self::claim`].
    fn release<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, b: Buf) {
        if let Some(r) = b.gref {
            self.active_mut(b.dom, r).pin -= if b.read_only { pin::HSTR } else { pin::HSTW };
            self.reduce_status_for_pin(mm, b.dom, r, b.read_only);
        }
        if b.typed {
            mm.put_type(b.mfn);
        }
        mm.put_page(b.mfn);
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
