//! Deferred devalidation (XSA-45): when the last type reference to a
//! page table goes under a hypercall, the table is queued on its owner
//! instead of being walked at once. The queue is worked off in slices at
//! the start of the owner's next page-table hypercalls (which are restarted
//! while work remains), and settled at once when the table is needed again.
//!
//! A queued table keeps type count zero and the references of its entries
//! from `progress` on; the queue holds a general reference so it stays
//! alive. Tables below it that lose their last type reference are queued in
//! turn and worked on first (the queue is a stack), so the work is flat and
//! the queue never holds more than one table per level of the tree.

use super::model::{Mm, MmHooks, DEFER_SLOTS};
use super::pte::Pte;
use super::test_modes::table_entries;
use super::validate::DROP_DEPTH;
use super::PhysMemory;
use crate::util::FixedVec;
use abi::{DomId, Errno, Mfn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Done,
    Preempted,
    Descended,
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Queues `mfn` (a table whose type count just reached zero) on its
    /// owner. False if the queue is full: the caller devalidates at once.
    pub(crate) fn defer(&mut self, mfn: Mfn) -> bool {
        let owner = self.info(mfn).owner();
        // A domain that is gone has no queue: its zombie tables go at once.
        let Some(d) = self.domains.get_mut(owner.0 as usize).filter(|d| d.id == owner && d.exists) else {
            return false;
        };
        if d.deferred_len == DEFER_SLOTS {
            return false;
        }
        d.deferred[d.deferred_len] = mfn;
        d.deferred_len += 1;
        let info = self.info_mut(mfn);
        info.set_deval(true, 0);
        // Cannot overflow: the caller holds a reference.
        info.set_count(info.count() + 1);
        true
    }

    fn unqueue(&mut self, mfn: Mfn) {
        let owner = self.info(mfn).owner();
        if let Some(d) = self.domains.get_mut(owner.0 as usize) {
            if let Some(pos) = d.deferred[..d.deferred_len].iter().position(|&m| m == mfn) {
                d.deferred.copy_within(pos + 1..d.deferred_len, pos);
                d.deferred_len -= 1;
                // Unused slots stay zero, so equal states compare equal.
                d.deferred[d.deferred_len] = Mfn(0);
            }
        }
    }

    /// Works on queued table `mfn` from its progress index. With
    /// `preemptible`, tables below are queued rather than walked, and the
    /// work stops when one is queued (it goes first) or the budget runs out.
    fn work_on(&mut self, mfn: Mfn, preemptible: bool) -> Progress {
        let level = self.info(mfn).page_type().level().unwrap_or(1);
        let owner = self.info(mfn).owner();
        let queued = |mm: &Self| mm.domain(owner).map_or(0, |d| d.deferred_len);
        let mut next = self.info(mfn).progress();
        let end = table_entries();
        if level == 1 && (!preemptible || u32::from(end - next) <= self.hooks.budget_room()) {
            // An L1 whose slots left all fit the budget: one tight walk, the
            // budget charged once for its present entries (L1 entries hold
            // no tables, so nothing can be queued on the way).
            let done = self.drop_l1_range(mfn, next, end);
            if preemptible {
                self.hooks.charge(done);
            }
            next = end;
        }
        let mut stack: FixedVec<_, DROP_DEPTH> = FixedVec::new();
        loop {
            // Empty slots cost no budget: the work is per present entry.
            let index = self.next_slot(mfn, level, next, table_entries());
            if index == table_entries() {
                break;
            }
            if preemptible && self.hooks.preempt() {
                self.info_mut(mfn).set_deval(true, index);
                return Progress::Preempted;
            }
            next = index + 1;
            let e = Pte(self.read_entry(mfn, index as usize));
            if level == 1 {
                // L1 entries hold no tables: nothing can be queued.
                self.put_l1_refs(e);
                continue;
            }
            let before = queued(self);
            self.drop_one_with(&mut stack, mfn, level, e, preemptible);
            self.run_drops(&mut stack);
            if queued(self) > before {
                self.info_mut(mfn).set_deval(true, next);
                return Progress::Descended;
            }
        }
        self.unqueue(mfn);
        let info = self.info_mut(mfn);
        info.set_deval(false, 0);
        info.set_validated(false);
        self.put_page(mfn);
        Progress::Done
    }

    /// Finishes the deferred devalidation of `mfn` now, if it has one:
    /// before the frame can take any type again.
    pub(crate) fn settle(&mut self, mfn: Mfn) {
        if self.is_ram(mfn) && self.info(mfn).deval() {
            let _ = self.work_on(mfn, false);
        }
    }

    /// Works off what a page-table hypercall's own unpins and entry changes
    /// queued on `dom`, as far as that hypercall's budget allows: the work
    /// is charged to the call that caused it, not to the domain's next,
    /// unrelated one. What the budget leaves stays queued (with its
    /// progress) for the next page-table hypercall, as before.
    #[inline(always)]
    pub(crate) fn settle_queued(&mut self, dom: DomId) {
        // One load on the common path: nothing queued.
        if self.domains.get(dom.0 as usize).is_some_and(|d| d.deferred_len > 0) {
            let _ = self.process_deferred(dom, true);
        }
    }

    /// Whether `dom` has no deferred devalidation queued, so
    /// [`Mm::process_deferred`] would do nothing for it.
    #[inline(always)]
    pub fn nothing_queued(&self, dom: DomId) -> bool {
        self.domains.get(dom.0 as usize).is_none_or(|d| d.deferred_len == 0)
    }

    /// [`Mm::process_deferred`] for `dom` at the start of a page-table
    /// hypercall, with the common case (nothing queued) in one load.
    ///
    /// # Errors
    /// `ERESTART` only.
    #[inline(always)]
    pub(crate) fn settle_queued_first(&mut self, dom: DomId) -> Result<(), Errno> {
        if self.nothing_queued(dom) {
            return Ok(());
        }
        self.process_deferred(dom, true)
    }

    /// [`Mm::settle_queued`] after a batch by `caller` whose tables belong
    /// to the caller or to the domain `raw` names (`DOMID_SELF` is the
    /// caller; an id the caller may not act on is left alone).
    #[inline(always)]
    pub(crate) fn settle_queued_after(&mut self, caller: DomId, raw: u16) {
        let other = DomId(raw);
        if other != DomId::SELF && other != caller && self.may_act_on(caller, other) {
            self.settle_queued(other);
        }
        self.settle_queued(caller);
    }

    /// Works off `dom`'s queue. With `preemptible`, stops with `ERESTART`
    /// when the budget runs out; the caller's hypercall is then restarted.
    ///
    /// # Errors
    /// `ERESTART` only.
    pub fn process_deferred(&mut self, dom: DomId, preemptible: bool) -> Result<(), Errno> {
        loop {
            let Some(d) = self.domain(dom) else { return Ok(()) };
            if d.deferred_len == 0 {
                return Ok(());
            }
            // Last in, first out: tables below before the table above.
            let top = d.deferred[d.deferred_len - 1];
            if self.work_on(top, preemptible) == Progress::Preempted {
                return Err(Errno::ERESTART);
            }
        }
    }
}
