//! `mmu_update` (1), `mmuext_op` (26) and `update_va_mapping` (14): guest
//! arrays are read element by element from guest memory and handed to the
//! direct-paging model.

use super::{Args, Call, ConsoleSink, Guest, GuestMemory};
use crate::mm::requests::{GuestRead, RequestSource};
use crate::mm::{MmHooks, PhysMemory};
use abi::mmu::{MmuUpdate, MmuextOp, MMU_UPDATE_PREEMPTED};
use abi::Errno;

/// A guest array of `size`-byte elements at `base`.
struct GuestArray<'g, G: GuestMemory> {
    guest: &'g G,
    base: u64,
    size: u64,
}

impl<G: GuestMemory> GuestArray<'_, G> {
    /// The `N` words of element `i`, in one guest access.
    fn words<const N: usize>(&mut self, i: u32) -> Result<[u64; N], Errno> {
        let va = (i as u64).checked_mul(self.size).and_then(|o| o.checked_add(self.base)).ok_or(Errno::EFAULT)?;
        let mut bytes = [[0u8; 8]; N];
        Guest(self.guest).read(va, bytes.as_flattened_mut())?;
        Ok(bytes.map(u64::from_le_bytes))
    }
}

impl<G: GuestMemory> RequestSource<MmuUpdate> for GuestArray<'_, G> {
    fn get(&mut self, i: u32) -> Result<MmuUpdate, Errno> {
        let [ptr, val] = self.words(i)?;
        Ok(MmuUpdate { ptr, val })
    }
}

impl<G: GuestMemory> RequestSource<MmuextOp> for GuestArray<'_, G> {
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
    fn batch(
        &mut self,
        a: &mut Args,
        size: u64,
        run: impl FnOnce(&mut Self, &mut GuestArray<'a, G>, u32) -> crate::mm::BatchResult,
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
        if !abi::GuestVa(reqs).range_is_guest_accessible(u64::from(count) * size) {
            return Err(Errno::EFAULT);
        }
        let mut array = GuestArray { guest: self.guest, base: reqs, size };
        let r = run(self, &mut array, count);
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
        let (dom, fd) = (self.dom, a[3]);
        self.batch(a, 16, |c, arr, n| c.mm.mmu_update(dom, arr, n, fd as u32))
    }

    /// `mmuext_op(ops, count, pdone, foreigndom)`.
    pub(super) fn mmuext_op(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let (dom, fd) = (self.dom, a[3]);
        let guest = self.guest;
        self.batch(a, 24, |c, arr, n| c.mm.mmuext_op(dom, arr, n, fd as u16, &mut GuestWords(guest)))
    }

    /// `update_va_mapping(va, val, flags)`.
    pub(super) fn update_va_mapping(&mut self, va: u64, val: u64, flags: u64) -> Result<u64, Errno> {
        let dom = self.dom;
        let mut words = GuestWords(self.guest);
        self.mm.update_va_mapping(dom, va, val, flags, &mut words).map(|()| 0)
    }
}
