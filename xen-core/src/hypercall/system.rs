//! `console_io` (18), `xen_version` (17) and `vm_assist` (21).

use super::{Call, ConsoleSink, GuestMemory};
use crate::domain::vcpu::reg;
use crate::mm::{MmHooks, PhysMemory};
use abi::console::CONSOLEIO_WRITE;
use abi::version::*;
use abi::Errno;

/// The version reported to guests: Xen 4.17's interface.
pub const XEN_MAJOR: u64 = 4;
/// See [`XEN_MAJOR`].
pub const XEN_MINOR: u64 = 17;

/// Cost of one 128-byte console chunk in [`MmHooks::preempt_batch`] units
/// (page-table entries' worth of work): a continuation every 16 KiB.
const CONSOLE_CHUNK_COST: u32 = 64;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `console_io(cmd, count, buffer)`. A long write is preempted between
    /// chunks, as on Xen: the argument registers then hold the bytes left
    /// and where they start, and the guest's re-executed hypercall goes on.
    pub(super) fn console_io(&mut self, cmd: u64, count: u64, buf: u64) -> Result<u64, Errno> {
        if cmd != CONSOLEIO_WRITE {
            return Err(Errno::ENOSYS);
        }
        let count = count as u32 as u64;
        let mut chunk = [0u8; 128];
        let mut off = 0;
        let hardware = self.mm.domain(self.dom).is_some_and(|d| d.io_caps);
        while off < count {
            if off != 0 && self.mm.hooks.preempt_batch(CONSOLE_CHUNK_COST) {
                self.ctx.gpr[reg::RSI] = count - off;
                self.ctx.gpr[reg::RDX] = buf + off;
                return Err(Errno::ERESTART);
            }
            let n = (count - off).min(chunk.len() as u64) as usize;
            let va = buf.checked_add(off).ok_or(Errno::EFAULT)?;
            self.mem().read(va, &mut chunk[..n])?;
            if hardware {
                self.console.write(self.dom, &chunk[..n]);
            } else {
                // Other domains: printable characters only, one line at a time.
                for &b in &chunk[..n] {
                    if b == b'\n' || self.line.len() >= 127 {
                        let line = *self.line;
                        self.console.write(self.dom, line.as_slice());
                        self.console.write(self.dom, b"\n");
                        *self.line = Default::default();
                    }
                    if (0x20..0x7f).contains(&b) || b == b'\t' {
                        let _ = self.line.push(b);
                    }
                }
            }
            off += n as u64;
        }
        Ok(0)
    }

    /// `xen_version(cmd, arg)`.
    pub(super) fn xen_version(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        match cmd {
            XENVER_VERSION => Ok((XEN_MAJOR << 16) | XEN_MINOR),
            XENVER_EXTRAVERSION => {
                let mut s = [0u8; 16];
                s[..10].copy_from_slice(b"-xen-core\0");
                self.mem().write(arg, &s).map(|()| 0)
            }
            XENVER_CAPABILITIES => {
                let mut s = [0u8; 1024];
                let caps = b"xen-3.0-x86_64 ";
                s[..caps.len()].copy_from_slice(caps);
                self.mem().write(arg, &s).map(|()| 0)
            }
            XENVER_PLATFORM_PARAMETERS => self.mem().write_u64(arg, abi::HYPERVISOR_VIRT_START).map(|()| 0),
            XENVER_GET_FEATURES => {
                let idx = self.mem().read_u32(arg)?;
                if idx != 0 {
                    return Err(Errno::EINVAL);
                }
                let mut map = 1u32 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD;
                if self.mm.domain(self.dom).is_some_and(|d| d.io_caps) {
                    map |= 1 << XENFEAT_DOM0;
                }
                self.mem().write_u32(arg + 4, map).map(|()| 0)
            }
            XENVER_PAGESIZE if arg == 0 => Ok(abi::PAGE_SIZE),
            XENVER_PAGESIZE => Err(Errno::EINVAL),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `vm_assist(cmd, type)`.
    pub(super) fn vm_assist(&mut self, cmd: u64, kind: u64) -> Result<u64, Errno> {
        if !matches!(kind, 0..=5 | 32) {
            return Err(Errno::EINVAL);
        }
        match cmd {
            0 => self.vcpu.vm_assist |= 1 << kind,
            1 => self.vcpu.vm_assist &= !(1 << kind),
            _ => return Err(Errno::ENOSYS),
        }
        Ok(0)
    }
}
