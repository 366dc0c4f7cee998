//! `fpu_taskswitch` (5): the guest's virtual CR0.TS (fact sheet §4.5).

use super::{Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::Errno;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `fpu_taskswitch(set)`: a non-zero `set` sets the virtual TS, so the
    /// guest's next x87/MMX/SSE instruction raises #NM into its trap 7;
    /// zero clears it. The argument is a C `int` in Xen: only its low 32
    /// bits count. The hardware TS follows before the guest runs again.
    ///
    /// # Errors
    /// None: always 0, as on Xen.
    #[inline(never)]
    pub(super) fn fpu_taskswitch(&mut self, set: u64) -> Result<u64, Errno> {
        self.vcpu.fpu.taskswitch(set as u32 != 0);
        self.hv.mm.hooks.fpu_ts_changed(self.dom);
        Ok(0)
    }
}
