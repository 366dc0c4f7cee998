//! `multicall` (13) for a PVH guest, with the PV multicall's rules
//! ([`crate::hypercall`]'s) on the PVH dispatch, as Xen runs an HVM
//! guest's list through its HVM hypercall table:
//!
//! * the list is a guest-virtual address like every PVH pointer; entries
//!   are Xen's `multicall_entry` (op, result, six arguments, 8 bytes each) from
//!   64-bit code and its compat form (4 bytes each) otherwise, as Xen's
//!   `hvm_do_multicall_call` picks by the vCPU's mode; there is no range
//!   check up front (Xen's `guest_handle_okay` passes every handle of an
//!   externally paged guest): an entry that cannot be read, or a `result`
//!   that cannot be written, stops the list with `-EFAULT` (earlier
//!   entries stay done);
//! * a multicall inside a multicall gets `-EINVAL` in its `result`;
//! * a failing entry does not stop the list: the multicall returns 0;
//! * between entries the list may be preempted: the multicall continues
//!   from the first entry not run (the guest's VMMCALL runs again with the
//!   rest, [`super::pvh_vcpu::HvmVcpu::restart`]);
//! * an entry that makes the vCPU yield, block or shut down ends this
//!   slice: the rest of the list is a continuation run when it is next
//!   scheduled; one that crashes the domain ends everything.

use super::pvh_call::{Outcome, PvhCall};
use crate::mm::{MmHooks, PhysMemory};
use abi::hypercall::HypercallNr;
use abi::multicall::MULTICALL_ENTRY_SIZE;
use abi::Errno;

/// Cost of one entry in [`MmHooks::preempt_batch`] units, as the PV
/// multicall counts it: a list of cheap entries is preempted every 1024.
const ENTRY_COST: u32 = 8;
/// `sizeof(struct compat_multicall_entry)`.
pub const COMPAT_ENTRY_SIZE: u64 = 32;

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// `multicall(call_list, nr_calls)` (`nr_calls` 32-bit, as on Xen).
    pub(super) fn multicall(&mut self, list: u64, count: u64) -> (Result<u64, Errno>, Outcome) {
        let n = u64::from(count as u32);
        let size = if self.long_mode { MULTICALL_ENTRY_SIZE } else { COMPAT_ENTRY_SIZE };
        for i in 0..n {
            let at = list.wrapping_add(i * size);
            if i != 0 && self.mm.hooks.preempt_batch(ENTRY_COST) {
                return self.continue_at(at, n - i, Outcome::Continue);
            }
            let Ok((op, args)) = self.read_entry(at) else { return (Err(Errno::EFAULT), Outcome::Continue) };
            let (result, outcome) = if op == HypercallNr::MULTICALL.0 {
                ((-i64::from(Errno::EINVAL.0)) as u64, Outcome::Continue)
            } else {
                self.dispatch(op, args)
            };
            if outcome == Outcome::Crash {
                return (Ok(0), outcome);
            }
            let at_result = at.wrapping_add(size / 8);
            let written = if self.long_mode {
                self.view(|v| v.write(at_result, &result.to_le_bytes()))
            } else {
                self.view(|v| v.write(at_result, &(result as u32).to_le_bytes()))
            };
            if written.is_err() {
                return (Err(Errno::EFAULT), Outcome::Continue);
            }
            if outcome != Outcome::Continue {
                if i + 1 < n {
                    return self.continue_at(at.wrapping_add(size), n - i - 1, outcome);
                }
                return (Ok(0), outcome);
            }
        }
        (Ok(0), Outcome::Continue)
    }

    /// Entry `at`: its `op` and first five arguments (the sixth is no
    /// hypercall's).
    fn read_entry(&mut self, at: u64) -> Result<(u64, [u64; 5]), Errno> {
        let mut w = [0u64; 7];
        if self.long_mode {
            let mut b = [0u8; 56];
            self.view(|v| v.read(at, &mut b))?;
            for (k, c) in b.chunks_exact(8).enumerate() {
                w[k] = u64::from_le_bytes(c.try_into().unwrap_or_default());
            }
        } else {
            let mut b = [0u8; 28];
            self.view(|v| v.read(at, &mut b))?;
            for (k, c) in b.chunks_exact(4).enumerate() {
                w[k] = u64::from(u32::from_le_bytes(c.try_into().unwrap_or_default()));
            }
        }
        Ok((w[0], [w[2], w[3], w[4], w[5], w[6]]))
    }

    /// The multicall's own continuation: `left` entries from `at`, then
    /// `outcome` (the slice may end first).
    fn continue_at(&mut self, at: u64, left: u64, outcome: Outcome) -> (Result<u64, Errno>, Outcome) {
        self.hvcpu.restart = Some([at, left]);
        (Ok(HypercallNr::MULTICALL.0), outcome)
    }
}
