//! The per-table L1 loops of validation and deferred devalidation, for an
//! L1 whose remaining slots all fit the preemption budget (the common
//! case: a whole table is 512 entries, the budget 8192).
//!
//! They do what the per-entry walks of [`super::validate`] and
//! [`super::deferred`] do, entry for entry and check for check, but:
//! - the budget is asked once per table ([`MmHooks::budget_room`]) and
//!   charged once for the present entries done, leaving it exactly where
//!   one [`MmHooks::preempt`] per present entry would have (which could
//!   not have preempted, since they all fit);
//! - each entry is read once and its present bit tested in place (runs of
//!   empty slots are still skipped eight at a time);
//! - the common entry (a frame of the table's owner whose references are
//!   taken or dropped in one metadata access, [`PageInfo::try_get_plain`],
//!   [`PageInfo::try_put_plain`]) is handled in an inner loop with no call,
//!   and anything else leaves it for the general per-entry code.
//!
//! Host tests (`tests/l1_walk_tests.rs`) compare both with the per-entry
//! walks on random tables.
//!
//! [`PageInfo::try_get_plain`]: super::PageInfo::try_get_plain
//! [`PageInfo::try_put_plain`]: super::PageInfo::try_put_plain

use super::model::{Mm, MmHooks};
use super::pte::{Pte, L1_DISALLOWED};
use super::test_modes::{injected, Fault};
use super::{PageInfo, PhysAddr, PhysMemory};
use abi::mmu::pte::{GLOBAL, USER};
use abi::{DomId, Errno, Mfn};

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Validates the entries of L1 `table` (owned by `owner`) in
    /// `from..end`, all of which fit the budget: returns the index reached
    /// (`end` when all are done) and, if it stopped early, the refusal of
    /// the entry at that index. Entries before it hold their references
    /// and carry their §3.5 adjustments.
    #[inline(never)]
    pub(crate) fn validate_l1_in_budget(
        &mut self,
        table: Mfn,
        owner: DomId,
        from: u16,
        end: u16,
    ) -> (u16, Result<(), Errno>) {
        debug_assert!(u32::from(end - from) <= self.hooks.budget_room());
        let end = end as usize;
        let mut done = 0u32;
        let mut i = from as usize;
        let r = loop {
            let (stop, n) = plain_gets(self.frames, self.mem, table, owner, i, end);
            done += n;
            i = stop;
            if i == end {
                break Ok(());
            }
            // The entry the loop left: the general checks, which may refuse.
            let e = Pte(self.read_entry(table, i));
            if let Err(err) = self.get_l1_refs(e, owner, owner) {
                break Err(err);
            }
            if !e.l1_already_adjusted() {
                self.write_entry(table, i, e.adjusted(1).0);
            }
            i += 1;
        };
        self.hooks.charge(done);
        (i as u16, r)
    }

    /// Drops the references of the present entries of L1 `table` in
    /// `from..end`; returns how many there were (what a per-entry walk
    /// would have charged the budget).
    #[inline(always)]
    pub(crate) fn drop_l1_range(&mut self, table: Mfn, from: u16, end: u16) -> u32 {
        let end = end as usize;
        let mut done = 0u32;
        let mut i = from as usize;
        loop {
            // The flush clock moves only on the general path (a freed
            // frame's flush), so it is read again after each.
            let now = self.clock.stamp();
            let (stop, n) = plain_puts(self.frames, self.mem, table, now, i, end);
            done += n;
            if stop == end {
                return done;
            }
            self.put_l1_refs_slow(Pte(self.read_entry(table, stop)));
            i = stop + 1;
        }
    }
}

/// The validation loop's common entries, from `i` to `end`: returns where
/// it stopped (`end`, or a present entry the general path must decide,
/// nothing taken for it) and how many present entries it met, that one
/// included (`from..end` ≤ 512 entries, so the count fits). A plain entry is a frame of `owner` taken in one metadata
/// access ([`PageInfo::try_get_plain`]); its §3.5 adjustment is stored.
// Out of line, each loop alone in its function, so its pointers, bounds
// and counters stay in registers.
#[inline(never)]
fn plain_gets<M: PhysMemory>(
    frames: &mut [PageInfo],
    mem: &mut M,
    table: Mfn,
    owner: DomId,
    from: usize,
    end: usize,
) -> (usize, u32) {
    // The loop steps a negative byte offset up to zero from the end, not
    // an index: one register, and the step's own flags end the loop.
    let stop = table.to_maddr() + end as u64 * 8;
    let mut off = (from as i64 - end as i64) * 8;
    let index = |off: i64| (end as i64 + off / 8) as usize;
    // `from` plus the empty slots skipped (counted where they are skipped,
    // off the dense path): the present entries met are the index reached
    // less this.
    let mut uncounted = from;
    while off != 0 {
        let at = PhysAddr(stop.wrapping_add(off as u64));
        let e = Pte(mem.read_u64(at));
        if !e.present() {
            // From this slot, not the next: an empty table is then scanned
            // in aligned groups of eight.
            let (i, next) = (index(off), mem.next_present(table, index(off), end));
            uncounted += next - i;
            off = (next as i64 - end as i64) * 8;
            continue;
        }
        let plain = e.0 & L1_DISALLOWED == 0
            && frames.get_mut(e.mfn().0 as usize).is_some_and(|f| f.try_get_plain(owner, e.writable()));
        if !plain {
            let i = index(off);
            return (i, (i + 1 - uncounted) as u32);
        }
        // Xen stores the guest-visible adjustments (§3.5) as it goes; a
        // user mapping already made global is told by one mask.
        if e.0 & (USER | GLOBAL) != USER | GLOBAL && !e.l1_already_adjusted() {
            mem.write_u64(at, e.adjusted(1).0);
        }
        off += 8;
    }
    (end, (end - uncounted) as u32)
}

/// The devalidation loop's common entries, from `i` to `end`: as
/// [`plain_gets`], for dropping ([`PageInfo::try_put_plain`], stamping
/// each frame with `now`: its translation may still be cached).
#[inline(never)]
fn plain_puts<M: PhysMemory>(
    frames: &mut [PageInfo],
    mem: &M,
    table: Mfn,
    now: u16,
    from: usize,
    end: usize,
) -> (usize, u32) {
    if injected(Fault::WritableTableMapping) {
        // Planted (tests only): every entry takes the general path.
        let i = mem.next_present(table, from, end);
        return (i, u32::from(i < end));
    }
    let stop = table.to_maddr() + end as u64 * 8;
    let mut off = (from as i64 - end as i64) * 8;
    let index = |off: i64| (end as i64 + off / 8) as usize;
    let mut uncounted = from;
    while off != 0 {
        let e = Pte(mem.read_u64(PhysAddr(stop.wrapping_add(off as u64))));
        if !e.present() {
            let (i, next) = (index(off), mem.next_present(table, index(off), end));
            uncounted += next - i;
            off = (next as i64 - end as i64) * 8;
            continue;
        }
        if !frames.get_mut(e.mfn().0 as usize).is_some_and(|f| f.try_put_plain(e.writable(), now)) {
            let i = index(off);
            return (i, (i + 1 - uncounted) as u32);
        }
        off += 8;
    }
    (end, (end - uncounted) as u32)
}
