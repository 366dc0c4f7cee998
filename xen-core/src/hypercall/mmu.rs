//! `mmu_update` (1), `mmuext_op` (26) and `update_va_mapping` (14): guest
//! arrays are read element by element from guest memory and handed to the
//! direct-paging model.

use super::guest_mem::{CheckedArray, CheckedWords};
use super::{Args, Call, ConsoleSink, Guest, GuestMemory};
use crate::mm::requests::{GuestRead, RequestSource};
use crate::mm::{MmHooks, PhysMemory};
use abi::mmu::{MmuUpdate, MmuextOp, MMU_UPDATE_PREEMPTED};
use abi::{DomId, Errno};

/// A guest array of `N`-word elements, its whole range checked once.
struct GuestArray<'g, G: GuestMemory, const N: usize> {
    guest: &'g G,
    at: CheckedArray<N>,
}

impl<G: GuestMemory, const N: usize> GuestArray<'_, G, N> {
    /// The `N` words of element `i`, in one guest access.
    #[inline(always)]
    fn words(&mut self, i: u32) -> Result<[u64; N], Errno> {
        // Read now, just before it is used (a batch may rewrite its own
        // array): the index test (the range was checked for the whole
        // array), one `mov` per word.
        let at = self.at.element(u64::from(i)).ok_or(Errno::EFAULT)?;
        self.guest.load(at).ok_or(Errno::EFAULT)
    }
}

impl<G: GuestMemory> RequestSource<MmuUpdate> for GuestArray<'_, G, 2> {
    #[inline(always)]
    fn get(&mut self, i: u32) -> Result<MmuUpdate, Errno> {
        let [ptr, val] = self.words(i)?;
        Ok(MmuUpdate { ptr, val })
    }
}

impl<G: GuestMemory> RequestSource<MmuextOp> for GuestArray<'_, G, 3> {
    #[inline(always)]
    fn get(&mut self, i: u32) -> Result<MmuextOp, Errno> {
        let [w0, arg1, arg2] = self.words(i)?;
        Ok(MmuextOp { cmd: w0 as u32, pad: (w0 >> 32) as u32, arg1, arg2 })
    }
}

struct GuestWords<'g, G: GuestMemory>(&'g G);

impl<G: GuestMemory> GuestRead for GuestWords<'_, G> {
    fn read_u64(&mut self, va: u64) -> Option<u64> {
        Guest(self.0).read_u64(va).ok()
    }
}

impl<'a, M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'a, '_, M, H, G, C> {
    /// Checks the array, handles Xen's continuation bit, writes `*pdone`.
    fn batch<const N: usize>(
        &mut self,
        a: &mut Args,
        run: impl FnOnce(&mut Self, &mut GuestArray<'a, G, N>, u32) -> crate::mm::BatchResult,
    ) -> Result<u64, Errno> {
        let [reqs, count, pdone, ..] = *a;
        let mut count = count as u32;
        let mut start = 0;
        if count & MMU_UPDATE_PREEMPTED != 0 {
            // A guest resuming one of Xen's continuations: progress so far is in *pdone.
            count &= !MMU_UPDATE_PREEMPTED;
            if pdone != 0 {
                start = self.mem().read_u32(pdone)?;
            }
        }
        // The whole array at once; its elements need no range check each.
        let Some(at) = CheckedArray::<N>::new(reqs, 0, u64::from(count)) else {
            return Err(Errno::EFAULT);
        };
        let mut array = GuestArray { guest: self.guest, at };
        let r = run(self, &mut array, count);
        self.batch_end(a, N as u64 * 8, start, count, r)
    }

    /// The end of a batch of `count` requests that resumed at `start`:
    /// writes `*pdone`, and rewrites the arguments of a preempted batch.
    #[inline(always)]
    fn batch_end(
        &mut self,
        a: &mut Args,
        size: u64,
        start: u32,
        count: u32,
        r: crate::mm::BatchResult,
    ) -> Result<u64, Errno> {
        let [reqs, _, pdone, ..] = *a;
        if pdone != 0 {
            self.mem().write_u32(pdone, start.wrapping_add(r.done))?;
        }
        if r.result == Err(Errno::ERESTART) {
            // Continue with the remaining requests, as Xen's continuations do.
            a[0] = reqs + u64::from(r.done) * size;
            a[1] = u64::from((count - r.done) | MMU_UPDATE_PREEMPTED);
        }
        r.result.map(|()| 0).map_err(|e| self.refused_entry(e, start.wrapping_add(r.done)))
    }

    /// `mmu_update(reqs, count, pdone, foreigndom)`.
    pub(super) fn mmu_update(&mut self, a: &mut Args) -> Result<u64, Errno> {
        if self.one_own_request(a[1], a[3]) {
            return Self::single_continues(a, self.mmu_update_single(a[0], a[2]));
        }
        self.mmu_update_batch(a)
    }

    /// A one-request call's result; a preempted one (a pin's validation
    /// ran out of budget) continues as Xen's do, with the count's
    /// continuation bit set and nothing done.
    #[inline(always)]
    fn single_continues(a: &mut Args, r: Result<u64, Errno>) -> Result<u64, Errno> {
        if r == Err(Errno::ERESTART) {
            a[1] = u64::from(1 | MMU_UPDATE_PREEMPTED);
        }
        r
    }

    /// The count register of a one-request call preempted with `e`
    /// ([`Self::single_continues`] for the registers).
    #[cold]
    pub(super) fn single_preempted_in_registers(&mut self, e: Errno) {
        if e == Errno::ERESTART {
            self.ctx.gpr[crate::domain::vcpu::reg::RSI] = u64::from(1 | MMU_UPDATE_PREEMPTED);
        }
    }

    /// One request at `reqs` on the caller's own tables with no deferred
    /// work queued ([`Self::one_own_request`]): what [`Self::batch`] and
    /// [`Mm::mmu_update`](crate::mm::Mm::mmu_update) do for it, with the
    /// same checks in the same order, without their loop and domain
    /// resolution. `ERESTART` leaves the count to the caller
    /// ([`Self::single_continues`]).
    #[inline(always)]
    pub(super) fn mmu_update_single(&mut self, reqs: u64, pdone: u64) -> Result<u64, Errno> {
        // The range is checked once, by the checked type; the read is the
        // inlined small access (no call, no second check).
        let Some(at) = CheckedWords::<2>::new(reqs) else {
            return Err(Errno::EFAULT);
        };
        let r = match self.guest.load(at) {
            Some([ptr, val]) => self.hv.mm.mmu_update_single(self.dom, MmuUpdate { ptr, val }),
            None => Err(Errno::EFAULT),
        };
        if r.is_ok() && pdone == 0 {
            return Ok(0);
        }
        self.single_end(reqs, pdone, 16, r)
    }

    #[inline(never)]
    fn mmu_update_batch(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let (dom, fd) = (self.dom, a[3]);
        self.batch::<2>(a, |c, arr, n| c.hv.mm.mmu_update(dom, arr, n, fd as u32))
    }

    /// `mmuext_op(ops, count, pdone, foreigndom)`.
    pub(super) fn mmuext_op(&mut self, a: &mut Args) -> Result<u64, Errno> {
        if self.one_own_request(a[1], a[3] & 0xffff) {
            return Self::single_continues(a, self.mmuext_single(a[0], a[2]));
        }
        self.mmuext_batch(a)
    }

    /// One operation at `ops` on the caller's own memory with no deferred
    /// work queued (a flush, a pin, a new base pointer): what
    /// [`Self::batch`] and [`Mm::mmuext_op`](crate::mm::Mm::mmuext_op) do
    /// for it, with the same checks in the same order, without their loop
    /// and domain resolution. `ERESTART` leaves the count to the caller.
    #[inline(always)]
    pub(super) fn mmuext_single(&mut self, ops: u64, pdone: u64) -> Result<u64, Errno> {
        let Some(at) = CheckedWords::<3>::new(ops) else {
            return Err(Errno::EFAULT);
        };
        let r = match self.guest.load(at) {
            Some([w0, arg1, arg2]) => {
                let op = MmuextOp { cmd: w0 as u32, pad: (w0 >> 32) as u32, arg1, arg2 };
                self.hv.mm.mmuext_single(self.dom, op, &mut GuestWords(self.guest))
            }
            None => Err(Errno::EFAULT),
        };
        if r.is_ok() && pdone == 0 {
            return Ok(0);
        }
        self.single_end(ops, pdone, 24, r)
    }

    /// [`Self::batch_end`] of a one-request call at `reqs` that failed or
    /// has a `pdone`: out of line, off the common path.
    #[inline(never)]
    fn single_end(&mut self, reqs: u64, pdone: u64, size: u64, r: Result<(), Errno>) -> Result<u64, Errno> {
        let mut a = [reqs, 1, pdone, u64::from(DomId::SELF.0), 0];
        self.batch_end(&mut a, size, 0, 1, crate::mm::BatchResult { done: u32::from(r.is_ok()), result: r })
    }

    #[inline(never)]
    fn mmuext_batch(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let (dom, fd) = (self.dom, a[3]);
        let guest = self.guest;
        self.batch::<3>(a, |c, arr, n| c.hv.mm.mmuext_op(dom, arr, n, fd as u16, &mut GuestWords(guest)))
    }

    /// `update_va_mapping(va, val, flags)`.
    pub(super) fn update_va_mapping(&mut self, va: u64, val: u64, flags: u64) -> Result<u64, Errno> {
        let dom = self.dom;
        let mut words = GuestWords(self.guest);
        self.hv.mm.update_va_mapping(dom, va, val, flags, &mut words).map(|()| 0)
    }
}
