//! `mmuext_op` (hypercall 26): pinning, base pointers, TLB and cache
//! maintenance, and page clearing/copying (fact sheet §4).

use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::requests::{BatchResult, GuestRead, RequestSource};
use super::{PhysAddr, PhysMemory};
use abi::mmu::*;
use abi::{DomId, Errno, GuestVa, Mfn};

/// Which root table a base-pointer operation sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// The kernel-mode root (CR3).
    Kernel,
    /// The user-mode root.
    User,
}

/// What one operation costs in [`MmHooks::preempt_batch`] units (page-table
/// entries' worth of work): clearing or copying a page is 512 words, a
/// cache write-back far more.
const fn op_cost(cmd: u32) -> u32 {
    match cmd {
        MMUEXT_CLEAR_PAGE | MMUEXT_COPY_PAGE => 64,
        MMUEXT_FLUSH_CACHE | MMUEXT_FLUSH_CACHE_GLOBAL => 512,
        _ => 1,
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Processes `count` operations for `caller` on domain `foreigndom`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown domain or the caller's own numeric id, `EPERM`
    /// for an unprivileged caller naming another domain; per operation see
    /// [`Mm::mmuext_one`]; `ERESTART` when preempted between operations
    /// ([`MmHooks::preempt_batch`]), `done` saying where to resume.
    pub fn mmuext_op(
        &mut self,
        caller: DomId,
        ops: &mut impl RequestSource<MmuextOp>,
        count: u32,
        foreigndom: u16,
        guest: &mut impl GuestRead,
    ) -> BatchResult {
        if let Err(e) = self.settle_queued_first(caller) {
            return BatchResult::refused(e);
        }
        let r = self.mmuext_batch(caller, ops, count, foreigndom, guest);
        // Unpins queue their tables on the table owner (the caller or FD).
        self.settle_queued_after(caller, foreigndom);
        r
    }

    /// [`Mm::mmuext_op`] for the one operation `op` of `caller` on its own
    /// memory (`count` 1, `foreigndom` `DOMID_SELF`) when
    /// [`Mm::nothing_queued`] for it: the same work without the batch's
    /// domain resolution and loop (the one operation is never preempted
    /// before it runs).
    ///
    /// # Errors
    /// Those of [`Mm::mmuext_one`].
    #[inline(always)]
    pub fn mmuext_single(&mut self, caller: DomId, op: MmuextOp, guest: &mut impl GuestRead) -> Result<(), Errno> {
        debug_assert!(self.nothing_queued(caller));
        if op.cmd == MMUEXT_TLB_FLUSH_LOCAL {
            // Flushed now instead of at the hypercall's exit: the same for
            // the guest (nothing runs in between), and the exit has nothing
            // left to do. A flush queues nothing.
            self.flush_tlb_now();
            return Ok(());
        }
        self.mmuext_single_other(caller, op, guest)
    }

    /// [`Mm::mmuext_single`] for the other commands: out of line, so the
    /// flush's path keeps few registers.
    #[inline(never)]
    fn mmuext_single_other(&mut self, caller: DomId, op: MmuextOp, guest: &mut impl GuestRead) -> Result<(), Errno> {
        let r = self.mmuext_one(caller, caller, op, guest);
        // Unpins queue their tables on the caller.
        self.settle_queued(caller);
        r
    }

    fn mmuext_batch(
        &mut self,
        caller: DomId,
        ops: &mut impl RequestSource<MmuextOp>,
        count: u32,
        foreigndom: u16,
        guest: &mut impl GuestRead,
    ) -> BatchResult {
        let fd = match self.resolve_domid(caller, foreigndom) {
            Ok(d) if d == DomId::IO => return BatchResult::refused(self.refuse(Errno::EINVAL, "FD is DOMID_IO")),
            Ok(d) => d,
            Err(e) => return BatchResult::refused(e),
        };
        if !self.may_act_on(caller, fd) {
            return BatchResult::refused(self.refuse(Errno::EPERM, "unprivileged caller names another domain"));
        }
        for i in 0..count {
            let r = ops.get(i).and_then(|op| {
                // Between operations, never before the first: each call
                // progresses. (Pins count their validation work themselves.)
                if i != 0 && self.hooks.preempt_batch(op_cost(op.cmd)) {
                    return Err(Errno::ERESTART);
                }
                self.mmuext_one(caller, fd, op, guest)
            });
            if let Err(e) = r {
                return BatchResult { done: i, result: Err(e) };
            }
        }
        BatchResult { done: count, result: Ok(()) }
    }

    /// One `mmuext_op` operation.
    ///
    /// # Errors
    /// `EINVAL` for frames not owned by the domain, pinning twice, unpinning
    /// an unpinned frame, type conflicts and validation failures (which may
    /// also give `EBUSY` or `EPERM` from nested L1 entries); `EPERM` for
    /// base-pointer, flush and cache operations on another domain; `EACCES`
    /// for cache flushes by domains without I/O resources; `EOPNOTSUPP` for
    /// (UN)MARK_SUPER; `EINVAL` for bad SET_LDT arguments; `ENOSYS` for
    /// unknown commands.
    pub fn mmuext_one(
        &mut self,
        caller: DomId,
        fd: DomId,
        op: MmuextOp,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        let mfn = Mfn(op.arg1);
        let local = || if fd == caller { Ok(()) } else { Err(Errno::EPERM) };
        match op.cmd {
            MMUEXT_PIN_L1_TABLE..=MMUEXT_PIN_L4_TABLE => self.pin(mfn, fd, PageType::table(op.cmd as u8 + 1)),
            MMUEXT_UNPIN_TABLE => self.unpin(mfn, fd),
            MMUEXT_NEW_BASEPTR => local().and_then(|()| self.set_root(caller, Root::Kernel, mfn)),
            MMUEXT_NEW_USER_BASEPTR => local().and_then(|()| self.set_root(caller, Root::User, mfn)),
            MMUEXT_TLB_FLUSH_LOCAL => local().map(|()| self.hooks.flush_local_tlb()),
            MMUEXT_INVLPG_LOCAL => local().map(|()| self.invlpg(op.arg1)),
            MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => {
                local()?;
                // One vCPU per domain: bit 0 of the first word selects it.
                let mask = guest.read_u64(op.arg2).ok_or_else(|| self.refuse(Errno::EINVAL, "unreadable vCPU mask"))?;
                if mask & 1 != 0 {
                    if op.cmd == MMUEXT_TLB_FLUSH_MULTI {
                        self.hooks.flush_local_tlb();
                    } else {
                        self.invlpg(op.arg1);
                    }
                }
                Ok(())
            }
            MMUEXT_TLB_FLUSH_ALL => local().map(|()| self.hooks.flush_domain_tlb(caller)),
            MMUEXT_INVLPG_ALL => local().map(|()| self.invlpg(op.arg1)),
            MMUEXT_FLUSH_CACHE | MMUEXT_FLUSH_CACHE_GLOBAL => {
                local()?;
                if !self.domain(caller).is_some_and(|d| d.io_caps) {
                    return Err(self.refuse(Errno::EACCES, "cache flush without I/O rights"));
                }
                self.hooks.flush_cache();
                Ok(())
            }
            MMUEXT_CLEAR_PAGE => self.with_writable(mfn, fd, |mm| mm.mem.zero_frame(mfn)),
            MMUEXT_COPY_PAGE => {
                let src = Mfn(op.arg2);
                self.get_page(src, fd).map_err(|_| self.refuse(Errno::EINVAL, "copy source not owned by FD"))?;
                let r = self.with_writable(mfn, fd, |mm| {
                    for i in 0..512 {
                        let v = mm.mem.read_u64(PhysAddr(src.to_maddr() + i * 8));
                        mm.mem.write_u64(PhysAddr(mfn.to_maddr() + i * 8), v);
                    }
                });
                self.put_page(src);
                r
            }
            MMUEXT_SET_LDT => local().and_then(|()| self.set_ldt(caller, op.arg1, op.arg2 as u32)),
            MMUEXT_MARK_SUPER | MMUEXT_UNMARK_SUPER => Err(self.refuse(Errno::EOPNOTSUPP, "superpages not supported")),
            _ => Err(self.refuse(Errno::ENOSYS, "unknown mmuext command")),
        }
    }

    fn invlpg(&mut self, va: u64) {
        // Addresses outside the guest range are silently ignored.
        if GuestVa(va).is_guest_accessible() {
            self.hooks.invlpg_local(va);
        }
    }

    /// Runs `f` while holding a general and a writable type reference on
    /// `mfn`, which must belong to `owner`.
    fn with_writable(&mut self, mfn: Mfn, owner: DomId, f: impl FnOnce(&mut Self)) -> Result<(), Errno> {
        self.get_page(mfn, owner).map_err(|_| self.refuse(Errno::EINVAL, "frame not owned by FD"))?;
        if self.get_simple_type(mfn, PageType::Writable).is_err() {
            self.put_page(mfn);
            return Err(self.refuse(Errno::EINVAL, "frame cannot be writable"));
        }
        f(self);
        self.put_page_and_type(mfn);
        Ok(())
    }

    fn pin(&mut self, mfn: Mfn, owner: DomId, ty: PageType) -> Result<(), Errno> {
        self.get_page(mfn, owner).map_err(|_| self.refuse(Errno::EINVAL, "pinned frame not owned by FD"))?;
        if let Err(e) = self.get_type(mfn, ty) {
            // A preempted validation keeps the reference; it resumes on retry.
            if e != Errno::ERESTART {
                self.put_page(mfn);
                self.refuse(e, "frame cannot take the table type");
            }
            return Err(e);
        }
        if self.info(mfn).pinned() {
            self.put_page_and_type(mfn);
            return Err(self.refuse(Errno::EINVAL, "table already pinned"));
        }
        self.info_mut(mfn).set_pinned(true);
        Ok(())
    }

    fn unpin(&mut self, mfn: Mfn, owner: DomId) -> Result<(), Errno> {
        self.get_page(mfn, owner).map_err(|_| self.refuse(Errno::EINVAL, "unpinned frame not owned by FD"))?;
        if !self.info(mfn).pinned() {
            self.put_page(mfn);
            return Err(self.refuse(Errno::EINVAL, "table not pinned"));
        }
        self.info_mut(mfn).set_pinned(false);
        self.put_page_and_type(mfn);
        self.put_page(mfn);
        Ok(())
    }

    /// Makes `mfn` the caller's kernel or user root. For the user root,
    /// MFN 0 means "none".
    pub fn set_root(&mut self, dom: DomId, which: Root, mfn: Mfn) -> Result<(), Errno> {
        let new = if which == Root::User && mfn.0 == 0 {
            None
        } else {
            self.get_page(mfn, dom).map_err(|_| self.refuse(Errno::EINVAL, "new root not owned by the domain"))?;
            if let Err(e) = self.get_type(mfn, PageType::L4) {
                if e != Errno::ERESTART {
                    self.put_page(mfn);
                    self.refuse(e, "new root cannot be an L4");
                }
                return Err(e);
            }
            Some(mfn)
        };
        let d = self.domain_mut(dom);
        let old = match which {
            Root::Kernel => core::mem::replace(&mut d.kernel_root, new),
            Root::User => core::mem::replace(&mut d.user_root, new),
        };
        if let Some(old) = old {
            self.put_page_and_type(old);
        }
        if which == Root::Kernel {
            self.hooks.root_changed(dom);
        }
        Ok(())
    }
}
