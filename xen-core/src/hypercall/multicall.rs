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

use super::{Action, Args, Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::hypercall::HypercallNr;
use abi::multicall::MULTICALL_ENTRY_SIZE;
use abi::{Errno, GuestVa};

/// Cost of one entry in [`MmHooks::preempt_batch`] units (page-table
/// entries' worth of work), on top of the entry's own work: a list of
/// cheap entries is preempted every 1024 entries.
const ENTRY_COST: u32 = 8;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `multicall(call_list, nr_calls)`. A continuation rewrites `a` to the
    /// first entry still to run and the number left.
    #[inline(never)]
    pub(super) fn multicall(&mut self, a: &mut Args) -> (Result<u64, Errno>, Action) {
        let list = a[0];
        let n = u64::from(a[1] as u32);
        if !GuestVa(list).range_is_guest_accessible(n * MULTICALL_ENTRY_SIZE) {
            return (Err(Errno::EFAULT), Action::Continue);
        }
        for i in 0..n {
            let at = list + i * MULTICALL_ENTRY_SIZE;
            if i != 0 && self.mm.hooks.preempt_batch(ENTRY_COST) {
                return Self::continue_at(a, at, n - i, Action::Continue);
            }
            let mut raw = [0u8; 64];
            if self.mem().read(at, &mut raw).is_err() {
                return (Err(Errno::EFAULT), Action::Continue);
            }
            let word = |w: usize| u64::from_le_bytes(raw[w * 8..w * 8 + 8].try_into().unwrap_or([0; 8]));
            let op = word(0);
            let mut args: Args = core::array::from_fn(|k| word(2 + k));
            let (result, action) = if op == HypercallNr::MULTICALL.0 {
                (Err(Errno::EINVAL), Action::Continue)
            } else {
                self.perform(op, &mut args)
            };
            if op == HypercallNr::IRET.0 {
                // Best effort, as on Xen: the list ends whatever happens.
                let _ = self.mem().write_u64(at + 8, self.ctx.gpr[crate::domain::vcpu::reg::RAX]);
                return (result, action);
            }
            if let Action::Crash(_) = action {
                return (Ok(0), action);
            }
            if result == Err(Errno::ERESTART) {
                // The entry's continuation goes back into the guest's list.
                let mut back = [0u8; 56];
                back[..8].copy_from_slice(&op.to_le_bytes());
                for (k, v) in args.iter().enumerate() {
                    back[16 + k * 8..24 + k * 8].copy_from_slice(&v.to_le_bytes());
                }
                back[8..16].copy_from_slice(&op.to_le_bytes());
                if self.mem().write(at, &back).is_err() {
                    return (Err(Errno::EFAULT), Action::Continue);
                }
                return Self::continue_at(a, at, n - i, action);
            }
            let value = match result {
                Ok(v) => v,
                Err(e) => self.refused(op, e),
            };
            if self.mem().write_u64(at + 8, value).is_err() {
                return (Err(Errno::EFAULT), Action::Continue);
            }
            if action != Action::Continue {
                if i + 1 < n {
                    return Self::continue_at(a, at + MULTICALL_ENTRY_SIZE, n - i - 1, action);
                }
                return (Ok(0), action);
            }
        }
        (Ok(0), Action::Continue)
    }

    /// The multicall's own continuation: `left` entries from `at`.
    fn continue_at(a: &mut Args, at: u64, left: u64, action: Action) -> (Result<u64, Errno>, Action) {
        a[0] = at;
        a[1] = left;
        (Err(Errno::ERESTART), action)
    }
}
