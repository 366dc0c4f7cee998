//! Shared plumbing of batched requests: where requests come from, what a
//! batch reports, and how `foreigndom` arguments resolve.

use super::model::{Mm, MmHooks};
use super::PhysMemory;
use abi::{DomId, Errno};

/// Reads element `i` of a guest array; `Err(EFAULT)` on a copy fault.
pub trait RequestSource<T> {
    /// Element `i`.
    fn get(&mut self, i: u32) -> Result<T, Errno>;
}

impl<T: Copy> RequestSource<T> for &[T] {
    fn get(&mut self, i: u32) -> Result<T, Errno> {
        <[T]>::get(self, i as usize).copied().ok_or(Errno::EFAULT)
    }
}

/// Reads a 64-bit word of guest memory (vCPU bitmaps); `None` on a fault.
pub trait GuestRead {
    /// The word at guest virtual address `va`.
    fn read_u64(&mut self, va: u64) -> Option<u64>;
}

/// Guest memory that always faults.
pub struct NoGuestMemory;

impl GuestRead for NoGuestMemory {
    fn read_u64(&mut self, _: u64) -> Option<u64> {
        None
    }
}

/// Outcome of a batch: how many requests completed, and the error of the
/// request that stopped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchResult {
    /// Requests completed (written to `*pdone`).
    pub done: u32,
    /// `Ok` if all completed, else the first failing request's error.
    pub result: Result<(), Errno>,
}

impl BatchResult {
    /// A batch that failed before processing anything.
    pub const fn refused(e: Errno) -> BatchResult {
        BatchResult { done: 0, result: Err(e) }
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Resolves a 16-bit domain argument: `DOMID_SELF` is the caller; the
    /// caller's own numeric id and unknown ids are `ESRCH` (as on Xen);
    /// `DOMID_IO` names the I/O pseudo-domain.
    pub fn resolve_domid(&self, caller: DomId, raw: u16) -> Result<DomId, Errno> {
        let id = DomId(raw);
        if id == DomId::SELF {
            return Ok(caller);
        }
        if id == caller {
            return Err(self.refuse(Errno::ESRCH, "domain named by its own number"));
        }
        if id == DomId::IO {
            return Ok(id);
        }
        self.domain(id).map(|d| d.id).ok_or_else(|| self.refuse(Errno::ESRCH, "no such domain"))
    }

    /// Whether `caller` may act on `target`'s memory.
    pub(crate) fn may_act_on(&self, caller: DomId, target: DomId) -> bool {
        caller == target || self.domain(caller).is_some_and(|d| d.privileged)
    }
}
