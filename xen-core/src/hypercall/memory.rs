//! `memory_op` (12): the reservation queries. Allocation sub-ops return
//! `-ENOSYS` until the balloon lands.

use super::{Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::memory::*;
use abi::{DomId, Errno};

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `memory_op(cmd, arg)`.
    pub(super) fn memory_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let op = cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1);
        let start_extent = cmd >> MEMOP_EXTENT_SHIFT;
        match op {
            XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
                if start_extent != 0 {
                    return Err(Errno::EINVAL);
                }
                let raw = DomId(self.mem().read_u16(arg)?);
                let target = if raw == DomId::SELF { self.dom } else { raw };
                let d = *self.mm.domain(target).ok_or(Errno::ESRCH)?;
                if target != self.dom && !self.privileged() {
                    return Err(Errno::EPERM);
                }
                Ok(if op == XENMEM_CURRENT_RESERVATION { d.tot_pages } else { d.max_pages })
            }
            _ => Err(Errno::ENOSYS),
        }
    }
}
