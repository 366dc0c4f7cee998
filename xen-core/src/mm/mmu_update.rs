//! `mmu_update` (hypercall 1): checked writes of page-table entries and of
//! the machine-to-physical table (fact sheet §3).

use super::entry_update::L1Plain;
use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::pte::Pte;
use super::requests::{BatchResult, RequestSource};
use super::PhysMemory;
use abi::mmu::*;
use abi::{DomId, Errno, Mfn};

/// No table frame held: a request's frame number has at most 52 bits.
const NO_FRAME: Mfn = Mfn(u64::MAX);

/// The bits of a request's `ptr` a batch's key is compared with: the frame
/// and command bits 0 and 2, so that a key (a frame number shifted up, low
/// bits clear) matches exactly `MMU_NORMAL_PT_UPDATE` and
/// `MMU_PT_UPDATE_PRESERVE_AD` requests on its frame.
const KEY_MASK: u64 = !0xFFA;
const _: () = assert!(MMU_NORMAL_PT_UPDATE == 0 && MMU_PT_UPDATE_PRESERVE_AD == 2);

/// No key: bits the mask clears, so no request matches it.
const NO_KEY: u64 = !KEY_MASK;

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
        let (fd, pfd) = match self.batch_domains(caller, foreigndom) {
            Ok(d) => d,
            Err(e) => return BatchResult::refused(e),
        };
        // Per call, not per request: both depend only on the caller, FD
        // and PFD. A refusal still belongs to the first request, after its
        // read (a fault there is EFAULT).
        if count == 0 {
            return BatchResult { done: 0, result: Ok(()) };
        }
        if !(self.may_act_on(caller, fd) && self.may_act_on(caller, pfd)) {
            return BatchResult::refused(match reqs.get(0) {
                Ok(_) => self.refuse(Errno::EPERM, "unprivileged caller names another domain"),
                Err(e) => e,
            });
        }
        // A general reference on the table frame of the last page-table
        // request, kept while consecutive requests write the same frame (a
        // batch usually fills one table). It changes nothing the requests
        // see: a request never drops the frame's last other reference (a
        // table is held by whatever holds its type, a data frame by its
        // allocation), so the per-request reference Xen takes would always
        // succeed, and the frame's count never exceeds what that one would
        // make it.
        let mut held = NO_FRAME;
        // `held`'s key ([`KEY_MASK`]) while it is a validated L1 and FD is
        // PFD, else NO_KEY. The common request, another entry of that L1
        // mapping PFD's own frame, is done inline with the key's compare as
        // its frame, command and type tests: those facts of `held` hold
        // while only plain references move ([`Mm::mod_l1_entry_plain`]);
        // anything else is tested again the general way, which sets the key
        // anew.
        let mut key = NO_KEY;
        // The preemption test between requests ([`MmHooks::preempt_batch`]
        // with cost 1, never before the first) folded into the loop's end
        // test: the hooks are told of the tests up to index `told`, and
        // those before `stop` would all say no. The general way may use
        // the budget, so it is told first and asked again after.
        let mut told = 0;
        let mut stop = self.batch_stop(told, count);
        let (mut done, mut result) = (count, Ok(()));
        for i in 0..count {
            if i >= stop {
                // Never true for the first request: each call progresses.
                self.tell_tests(told, i - 1);
                told = i;
                if self.hooks.preempt_batch(1) {
                    (done, result) = (i, Err(Errno::ERESTART));
                    break;
                }
                stop = self.batch_stop(told, count);
            }
            let req = match reqs.get(i) {
                Ok(req) => req,
                Err(e) => {
                    (done, result) = (i, Err(e));
                    break;
                }
            };
            let plain = req.ptr & KEY_MASK == key && {
                let index = ((req.ptr & 0xFFF) >> 3) as usize;
                let preserve_ad = req.ptr & 7 == MMU_PT_UPDATE_PRESERVE_AD;
                debug_assert!(self.info(Mfn(req.ptr >> 12)).is_validated_l1() && fd == pfd);
                match self.mod_l1_entry_plain(Mfn(req.ptr >> 12), pfd, index, Pte(req.val), preserve_ad) {
                    L1Plain::Done => true,
                    L1Plain::DoneSlow => {
                        key = NO_KEY;
                        true
                    }
                    L1Plain::Refer => false,
                }
            };
            if !plain {
                self.tell_tests(told, i);
                told = i;
                match self.mmu_update_general(caller, fd, pfd, req, &mut held) {
                    Ok(k) => key = k,
                    Err(e) => {
                        (done, result) = (i, Err(e));
                        break;
                    }
                }
                stop = self.batch_stop(told, count);
            }
        }
        // The tests made since the hooks were last told: up to the last
        // request's, or the failed one's.
        self.tell_tests(told, done - u32::from(result.is_ok()));
        if held != NO_FRAME {
            self.put_page(held);
        }
        BatchResult { done, result }
    }

    /// Tells the hooks of a batch's preemption tests after index `told` up
    /// to index `to`, all of which said no ([`Mm::batch_stop`]). Out of line,
    /// so that the loop keeps no count of them.
    #[inline(never)]
    fn tell_tests(&mut self, told: u32, to: u32) {
        self.hooks.charge_batch(to - told);
    }

    /// Where a batch of `count` requests whose preemption tests the hooks
    /// were told of up to index `told` must next ask them: the tests
    /// after `told` and before the returned index would all say no.
    #[inline(always)]
    fn batch_stop(&self, told: u32, count: u32) -> u32 {
        told.saturating_add(self.hooks.batch_room()).saturating_add(1).min(count)
    }

    /// FD and PFD of a batch's `foreigndom`.
    fn batch_domains(&self, caller: DomId, foreigndom: u32) -> Result<(DomId, DomId), Errno> {
        let fd = self.resolve_domid(caller, foreigndom as u16)?;
        let pfd = match (foreigndom >> 16) as u16 {
            0 => caller,
            raw => match self.resolve_domid(caller, raw - 1)? {
                DomId::IO => return Err(self.refuse(Errno::ESRCH, "PFD is DOMID_IO")),
                d => d,
            },
        };
        Ok((fd, pfd))
    }

    /// [`Mm::mmu_update`] without the batch's key and its folded preemption
    /// tests: every request the general way, every test asked. The host
    /// tests' reference for the batch.
    #[cfg(test)]
    pub(crate) fn mmu_update_per_request(&mut self, caller: DomId, reqs: &[MmuUpdate], foreigndom: u32) -> BatchResult {
        if let Err(e) = self.settle_queued_first(caller) {
            return BatchResult::refused(e);
        }
        let mut r = BatchResult { done: reqs.len() as u32, result: Ok(()) };
        match self.batch_domains(caller, foreigndom) {
            Err(e) => r = BatchResult::refused(e),
            Ok((fd, pfd)) => {
                let allowed = self.may_act_on(caller, fd) && self.may_act_on(caller, pfd);
                let mut held = NO_FRAME;
                for (i, &req) in reqs.iter().enumerate() {
                    if i != 0 && self.hooks.preempt_batch(1) {
                        r = BatchResult { done: i as u32, result: Err(Errno::ERESTART) };
                        break;
                    }
                    let one = if allowed {
                        self.mmu_update_one(caller, fd, pfd, req, &mut held)
                    } else {
                        Err(self.refuse(Errno::EPERM, "unprivileged caller names another domain"))
                    };
                    if let Err(e) = one {
                        r = BatchResult { done: i as u32, result: Err(e) };
                        break;
                    }
                }
                if held != NO_FRAME {
                    self.put_page(held);
                }
            }
        }
        self.settle_queued_after(caller, ((foreigndom >> 16) as u16).wrapping_sub(1));
        r
    }

    /// [`Mm::mmu_update_one`] out of line, for the batch's requests other
    /// than the common one, and the batch's key for the next request
    /// ([`KEY_MASK`]): `held`'s when it is a validated L1 and FD is PFD.
    #[inline(never)]
    fn mmu_update_general(
        &mut self,
        caller: DomId,
        fd: DomId,
        pfd: DomId,
        req: MmuUpdate,
        held: &mut Mfn,
    ) -> Result<u64, Errno> {
        self.mmu_update_one(caller, fd, pfd, req, held)?;
        // `held` is RAM of PFD's (its reference was taken).
        Ok(if fd == pfd && *held != NO_FRAME && self.info(*held).is_validated_l1() { held.0 << 12 } else { NO_KEY })
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
