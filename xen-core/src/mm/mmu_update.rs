//! `mmu_update` (hypercall 1): checked writes of page-table entries and of
//! the machine-to-physical table (fact sheet §3).

use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::pte::Pte;
use super::requests::{BatchResult, RequestSource};
use super::PhysMemory;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

/// No table frame held: a request's frame number has at most 52 bits.
const NO_FRAME: Mfn = Mfn(u64::MAX);

/// The three page-table commands, for one bit test.
const PT_UPDATES: u64 = 1 << MMU_NORMAL_PT_UPDATE | 1 << MMU_PT_UPDATE_PRESERVE_AD | 1 << MMU_PT_UPDATE_NO_TRANSLATE;

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Processes `count` requests for `caller`. `foreigndom` bits 15:0 name
    /// the owner of frames new L1 entries map (FD), bits 31:16 the owner of
    /// the page tables plus one (PFD; 0 = caller). Stops at the first
    /// failing request; earlier ones stay applied. Between requests it may
    /// stop with `ERESTART` ([`MmHooks::preempt_batch`]); `done` says where
    /// the continuation resumes.
    ///
    /// # Errors
    /// See [`Mm::mmu_update_one`]; `ESRCH` for an unknown FD/PFD or the
    /// caller's own numeric id; `EFAULT` when a request cannot be read.
    pub fn mmu_update(
        &mut self,
        caller: DomId,
        reqs: &mut impl RequestSource<MmuUpdate>,
        count: u32,
        foreigndom: u32,
    ) -> BatchResult {
        if let Err(e) = self.settle_queued_first(caller) {
            return BatchResult::refused(e);
        }
        let r = self.mmu_update_batch(caller, reqs, count, foreigndom);
        // Dropped upper entries queue tables on the table owner (PFD).
        self.settle_queued_after(caller, ((foreigndom >> 16) as u16).wrapping_sub(1));
        r
    }

    /// [`Mm::mmu_update`] for the one request `req` of `caller` on its own
    /// tables (`count` 1, `foreigndom` `DOMID_SELF`) when
    /// [`Mm::nothing_queued`] for it: the same work without the batch's
    /// domain resolution and loop.
    ///
    /// # Errors
    /// Those of [`Mm::mmu_update`] for one request.
    #[inline(always)]
    pub fn mmu_update_single(&mut self, caller: DomId, req: MmuUpdate) -> Result<(), Errno> {
        debug_assert!(self.nothing_queued(caller));
        let frame = Mfn(req.ptr >> 12);
        // The common request, an entry of one of the caller's validated L1
        // tables, with the table frame's checks (those of the general
        // reference Xen takes for the request) made without taking it:
        // holding it could change nothing the request sees. The table is
        // held by whatever holds its L1 type (a pin or an L2 entry, each
        // with a general reference), so the old entry's release cannot
        // free it, and no count but the table frame's own is read, which
        // only an entry mapping the table itself reads: that one, and
        // every other request, goes the general way below. L1 entries
        // queue nothing, so there is nothing to settle after.
        if PT_UPDATES >> (req.ptr & 7) & 1 != 0
            && self.could_get_page(frame, caller)
            && self.info(frame).is_validated_l1()
            && Pte(req.val).mfn() != frame
        {
            let index = ((req.ptr & 0xFFF) >> 3) as usize;
            let preserve_ad = req.ptr & 7 == MMU_PT_UPDATE_PRESERVE_AD;
            return self.mod_l1_entry(frame, caller, index, Pte(req.val), caller, preserve_ad);
        }
        let mut held = NO_FRAME;
        let r = self.mmu_update_one(caller, caller, caller, req, &mut held);
        if held != NO_FRAME {
            self.put_page(held);
        }
        // Dropped upper entries queue tables on the caller.
        self.settle_queued(caller);
        r
    }

    fn mmu_update_batch(
        &mut self,
        caller: DomId,
        reqs: &mut impl RequestSource<MmuUpdate>,
        count: u32,
        foreigndom: u32,
    ) -> BatchResult {
        let fd = match self.resolve_domid(caller, foreigndom as u16) {
            Ok(d) => d,
            Err(e) => return BatchResult::refused(e),
        };
        let pfd = match (foreigndom >> 16) as u16 {
            0 => caller,
            raw => match self.resolve_domid(caller, raw - 1) {
                Ok(d) if d == DomId::IO => return BatchResult::refused(self.refuse(Errno::ESRCH, "PFD is DOMID_IO")),
                Ok(d) => d,
                Err(e) => return BatchResult::refused(e),
            },
        };
        // Per call, not per request: both depend only on the caller, FD
        // and PFD. A refusal still belongs to the first request.
        let allowed = self.may_act_on(caller, fd) && self.may_act_on(caller, pfd);
        // A general reference on the table frame of the last page-table
        // request, kept while consecutive requests write the same frame (a
        // batch usually fills one table). It changes nothing the requests
        // see: a request never drops the frame's last other reference (a
        // table is held by whatever holds its type, a data frame by its
        // allocation), so the per-request reference Xen takes would always
        // succeed, and the frame's count never exceeds what that one would
        // make it.
        let mut held = NO_FRAME;
        let mut r = BatchResult { done: count, result: Ok(()) };
        let mut i = 0;
        while i < count {
            let one = match reqs.get(i) {
                Ok(_) if !allowed => Err(self.refuse(Errno::EPERM, "unprivileged caller names another domain")),
                Ok(req) => {
                    // The common request inline: another entry of the L1
                    // table the previous request wrote (what
                    // `mmu_update_one` does for it, in the same order).
                    // Everything else out of line, which leaves the
                    // registers to this loop.
                    let frame = Mfn(req.ptr >> 12);
                    if frame == held && PT_UPDATES >> (req.ptr & 7) & 1 != 0 && self.info(frame).is_validated_l1() {
                        let index = ((req.ptr & 0xFFF) >> 3) as usize;
                        let preserve_ad = req.ptr & 7 == MMU_PT_UPDATE_PRESERVE_AD;
                        self.mod_l1_entry(frame, pfd, index, Pte(req.val), fd, preserve_ad)
                    } else {
                        self.mmu_update_general(caller, fd, pfd, req, &mut held)
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(e) = one {
                r = BatchResult { done: i, result: Err(e) };
                break;
            }
            i += 1;
            // Between requests, never before the first: each call
            // progresses. (After a request, with the loop's own end test:
            // the first needs no test of its own.)
            if i < count && self.hooks.preempt_batch(1) {
                r = BatchResult { done: i, result: Err(Errno::ERESTART) };
                break;
            }
        }
        if held != NO_FRAME {
            self.put_page(held);
        }
        r
    }

    /// [`Mm::mmu_update_one`] out of line, for the batch's requests other
    /// than the common one.
    #[inline(never)]
    fn mmu_update_general(
        &mut self,
        caller: DomId,
        fd: DomId,
        pfd: DomId,
        req: MmuUpdate,
        held: &mut Mfn,
    ) -> Result<(), Errno> {
        self.mmu_update_one(caller, fd, pfd, req, held)
    }

    /// One `mmu_update` request, whose caller may act on FD and PFD.
    /// `held` is the table frame the previous request left a general
    /// reference on, or [`NO_FRAME`]; this one may keep or replace it.
    ///
    /// # Errors
    /// `EPERM` for a MACHPHYS update of a foreign table owner; `EINVAL`
    /// when the target frame is not RAM owned by PFD or is not a page table
    /// or data frame; `ENOSYS` for commands 4–7; every error of
    /// [`Mm::mod_entry`].
    #[inline(always)]
    fn mmu_update_one(
        &mut self,
        caller: DomId,
        fd: DomId,
        pfd: DomId,
        req: MmuUpdate,
        held: &mut Mfn,
    ) -> Result<(), Errno> {
        let frame = Mfn(req.ptr >> 12);
        match req.ptr & 7 {
            cmd if PT_UPDATES >> cmd & 1 != 0 => {
                let index = ((req.ptr & 0xFFF) >> 3) as usize;
                let preserve_ad = req.ptr & 7 == MMU_PT_UPDATE_PRESERVE_AD;
                if *held != frame {
                    if *held != NO_FRAME {
                        self.put_page(core::mem::replace(held, NO_FRAME));
                    }
                    self.get_page(frame, pfd)
                        .map_err(|_| self.refuse(Errno::EINVAL, "table frame not owned by PFD"))?;
                    *held = frame;
                }
                self.update_frame_word(frame, pfd, index, req.val, fd, preserve_ad)
            }
            MMU_MACHPHYS_UPDATE => {
                if pfd != caller {
                    return Err(self.refuse(Errno::EPERM, "M2P update with a foreign PFD"));
                }
                self.get_page(frame, fd).map_err(|_| self.refuse(Errno::EINVAL, "M2P frame not owned by FD"))?;
                self.m2p[frame.0 as usize] = req.val;
                self.put_page(frame);
                Ok(())
            }
            _ => Err(self.refuse(Errno::ENOSYS, "unknown mmu_update command")),
        }
    }

    /// Writes word `index` of `frame` according to the frame's type.
    /// `frame` is owned by `owner` (the caller holds a general reference).
    #[inline(always)]
    fn update_frame_word(
        &mut self,
        frame: Mfn,
        owner: DomId,
        index: usize,
        val: u64,
        fd: DomId,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        let info = *self.info(frame);
        // The common case first, in one test: an entry of a validated L1.
        if info.is_validated_l1() {
            return self.mod_l1_entry(frame, owner, index, Pte(val), fd, preserve_ad);
        }
        if info.type_count() > 0 {
            return match (info.page_type().level(), info.page_type()) {
                (Some(level), _) if info.validated() => self.mod_entry(frame, level, index, Pte(val), fd, preserve_ad),
                // Plain guest data mapped writable somewhere: no rules apply.
                (None, PageType::Writable) => {
                    self.write_entry(frame, index, val);
                    Ok(())
                }
                _ => Err(self.refuse(Errno::EINVAL, "frame is neither a validated table nor writable data")),
            };
        }
        // Untyped: it may be written only if it can take the writable type.
        self.get_simple_type(frame, PageType::Writable)
            .map_err(|_| self.refuse(Errno::EINVAL, "frame cannot be writable"))?;
        self.write_entry(frame, index, val);
        self.put_type(frame);
        Ok(())
    }
}
