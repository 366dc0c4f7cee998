//! `set_debugreg` (8) and `get_debugreg` (9): the vCPU's virtual debug
//! registers, with the same checks as an emulated `mov drN` (fact sheet
//! §4.4, [`crate::emulate::dr`]).

use super::{Call, ConsoleSink, GuestMemory};
use crate::emulate::cr::guest_cr4;
use crate::mm::{MmHooks, PhysMemory};
use abi::Errno;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `set_debugreg(reg, value)`; `reg` is a C `int` in Xen.
    ///
    /// # Errors
    /// -EPERM, -EINVAL or -ENODEV as [`crate::emulate::dr::DebugRegs::set`].
    #[inline(never)]
    pub(super) fn set_debugreg(&mut self, reg: u64, value: u64) -> Result<u64, Errno> {
        let cr4 = guest_cr4(self.vcpu.emul.cr4);
        self.vcpu.emul.dr.set(u64::from(reg as u32), value, cr4)?;
        self.hv.mm.hooks.debugregs_changed(self.dom);
        Ok(0)
    }

    /// `get_debugreg(reg)`: the value, or -ENODEV.
    ///
    /// # Errors
    /// -ENODEV for DR4/5 under CR4.DE and registers above 7.
    #[inline(never)]
    pub(super) fn get_debugreg(&mut self, reg: u64) -> Result<u64, Errno> {
        let cr4 = guest_cr4(self.vcpu.emul.cr4);
        self.vcpu.emul.dr.get(u64::from(reg as u32), cr4)
    }
}
