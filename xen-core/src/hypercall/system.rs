//! `console_io` (18), `xen_version` (17) and `vm_assist` (21).

use super::{Args, Call, ConsoleSink, GuestMemory};
use crate::mm::{MmHooks, PhysMemory};
use abi::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use abi::version::*;
use abi::Errno;

/// The version reported to guests: Xen 4.17's interface.
pub const XEN_MAJOR: u64 = 4;
/// See [`XEN_MAJOR`].
pub const XEN_MINOR: u64 = 17;

/// `XENVER_COMPILE_INFO` strings.
const COMPILER: &[u8] = b"rustc";
const COMPILE_BY: &[u8] = b"xen-core";
const COMPILE_DOMAIN: &[u8] = b"";
const COMPILE_DATE: &[u8] = b"unknown";
/// `XENVER_CHANGESET`: Xen's string when the source revision is unknown.
const CHANGESET: &[u8] = b"unavailable";

/// `VMASST_TYPE_pae_extended_cr3`.
const VMASST_PAE_EXTENDED_CR3: u32 = 3;

/// Feature submap 0: only what xen-core really provides (grant maps put
/// `GNTMAP` bits 16+ into the PTE's available bits: `gnttab_map_avail_bits`).
/// Xen also sets `memory_op_vnode_supported` (no `get_vnumainfo`) and
/// `dm_msix_all_writes` (no device model).
pub const fn features(hardware: bool, vm_assist: u64) -> u32 {
    let mut map = (1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
        | (1 << XENFEAT_HIGHMEM_ASSIST)
        | (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS)
        | (1 << XENFEAT_DIRECT_MAPPED);
    if vm_assist & (1 << VMASST_PAE_EXTENDED_CR3) != 0 {
        // Any L3 above 4 GiB works: 64-bit roots may sit in any frame.
        map |= 1 << XENFEAT_PAE_PGDIR_ABOVE_4GB;
    }
    if hardware {
        map |= 1 << XENFEAT_DOM0;
    }
    map
}

/// Cost of one 128-byte console chunk in [`MmHooks::preempt_batch`] units
/// (page-table entries' worth of work): a continuation every 16 KiB.
const CONSOLE_CHUNK_COST: u32 = 64;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `console_io(cmd, count, buffer)`. A long write is preempted between
    /// chunks, as on Xen: the argument registers then hold the bytes left
    /// and where they start, and the guest's re-executed hypercall goes on.
    pub(super) fn console_io(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let [cmd, count, buf, ..] = *a;
        if cmd == CONSOLEIO_READ {
            return self.console_read(count, buf);
        }
        if cmd != CONSOLEIO_WRITE {
            return Err(Errno::ENOSYS);
        }
        let count = count as u32 as u64;
        let mut chunk = [0u8; 128];
        let mut off = 0;
        let hardware = self.hv.mm.domain(self.dom).is_some_and(|d| d.io_caps);
        while off < count {
            if off != 0 && self.hv.mm.hooks.preempt_batch(CONSOLE_CHUNK_COST) {
                a[1] = count - off;
                a[2] = buf + off;
                return Err(Errno::ERESTART);
            }
            let n = (count - off).min(chunk.len() as u64) as usize;
            let va = buf.checked_add(off).ok_or(Errno::EFAULT)?;
            self.mem().read(va, &mut chunk[..n])?;
            if hardware {
                self.hv.console.write(self.dom, &chunk[..n]);
            } else {
                // Other domains: printable characters only, one line at a time.
                let (console, dom) = (&mut self.hv.console, self.dom);
                for &b in &chunk[..n] {
                    self.line.push(b, &mut |s| console.write(dom, s));
                }
            }
            off += n as u64;
        }
        Ok(0)
    }

    /// `CONSOLEIO_read`: domain 0's console input (Xen's rules: the
    /// hardware domain only, `-EPERM` for others; a count that is negative
    /// as an `int` is `-E2BIG`; a fault is `-EFAULT`, the bytes it could
    /// not take stay buffered). Returns the bytes read.
    fn console_read(&mut self, count: u64, buf: u64) -> Result<u64, Errno> {
        if !self.hv.mm.domain(self.dom).is_some_and(|d| d.io_caps) {
            return Err(Errno::EPERM);
        }
        let count = count as u32;
        if (count as i32) < 0 {
            return Err(Errno::E2BIG);
        }
        let mut chunk = [0u8; 128];
        let mut done = 0u64;
        while done < u64::from(count) {
            let want = (u64::from(count) - done).min(chunk.len() as u64) as usize;
            let n = self.hv.console.read(&mut chunk[..want]);
            if n == 0 {
                break;
            }
            if self.mem().write(buf.wrapping_add(done), &chunk[..n]).is_err() {
                self.hv.console.unread(n);
                return Err(Errno::EFAULT);
            }
            done += n as u64;
        }
        Ok(done)
    }

    /// `xen_version(cmd, arg)`. `XENVER_version` is answered inline: it is
    /// the null hypercall guests and the benchmark use.
    #[inline(always)]
    pub(super) fn xen_version(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        if cmd == XENVER_VERSION {
            return Ok((XEN_MAJOR << 16) | XEN_MINOR);
        }
        self.xen_version_data(cmd, arg)
    }

    /// The `xen_version` commands other than `XENVER_version`.
    #[inline(never)]
    fn xen_version_data(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        match cmd {
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
                let hardware = self.hv.mm.domain(self.dom).is_some_and(|d| d.io_caps);
                self.mem().write_u32(arg + 4, features(hardware, self.vcpu.vm_assist)).map(|()| 0)
            }
            XENVER_COMPILE_INFO => {
                let mut info = [0u8; XENVER_COMPILE_INFO_LEN];
                for (at, s) in [(0, COMPILER), (64, COMPILE_BY), (80, COMPILE_DOMAIN), (112, COMPILE_DATE)] {
                    info[at..at + s.len()].copy_from_slice(s);
                }
                self.mem().write(arg, &info).map(|()| 0)
            }
            XENVER_CHANGESET => {
                let mut s = [0u8; 64];
                s[..CHANGESET.len()].copy_from_slice(CHANGESET);
                self.mem().write(arg, &s).map(|()| 0)
            }
            // The domain's handle is the toolstack's; xen-core has none, so
            // every domain's is zero (as domain 0's is on Xen).
            XENVER_GUEST_HANDLE => self.mem().write(arg, &[0u8; 16]).map(|()| 0),
            // Only the control domain may read it; others get "<denied>".
            XENVER_COMMANDLINE if self.privileged() => self.mem().write(arg, &self.hv.host.cmdline).map(|()| 0),
            XENVER_COMMANDLINE => self.mem().write(arg, XEN_DENY).map(|()| 0),
            XENVER_BUILD_ID => {
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                if arg != 0 && self.mem().read_u32(arg)? == 0 {
                    return Err(Errno::EINVAL);
                }
                // The linker emits no build-id note into xen-core's image:
                // Xen's answer when it has none.
                Err(Errno::ENODATA)
            }
            XENVER_PAGESIZE if arg == 0 => Ok(abi::PAGE_SIZE),
            XENVER_PAGESIZE => Err(Errno::EINVAL),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `vm_assist(cmd, type)`.
    #[inline(never)]
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
