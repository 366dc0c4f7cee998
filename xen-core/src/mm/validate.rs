//! Validation and devalidation of page tables, and the references held by
//! individual entries (fact sheet §3.7, §3.8, §7).
//!
//! Both walks are iterative with a small fixed stack, never recursive on the
//! hypervisor stack (XSA-45, XSA-240). Validation only descends into tables
//! whose type count was zero, one level lower each time, so it is at most
//! four deep. Devalidation can also follow a same-level (linear) entry, but
//! the one-level rule (a table either holds same-level entries or is
//! referenced by them, never both) allows at most one such hop per level,
//! so it is at most eight deep.

use super::model::{Mm, MmHooks, RefError};
use super::page_info::{PageType, MAX_COUNT};
use super::pte::{Pte, L1_DISALLOWED};
use super::test_modes::{injected, table_entries, Fault};
use super::PhysMemory;
use crate::util::FixedVec;
use abi::{DomId, Errno, Mfn};

/// L4 slots owned by the hypervisor.
pub const HV_SLOTS: core::ops::RangeInclusive<usize> = abi::HYPERVISOR_L4_FIRST_SLOT..=abi::HYPERVISOR_L4_LAST_SLOT;

/// Whether entry `index` of an L`level` table belongs to the hypervisor.
pub fn is_hv_slot(level: u8, index: usize) -> bool {
    level == 4 && HV_SLOTS.contains(&index)
}

/// MMIO frames the hypervisor keeps for itself (I/O APIC, local APIC):
/// never mappable by guests, the hardware domain included.
pub const HYPERVISOR_MMIO: [u64; 2] = [0xFEC00, 0xFEE00];

/// What taking an upper-level entry's references still requires.
pub(crate) enum UpperRef {
    /// All references are held.
    Done,
    /// A general reference on this lower table is held; it has type count
    /// zero and must be validated at the next level down.
    Validate(Mfn),
}

#[derive(Clone, Copy, Default)]
struct ValidateFrame {
    mfn: Mfn,
    level: u8,
    next: u16,
    prev_type: Option<PageType>,
    prev_validated: bool,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct DropFrame {
    mfn: Mfn,
    level: u8,
    next: u16,
    end: u16,
    /// Clear "validated" when done (a table whose type count reached zero).
    devalidate: bool,
    /// Drop the general reference its referencing entry held when done.
    release: bool,
}

pub(crate) const DROP_DEPTH: usize = 9;

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// The first slot in `from..to` of L`level` table `table` that holds a
    /// present entry the guest owns (hypervisor slots skipped), or `to`.
    #[inline(always)]
    pub(crate) fn next_slot(&self, table: Mfn, level: u8, from: u16, to: u16) -> u16 {
        let (from, to) = (from as usize, to as usize);
        let mut i = self.mem.next_present(table, from.min(to), to);
        if level == 4 && HV_SLOTS.contains(&i) {
            i = self.mem.next_present(table, (HV_SLOTS.end() + 1).min(to), to);
        }
        i as u16
    }

    /// [`Mm::get_l1_refs`] for an entry of `owner`'s own table mapping
    /// `owner`'s frame, trying the one-access common case first.
    #[inline(always)]
    pub(crate) fn get_own_l1_refs(&mut self, e: Pte, owner: DomId) -> Result<(), Errno> {
        if e.0 & L1_DISALLOWED == 0 && self.try_get_plain_l1_refs(e, owner) {
            return Ok(());
        }
        self.get_l1_refs(e, owner, owner)
    }

    /// The references of present L1 entry `e` without cache bits, mapping
    /// a RAM frame of `owner`'s that is not a hypervisor frame, in one
    /// metadata access, if that is all they take; `false` (nothing taken)
    /// sends the entry to [`Mm::get_l1_refs`].
    #[inline(always)]
    pub(crate) fn try_get_plain_l1_refs(&mut self, e: Pte, owner: DomId) -> bool {
        debug_assert_eq!(e.0 & L1_DISALLOWED, 0);
        self.frames.get_mut(e.mfn().0 as usize).is_some_and(|info| info.try_get_plain(owner, e.writable()))
    }

    /// References for a present L1 entry in a table owned by `pt_owner`,
    /// mapping a frame that must belong to `fd`.
    pub(crate) fn get_l1_refs(&mut self, e: Pte, fd: DomId, pt_owner: DomId) -> Result<(), Errno> {
        let io_caps = |mm: &Self, d: DomId| mm.domain(d).is_some_and(|d| d.io_caps);
        if e.has_disallowed_flags(1, io_caps(self, pt_owner)) {
            return Err(self.refuse(Errno::EINVAL, "L1 entry has disallowed flags"));
        }
        let mfn = e.mfn();
        if self.is_mmio(mfn) {
            if e.mfn_all_ones() {
                return Err(self.refuse(Errno::EINVAL, "L1 entry maps the all-ones MMIO frame"));
            }
            let fd = if fd == DomId::IO { pt_owner } else { fd };
            // MMIO mappings hold no references; the hypervisor's own
            // interrupt controllers are never granted.
            let allowed = io_caps(self, fd) && io_caps(self, pt_owner) && !HYPERVISOR_MMIO.contains(&mfn.0);
            return if allowed {
                Ok(())
            } else {
                Err(self.refuse(Errno::EPERM, "L1 entry maps MMIO without I/O rights"))
            };
        }
        self.get_page(mfn, fd)
            .map_err(|_| self.refuse(Errno::EBUSY, "L1 entry maps a frame the domain does not own"))?;
        // A frame the hypervisor itself accesses write-back (shared_info)
        // must not gain a conflicting cache type through a guest alias.
        if self.info(mfn).xen_heap() && e.0 & L1_DISALLOWED != 0 {
            self.put_page(mfn);
            return Err(self.refuse(Errno::EACCES, "L1 entry gives a hypervisor-heap frame a cache type"));
        }
        if e.writable() && self.get_simple_type(mfn, PageType::Writable).is_err() {
            if injected(Fault::WritableTableMapping) {
                // Planted (tests only): the writable mapping of a typed frame
                // is let through without its type reference.
                return Ok(());
            }
            self.put_page(mfn);
            return Err(self.refuse(Errno::EBUSY, "L1 entry maps a page table or descriptor page writable"));
        }
        Ok(())
    }

    /// Drops the references of a present L1 entry.
    #[inline(always)]
    pub(crate) fn put_l1_refs(&mut self, e: Pte) {
        // An empty slot holds nothing: no call (it was ~9 instructions per
        // entry of every map over an empty slot).
        if !e.present() {
            return;
        }
        if !injected(Fault::WritableTableMapping) {
            let now = self.clock.stamp();
            if let Some(info) = self.frames.get_mut(e.mfn().0 as usize) {
                if info.try_put_plain(e.writable(), now) {
                    return;
                }
            }
        }
        self.put_l1_refs_slow(e);
    }

    /// The common case of [`Mm::put_l1_refs`] in one metadata access
    /// ([`PageInfo::try_put_plain`]), or nothing to drop; `false`, with
    /// nothing changed, sends the entry to [`Mm::put_l1_refs_slow`]. (Not
    /// shared with `put_l1_refs`, whose callers' code it would change.)
    ///
    /// [`PageInfo::try_put_plain`]: super::page_info::PageInfo::try_put_plain
    #[inline(always)]
    pub(crate) fn try_put_plain_l1_refs(&mut self, e: Pte) -> bool {
        if !e.present() {
            return true;
        }
        if injected(Fault::WritableTableMapping) {
            return false;
        }
        let now = self.clock.stamp();
        match self.frames.get_mut(e.mfn().0 as usize) {
            Some(info) => info.try_put_plain(e.writable(), now),
            None => false,
        }
    }

    #[inline(never)]
    pub(crate) fn put_l1_refs_slow(&mut self, e: Pte) {
        let mfn = e.mfn();
        if !e.present() || self.is_mmio(mfn) {
            return;
        }
        // The CPU may still hold the translation this entry gave.
        self.stamp(mfn);
        if e.writable() && !(injected(Fault::WritableTableMapping) && self.info(mfn).page_type() != PageType::Writable)
        {
            self.put_type(mfn);
        }
        self.put_page(mfn);
    }

    /// References for a present entry of L`level` table `table` (level 2–4).
    pub(crate) fn get_upper_refs(&mut self, table: Mfn, level: u8, e: Pte) -> Result<UpperRef, Errno> {
        if e.has_disallowed_flags(level, false) {
            return Err(self.refuse(Errno::EINVAL, "upper entry has disallowed flags"));
        }
        let target = e.mfn();
        if !self.is_ram(target) {
            return Err(self.refuse(Errno::EINVAL, "upper entry maps a frame that is not RAM"));
        }
        // shared_info is only ever data (see `get_simple_type`).
        if self.info(target).xen_heap() {
            return Err(self.refuse(Errno::EINVAL, "upper entry maps shared_info as a page table"));
        }
        if target == table {
            // A read-only self map is a linear page table needing no references.
            return if e.writable() {
                Err(self.refuse(Errno::EINVAL, "writable self-map"))
            } else {
                Ok(UpperRef::Done)
            };
        }
        let pt_owner = self.info(table).owner();
        self.get_page(target, pt_owner).map_err(|_: RefError| {
            self.refuse(Errno::EINVAL, "upper entry maps a frame the table's owner does not own")
        })?;
        self.settle(target);
        let t = *self.info(target);
        if t.type_count() == 0 || (t.partial_root() && t.page_type() == PageType::table(level - 1)) {
            return Ok(UpperRef::Validate(target));
        }
        let ok = if t.page_type() == PageType::table(level - 1) {
            t.validated() && t.type_count() < MAX_COUNT
        } else if t.page_type() == PageType::table(level) {
            // Same-level (linear) reference: read-only, to a validated table,
            // and the one-level rule of XSA-240.
            let holder = self.info(table).linear();
            !e.writable()
                && t.validated()
                && t.type_count() < MAX_COUNT
                && (0..i16::MAX).contains(&holder)
                && t.linear() <= 0
                && t.linear() > i16::MIN
        } else {
            false
        };
        if !ok {
            self.put_page(target);
            return Err(self.refuse(Errno::EINVAL, "upper entry maps a frame of the wrong type"));
        }
        if t.page_type() == PageType::table(level) {
            let holder = self.info(table).linear();
            self.info_mut(table).set_linear(holder + 1);
            self.info_mut(target).set_linear(t.linear() - 1);
        }
        self.info_mut(target).set_type_count(t.type_count() + 1);
        Ok(UpperRef::Done)
    }

    fn begin_validation(&mut self, mfn: Mfn, level: u8) -> ValidateFrame {
        let info = *self.info(mfn);
        let prev_type = Some(info.page_type());
        if info.page_type() != PageType::table(level) {
            // Rules 1 and 3 of §10: no writable translation cached since its
            // last writable mapping went may outlive the checks below.
            self.flush_if_stale(mfn, Fault::NoTypeChangeFlush);
        }
        let i = self.info_mut(mfn);
        i.set_type(PageType::table(level));
        i.set_type_count(1);
        i.set_validated(false);
        ValidateFrame { mfn, level, next: 0, prev_type, prev_validated: info.validated() }
    }

    /// Types `root` (type count zero, general reference held by the caller)
    /// as an L`level` table and validates it and every untyped table below.
    /// On failure every reference taken is dropped and every type restored.
    ///
    /// Validation can be preempted ([`MmHooks::preempt`]): it then returns
    /// `ERESTART` with the tables on its path marked partial, and the
    /// caller's general reference on `root` stays with the partial state.
    /// Calling again on the partial root resumes where it stopped; the
    /// partial state's reference is dropped when it completes or fails.
    pub(crate) fn validate_table(&mut self, root: Mfn, level: u8) -> Result<(), Errno> {
        let mut stack: FixedVec<ValidateFrame, 4> = FixedVec::new();
        let resumed = self.info(root).partial_root();
        if resumed {
            self.rebuild_partial(root, level, &mut stack);
        } else {
            let first = self.begin_validation(root, level);
            let _ = stack.push(first);
        }
        let r = self.run_validation(&mut stack);
        match r {
            Err(e) if e == Errno::ERESTART => {
                let depth = stack.len();
                for (i, f) in stack.as_slice().iter().enumerate() {
                    self.info_mut(f.mfn).set_partial(true, i == 0, i + 1 < depth, f.next);
                }
                if resumed {
                    // The partial state already holds a reference: the
                    // caller's new one is not needed.
                    self.put_page(root);
                }
            }
            Err(_) => {
                self.unwind_validation(&mut stack);
                if resumed {
                    self.put_page(root);
                }
            }
            Ok(()) if resumed => self.put_page(root),
            Ok(()) => {}
        }
        r
    }

    /// Rebuilds the validation stack of a preempted validation: from the
    /// partial root, follow each table's entry at its progress index to the
    /// partial table below it.
    fn rebuild_partial(&mut self, root: Mfn, level: u8, stack: &mut FixedVec<ValidateFrame, 4>) {
        let mut mfn = root;
        let mut level = level;
        loop {
            let info = *self.info(mfn);
            let next = info.progress();
            self.info_mut(mfn).set_partial(false, false, false, 0);
            let _ = stack.push(ValidateFrame { mfn, level, next, prev_type: None, prev_validated: false });
            if !info.partial_child() || level == 1 || next >= table_entries() {
                return;
            }
            // The entries of a partial table cannot change, so the entry at
            // `progress` still leads to the table this one was waiting for.
            mfn = Pte(self.read_entry(mfn, next as usize)).mfn();
            level -= 1;
        }
    }

    /// Abandons a preempted validation (domain teardown): drops everything
    /// it had taken, as a failure would.
    pub(crate) fn abort_partial(&mut self, root: Mfn) {
        let level = self.info(root).page_type().level().unwrap_or(1);
        let mut stack: FixedVec<ValidateFrame, 4> = FixedVec::new();
        self.rebuild_partial(root, level, &mut stack);
        self.unwind_validation(&mut stack);
        self.put_page(root);
    }

    fn run_validation(&mut self, stack: &mut FixedVec<ValidateFrame, 4>) -> Result<(), Errno> {
        while let Some(&top) = stack.as_slice().last() {
            if top.next == table_entries() {
                if top.level == 4 {
                    for slot in HV_SLOTS {
                        let v = self.l4_template[slot - HV_SLOTS.start()];
                        self.write_entry(top.mfn, slot, v);
                    }
                }
                self.info_mut(top.mfn).set_validated(true);
                stack.remove(stack.len() - 1);
                if let Some(parent) = stack.as_mut_slice().last_mut() {
                    parent.next += 1;
                }
                continue;
            }
            if top.level == 1 {
                // The common level, in its own tight loop.
                let (next, r) = self.validate_l1_from(top.mfn, top.next);
                if let Some(f) = stack.as_mut_slice().last_mut() {
                    f.next = next;
                }
                r?;
                continue;
            }
            // Empty slots cost no budget: the work is per present entry.
            let index = self.next_slot(top.mfn, top.level, top.next, table_entries());
            if let Some(f) = stack.as_mut_slice().last_mut() {
                f.next = index;
            }
            if index == table_entries() {
                continue;
            }
            if self.hooks.preempt() {
                return Err(Errno::ERESTART);
            }
            let index = index as usize;
            let e = Pte(self.read_entry(top.mfn, index));
            let step = if top.level == 1 {
                let owner = self.info(top.mfn).owner();
                self.get_own_l1_refs(e, owner).map(|()| UpperRef::Done)
            } else {
                self.get_upper_refs(top.mfn, top.level, e)
            };
            // Xen stores the guest-visible adjustments (§3.5) as it goes; a
            // failed validation leaves them in place, as on Xen.
            let adjusted = e.adjusted(top.level);
            if step.is_ok() && adjusted != e {
                self.write_entry(top.mfn, index, adjusted.0);
            }
            match step {
                Ok(UpperRef::Done) => {
                    if let Some(f) = stack.as_mut_slice().last_mut() {
                        f.next += 1;
                    }
                }
                Ok(UpperRef::Validate(child)) => {
                    if self.info(child).partial_root() {
                        // Only reachable through another path while this
                        // table is partial, which the type checks forbid.
                        self.put_page(child);
                        return Err(self.refuse(Errno::EINVAL, "upper entry reaches a partially validated table"));
                    }
                    let frame = self.begin_validation(child, top.level - 1);
                    // Levels strictly decrease, so four frames always suffice.
                    let _ = stack.push(frame);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Validates the entries of L1 `table` from `from` on, as
    /// [`Mm::run_validation`] would one by one: returns the index reached
    /// (all entries: `table_entries()`) and, if it stopped early, why: the
    /// budget ran out before that entry (`ERESTART`) or the entry was
    /// refused. Entries before the index hold their references.
    #[inline(always)]
    fn validate_l1_from(&mut self, table: Mfn, from: u16) -> (u16, Result<(), Errno>) {
        let owner = self.info(table).owner();
        let end = table_entries();
        if u32::from(end - from) <= self.hooks.budget_room() {
            return self.validate_l1_in_budget(table, owner, from, end);
        }
        let mut i = from;
        loop {
            // Empty slots cost no budget: the work is per present entry.
            i = self.next_slot(table, 1, i, end);
            if i == end {
                return (end, Ok(()));
            }
            if self.hooks.preempt() {
                return (i, Err(Errno::ERESTART));
            }
            let e = Pte(self.read_entry(table, i as usize));
            if let Err(err) = self.get_own_l1_refs(e, owner) {
                return (i, Err(err));
            }
            // Xen stores the guest-visible adjustments (§3.5) as it goes.
            let adjusted = e.adjusted(1);
            if adjusted != e {
                self.write_entry(table, i as usize, adjusted.0);
            }
            i += 1;
        }
    }

    /// Undoes a failed validation: every frame on the stack drops the
    /// references of the entries it had accepted and gets its type back.
    fn unwind_validation(&mut self, stack: &mut FixedVec<ValidateFrame, 4>) {
        while !stack.is_empty() {
            let f = stack.remove(stack.len() - 1);
            self.drop_entries(f.mfn, f.level, 0, f.next, false);
            let info = self.info_mut(f.mfn);
            info.set_type_count(0);
            info.set_validated(f.prev_validated);
            if let Some(t) = f.prev_type {
                info.set_type(t);
            }
            if !stack.is_empty() {
                // The parent's entry held a general reference on this table.
                self.put_page(f.mfn);
            }
        }
    }

    /// Devalidates an L`level` table whose type count just reached zero.
    pub(crate) fn devalidate_table(&mut self, mfn: Mfn, level: u8) {
        self.drop_entries(mfn, level, 0, table_entries(), true);
    }

    /// Drops the references held by one entry value of L`level` table `table`.
    pub(crate) fn drop_entry(&mut self, table: Mfn, level: u8, e: Pte) {
        if level == 1 {
            // L1 entries reference no tables: no walk to set up.
            self.put_l1_refs(e);
            return;
        }
        let mut stack: FixedVec<DropFrame, DROP_DEPTH> = FixedVec::new();
        let defer = self.hooks.defer_devalidation();
        self.drop_one_with(&mut stack, table, level, e, defer);
        self.run_drops(&mut stack);
    }

    fn drop_entries(&mut self, mfn: Mfn, level: u8, start: u16, end: u16, devalidate: bool) {
        let mut stack: FixedVec<DropFrame, DROP_DEPTH> = FixedVec::new();
        let _ = stack.push(DropFrame { mfn, level, next: start, end, devalidate, release: false });
        self.run_drops(&mut stack);
    }

    pub(crate) fn run_drops(&mut self, stack: &mut FixedVec<DropFrame, DROP_DEPTH>) {
        while let Some(&top) = stack.as_slice().last() {
            if top.next >= top.end {
                stack.remove(stack.len() - 1);
                if top.devalidate {
                    self.info_mut(top.mfn).set_validated(false);
                }
                if top.release {
                    self.put_page(top.mfn);
                }
                continue;
            }
            let index = self.next_slot(top.mfn, top.level, top.next, top.end);
            if let Some(f) = stack.as_mut_slice().last_mut() {
                f.next = (index + 1).min(top.end);
            }
            if index == top.end {
                continue;
            }
            let e = Pte(self.read_entry(top.mfn, index as usize));
            self.drop_one(stack, top.mfn, top.level, e);
        }
    }

    pub(crate) fn drop_one(&mut self, stack: &mut FixedVec<DropFrame, DROP_DEPTH>, table: Mfn, level: u8, e: Pte) {
        self.drop_one_with(stack, table, level, e, false);
    }

    /// Drops one entry's references. With `defer_children`, a table below
    /// whose last type reference goes is queued for later devalidation
    /// instead of being walked now.
    pub(crate) fn drop_one_with(
        &mut self,
        stack: &mut FixedVec<DropFrame, DROP_DEPTH>,
        table: Mfn,
        level: u8,
        e: Pte,
        defer_children: bool,
    ) {
        if !e.present() {
            return;
        }
        if level == 1 {
            self.put_l1_refs(e);
            return;
        }
        let target = e.mfn();
        if !self.is_ram(target) {
            return;
        }
        // Paging-structure caches may still hold this entry, and linear or
        // self maps may have given translations of the table itself.
        self.stamp(target);
        if target == table {
            return;
        }
        let t = *self.info(target);
        if t.page_type() == PageType::table(level) {
            let holder = self.info(table).linear();
            self.info_mut(table).set_linear(holder - 1);
            self.info_mut(target).set_linear(t.linear() + 1);
        }
        let count = t.type_count() - 1;
        self.info_mut(target).set_type_count(count);
        let target_level = t.page_type().level().unwrap_or(0);
        if count == 0 && target_level > 0 && t.validated() && defer_children && self.defer(target) {
            // The queue holds its own reference now.
            self.put_page(target);
        } else if count == 0 && target_level > 0 && t.validated() {
            let frame = DropFrame {
                mfn: target,
                level: target_level,
                next: 0,
                end: table_entries(),
                devalidate: true,
                release: true,
            };
            // Bounded by the one-level rule (module docs); the general
            // reference keeps the table alive until its walk completes.
            if stack.push(frame).is_err() {
                unreachable_depth();
            }
        } else {
            self.put_page(target);
        }
    }
}

#[cold]
fn unreachable_depth() {
    debug_assert!(false, "devalidation deeper than the one-level rule allows");
}
