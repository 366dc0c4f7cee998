//! `physdev_op` (33): `PHYSDEVOP_set_iopl` and `PHYSDEVOP_set_iobitmap`
//! (fact sheet §8.3, §5.4). Any PV domain may call them, as on Xen; they
//! only change what the emulator lets the guest's `in`/`out` reach, and
//! the hypervisor's own ports stay out of reach whatever they say. Other
//! commands are `-ENOSYS`.

use super::{Call, ConsoleSink, GuestMemory};
use crate::emulate::ports::{BITMAP_BYTES, MAX_PORTS};
use crate::mm::{MmHooks, PhysMemory};
use abi::{physdev, Errno, GuestVa};

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `physdev_op(cmd, arg)`.
    ///
    /// # Errors
    /// -EFAULT for an unreadable argument; -EINVAL for an IOPL above 3, a
    /// bitmap whose 8 KiB are not guest-accessible or more than 65536
    /// ports; -ENOSYS for other commands.
    pub(super) fn physdev_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        match cmd {
            physdev::SET_IOPL => {
                let iopl = self.mem().read_u32(arg)?;
                if iopl > 3 {
                    return Err(Errno::EINVAL);
                }
                self.vcpu.emul.io.iopl = iopl as u8;
                Ok(0)
            }
            physdev::SET_IOBITMAP => {
                let bitmap = self.mem().read_u64(arg)?;
                let nr_ports = self.mem().read_u32(arg.wrapping_add(8))?;
                if !GuestVa(bitmap).range_is_guest_accessible(BITMAP_BYTES) || nr_ports > MAX_PORTS {
                    return Err(Errno::EINVAL);
                }
                self.vcpu.emul.io.bitmap = bitmap;
                self.vcpu.emul.io.nr_ports = nr_ports;
                Ok(0)
            }
            _ => Err(Errno::ENOSYS),
        }
    }
}
