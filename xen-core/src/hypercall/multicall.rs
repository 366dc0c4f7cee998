//! `multicall` (13): a list of hypercalls run in one entry, with Xen's rules
//! (fact sheet §4.1). Each entry goes through the same dispatch as a direct
//! hypercall, with its arguments taken from the entry instead of registers,
//! and its return value is stored in the entry's `result`:
//!
//! * a multicall inside a multicall gets `-EINVAL` in its `result`; the
//!   outer list goes on;
//! * a list not wholly in guest space is `-EFAULT` with nothing run; an
//!   entry that cannot be read, or a `result` that cannot be written,
//!   stops the list with `-EFAULT` (earlier entries stay done);
//! * a failing entry does not stop the list: the multicall returns 0;
//! * between entries the list may be preempted: the multicall continues
//!   from the first entry not run;
//! * an entry preempted itself gets its continuation written back into the
//!   guest's list (`op`, rewritten `args`, `result` = `op`), and the
//!   multicall continues from it;
//! * `iret` ends the list (XSA-213): the multicall returns what `iret`
//!   restored, like a direct `iret`;
//! * an entry that makes the vCPU yield, block or shut down ends this
//!   slice: the rest of the list is a continuation run when it is next
//!   scheduled.

use super::guest_mem::CheckedArray;
use super::{Action, Args, Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::hypercall::HypercallNr;
use abi::multicall::MULTICALL_ENTRY_SIZE;
use abi::Errno;

/// Cost of one entry in [`MmHooks::preempt_batch`] units (page-table
/// entries' worth of work), on top of the entry's own work: a list of
/// cheap entries is preempted every 1024 entries.
const ENTRY_COST: u32 = 8;

/// Words in one `multicall_entry` (op, result, args[6]).
const ENTRY_WORDS: usize = (MULTICALL_ENTRY_SIZE / 8) as usize;

/// How one multicall entry ended, for the loop.
enum EntryEnd {
    /// On to the next entry.
    Next,
    /// The multicall returns this now.
    Return((Result<u64, Errno>, Action)),
    /// The entry succeeded and its action (yield, block, shutdown) ends
    /// this slice: the rest of the list continues later.
    Yielded(Action),
    /// The entry was preempted and its continuation written back: the
    /// multicall continues from it.
    Preempted(Action),
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `multicall(call_list, nr_calls)`. A continuation rewrites `a` to the
    /// first entry still to run and the number left.
    ///
    /// Each entry is one 7-word guest read and one 1-word result write,
    /// inlined `mov`s into a list range-checked once; a
    /// simple hypercall's entry is finished in its own arm of the dispatch
    /// ([`Call::route`]), a continuable one out of line.
    #[inline(always)]
    pub(super) fn multicall(&mut self, a: &mut Args) -> (Result<u64, Errno>, Action) {
        let list = a[0];
        let n = u64::from(a[1] as u32);
        // The whole list's range is checked once: each entry's read and
        // result write below is then plain `mov`s (`GuestMemory::load`).
        let Some(entries) = CheckedArray::<ENTRY_WORDS>::new(list, 0, n) else {
            return (Err(Errno::EFAULT), Action::Continue);
        };
        for i in 0..n {
            let Some(entry) = entries.element(i) else { break };
            let at = entry.va().0;
            if i != 0 && self.hv.mm.hooks.preempt_batch(ENTRY_COST) {
                return Self::continue_at(a, at, n - i, Action::Continue);
            }
            // op, result, args[0..5]: one guest access (args[5] is never
            // an argument of an implemented hypercall).
            let Some(e) = self.guest.load(entry.part::<0, 7>()) else {
                return (Err(Errno::EFAULT), Action::Continue);
            };
            let op = e[0];
            let args: Args = [e[2], e[3], e[4], e[5], e[6]];
            // The common end, a simple hypercall that succeeded and lets
            // the caller go on, leaves the dispatch as a value; anything
            // else is carried out of it to `entry_done`.
            let slow = core::cell::Cell::new(None);
            let fast = if op == HypercallNr::IRET.0 {
                let action = self.iret();
                slow.set(Some(((Ok(self.ctx.gpr[crate::domain::vcpu::reg::RAX]), action), None)));
                None
            } else {
                self.route(
                    op,
                    args,
                    |_, result, action| match (result, action) {
                        (Ok(v), Action::Continue) => Some(v),
                        other => {
                            slow.set(Some((other, None)));
                            None
                        }
                    },
                    |c| {
                        slow.set(Some(c.continuable_entry(op, args)));
                        None
                    },
                )
            };
            if let Some(v) = fast {
                if !self.guest.store(entry.part::<1, 1>(), &[v]) {
                    return (Err(Errno::EFAULT), Action::Continue);
                }
                continue;
            }
            // Only now is the slow end's (large) value moved out.
            let end = match slow.into_inner() {
                Some(((result, action), args)) => self.entry_done(at, op, args.as_ref(), result, action),
                None => EntryEnd::Next,
            };
            match end {
                EntryEnd::Next => {}
                EntryEnd::Return(r) => return r,
                EntryEnd::Yielded(action) if i + 1 < n => {
                    return Self::continue_at(a, at + MULTICALL_ENTRY_SIZE, n - i - 1, action);
                }
                EntryEnd::Yielded(action) => return (Ok(0), action),
                EntryEnd::Preempted(action) => return Self::continue_at(a, at, n - i, action),
            }
        }
        (Ok(0), Action::Continue)
    }

    /// A continuable hypercall's entry (a nested multicall gets
    /// `-EINVAL`): out of line, so that the simple entries' loop stays
    /// small. Returns its result and action, and its arguments as it left
    /// them.
    #[inline(never)]
    fn continuable_entry(&mut self, op: u64, mut args: Args) -> ((Result<u64, Errno>, Action), Option<Args>) {
        let r = if op == HypercallNr::MULTICALL.0 {
            (Err(Errno::EINVAL), Action::Continue)
        } else {
            self.perform_continuable(op, &mut args)
        };
        (r, Some(args))
    }

    /// The end of entry `op` at `at` other than the common one: its
    /// `result` written back, and what the loop does next. `args`: a
    /// continuable hypercall's arguments as it left them (a simple one
    /// leaves the entry's as they are).
    #[cold]
    #[inline(never)]
    fn entry_done(
        &mut self,
        at: u64,
        op: u64,
        args: Option<&Args>,
        result: Result<u64, Errno>,
        action: Action,
    ) -> EntryEnd {
        if op == HypercallNr::IRET.0 {
            // Best effort, as on Xen: the list ends whatever happens.
            let _ = self.mem().write_words(at + 8, &[self.ctx.gpr[crate::domain::vcpu::reg::RAX]]);
            return EntryEnd::Return((result, action));
        }
        if let Action::Crash(_) = action {
            return EntryEnd::Return((Ok(0), action));
        }
        let value = match result {
            Ok(v) => v,
            Err(e) => match self.entry_refused(at, op, args, e, action) {
                Ok(v) => v,
                Err(end) => return end,
            },
        };
        if self.mem().write_words(at + 8, &[value]).is_err() {
            return EntryEnd::Return((Err(Errno::EFAULT), Action::Continue));
        }
        if action != Action::Continue {
            return EntryEnd::Yielded(action);
        }
        EntryEnd::Next
    }

    /// An entry that failed with `e`: the value for its `result`, or, if
    /// it was preempted, its continuation written back into the guest's
    /// list (`op`, rewritten `args`, `result` = `op`; a simple hypercall's
    /// arguments are the entry's own) and the multicall continuing from
    /// it.
    #[cold]
    #[inline(never)]
    fn entry_refused(
        &mut self,
        at: u64,
        op: u64,
        args: Option<&Args>,
        e: Errno,
        action: Action,
    ) -> Result<u64, EntryEnd> {
        if e != Errno::ERESTART {
            return Ok(self.refused(op, e));
        }
        let written = match args {
            Some(a) => self.mem().write_words(at, &[op, op, a[0], a[1], a[2], a[3], a[4]]),
            None => self.mem().write_words(at + 8, &[op]),
        };
        if written.is_err() {
            return Err(EntryEnd::Return((Err(Errno::EFAULT), Action::Continue)));
        }
        Err(EntryEnd::Preempted(action))
    }

    /// The multicall's own continuation: `left` entries from `at`.
    fn continue_at(a: &mut Args, at: u64, left: u64, action: Action) -> (Result<u64, Errno>, Action) {
        a[0] = at;
        a[1] = left;
        (Err(Errno::ERESTART), action)
    }
}
