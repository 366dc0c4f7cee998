//! A PVH guest's hypercalls (VMMCALL from its hypercall page): decode →
//! check → perform, pure. The arch layer collects the number and the
//! arguments with Xen's convention ([`args`]), hands over the guest's
//! memory view ([`GuestView`]: every pointer through the guest's own
//! tables and the p2m) and performs the [`Outcome`].
//!
//! | hypercall | PVH here |
//! |---|---|
//! | `console_io` (18) | `CONSOLEIO_write` (printable bytes, a line at a time, as for every PV domain but domain 0); `CONSOLEIO_read` `-EPERM` (not the hardware domain); others `-ENOSYS` |
//! | `xen_version` (17) | `version`, `extraversion`, `capabilities` (`hvm-3.0-x86_64`), `get_features` (writable page tables, auto-translated physmap, callback vector, safe PV clock, not direct mapped), `pagesize`, `guest_handle`; others `-ENOSYS` |
//! | `sched_op` (29) | `yield`, `block` (until an event is pending or its timer fires), `shutdown`; others `-ENOSYS` |
//! | `memory_op` (12) | `decrease_reservation` and `populate_physmap` on guest frames (the p2m and the NPT change); `current`/`maximum_reservation`; `add_to_physmap` with `XENMAPSPACE_shared_info` and `XENMAPSPACE_grant_table`; others `-ENOSYS` |
//! | `event_channel_op` (32) | every op the PV side has, on the same core ([`super::pvh_events`]); frame numbers are guest frames |
//! | `set_timer_op` (15) | as for PV: the single-shot timer, VIRQ_TIMER when it fires |
//! | `vcpu_op` (24) | every command PV has, on the same timer and runstate cores, in Xen's HVM forms (areas are guest-virtual; `initialise` copies a `vcpu_hvm_context`) ([`super::pvh_vcpu`]); ids but 0 `-ENOENT`; `send_nmi` `-ENOSYS` |
//! | `multicall` (13) | the PV rules on this dispatch ([`super::pvh_multicall`]) |
//! | `vm_assist` (21) | `VMASST_TYPE_runstate_update_flag` only, as Xen's HVM mask |
//! | `mmuext_op` (26) | refused as Xen refuses an HVM guest ([`super::pvh_mmuext`]) |
//! | `grant_table_op` (20) | `setup_table`, `query_size`, `set_version`, `get_version`, `get_status_frames`, `copy`, `map_grant_ref`/`unmap_grant_ref`/`unmap_and_replace` (host mappings as p2m grant entries), `swap_grant_ref` on the shared core with guest frames ([`super::pvh_grant`]); others `-ENOSYS` |
//! | `hvm_op` (34) | `set_param`/`get_param` with Xen 4.17's per-parameter guest permissions; `set_evtchn_upcall_vector`, `flush_tlbs` ([`super::pvh_vcpu`]); others `-ENOSYS` |
//! | anything else | `-ENOSYS` |
//!
//! The reservation ops take the PV ops' argument checks (the same
//! structure, [`Reservation::acceptable`], extents of order 0 or 9) and
//! return how many extents were done; a PVH domain acts on itself only.

use super::gmem::GuestView;
use crate::console::LineBuf;
use crate::hypercall::system::{XEN_MAJOR, XEN_MINOR};
use crate::mm::reservation::Reservation;
use crate::mm::{Mm, MmHooks, PhysMemory};
use crate::p2m::{Order, P2m};
use abi::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use abi::hvm::{param, HVMOP_FLUSH_TLBS, HVMOP_GET_PARAM, HVMOP_SET_EVTCHN_UPCALL_VECTOR, HVMOP_SET_PARAM};
use abi::hypercall::HypercallNr;
use abi::memory::*;
use abi::sched::{SCHEDOP_BLOCK, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD};
use abi::version::*;
use abi::{DomId, Errno, Gfn};

/// What the arch layer does after the hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return to the guest.
    Continue,
    /// Let others run.
    Yield,
    /// Sleep until an event is pending.
    Block,
    /// The domain shut down with this reason.
    Shutdown(u32),
    /// The nested tables could not follow a p2m change: crash the domain.
    Crash,
}

/// The arguments of a hypercall by Xen's HVM convention: RDI, RSI, RDX,
/// R10, R8 in 64-bit mode; EBX, ECX, EDX, ESI, EDI (zero-extended) in
/// 32-bit mode. `gpr` is indexed by register number (RAX = 0 … R15 = 15).
pub const fn args(gpr: &[u64; 16], long_mode: bool) -> [u64; 5] {
    if long_mode {
        [gpr[7], gpr[6], gpr[2], gpr[10], gpr[8]]
    } else {
        const L: u64 = 0xFFFF_FFFF;
        [gpr[3] & L, gpr[1] & L, gpr[2] & L, gpr[6] & L, gpr[7] & L]
    }
}

/// Whether a hypercall comes from 64-bit code: EFER.LMA set and CS's L
/// bit (compatibility mode and 32-bit protected mode use the 32-bit
/// convention, as Xen's `hvm_long_mode_active` with a 64-bit CS).
pub const fn long_mode(efer: u64, cs_attrib: u16) -> bool {
    const EFER_LMA: u64 = 1 << 10;
    efer & EFER_LMA != 0 && cs_attrib & crate::hvm::pvh_entry::attrib::L != 0
}

/// The hypercall number in RAX: all 64 bits in 64-bit mode, EAX otherwise.
pub const fn number(rax: u64, long_mode: bool) -> u64 {
    if long_mode {
        rax
    } else {
        rax & 0xFFFF_FFFF
    }
}

/// The HVM parameters of one domain (`HVM_NR_PARAMS` values, 0 until set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvmParams(pub [u64; param::HVM_NR_PARAMS as usize]);

impl Default for HvmParams {
    fn default() -> Self {
        HvmParams([0; param::HVM_NR_PARAMS as usize])
    }
}

/// Parameters a guest may set on itself (Xen 4.17 `hvm_allow_set_param`).
const fn guest_may_set(index: u32) -> bool {
    matches!(
        index,
        param::CALLBACK_IRQ
            | param::VM86_TSS
            | param::VM86_TSS_SIZED
            | param::ACPI_IOPORTS_LOCATION
            | param::VM_GENERATION_ID_ADDR
            | param::STORE_EVTCHN
            | param::CONSOLE_EVTCHN
            | param::X87_FIP_WIDTH
    )
}

/// Parameters a guest may read on itself (Xen 4.17 `hvm_allow_get_param`).
const fn guest_may_get(index: u32) -> bool {
    guest_may_set(index) || matches!(index, param::STORE_PFN | param::CONSOLE_PFN | param::ALTP2M)
}

/// Keeps the nested tables in step with the p2m.
pub trait NptSync<M: PhysMemory, H: MmHooks> {
    /// `[gfn, gfn + order)` changed in `p2m`: make the nested tables agree
    /// (new table frames from `mm`'s allocator) and have the domain's ASID
    /// flushed before it runs again.
    ///
    /// # Errors
    /// `ENOMEM`: the tables could not follow.
    fn changed(&mut self, p2m: &P2m<'_>, mm: &mut Mm<'_, M, H>, gfn: Gfn, order: Order) -> Result<(), Errno>;
}

/// Everything a PVH hypercall may touch.
pub struct PvhCall<'c, 'a, 'm, 'g, M: PhysMemory, H: MmHooks> {
    /// The calling domain.
    pub dom: DomId,
    /// The memory model (frame ownership, reservations).
    pub mm: &'c mut Mm<'m, M, H>,
    /// The guest's p2m.
    pub p2m: &'c mut P2m<'a>,
    /// Its paging mode at the call.
    pub paging: super::gmem::GuestPaging,
    /// Its HVM parameters.
    pub params: &'c mut HvmParams,
    /// Its partial console line.
    pub line: &'c mut LineBuf,
    /// Where its console lines go.
    pub console: &'c mut dyn FnMut(&[u8]),
    /// The nested tables.
    pub npt: &'c mut dyn NptSync<M, H>,
    /// Every domain's event channels (the shared core).
    pub events: &'c mut crate::event::EventChannels,
    /// Every domain's grant tables (the shared core).
    pub grants: &'c mut crate::grant::Grants<'g>,
    /// Its vCPU's timers and vcpu_info placement.
    pub vcpu: &'c mut crate::domain::vcpu::Vcpu,
    /// System time at the call.
    pub now: crate::time::SystemTime,
    /// The vCPU's time info at the call (for the time areas).
    pub stamp: crate::time::info::TimeStamp,
    /// Its PVH-only state: upcall vector, registered areas, requests to
    /// the arch layer ([`super::pvh_vcpu`]).
    pub hvcpu: &'c mut super::pvh_vcpu::HvmVcpu,
    /// Whether the call came from 64-bit code (the multicall entry layout).
    pub long_mode: bool,
}

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    pub(super) fn view<R>(&mut self, f: impl FnOnce(&mut GuestView<'_, '_, M>) -> R) -> R {
        let mut v = GuestView { p2m: self.p2m, mem: self.mm.mem, paging: self.paging };
        f(&mut v)
    }

    /// Runs hypercall `nr` with arguments `a`: the value for RAX (a
    /// negative errno on failure) and what to do next.
    pub fn dispatch(&mut self, nr: u64, a: [u64; 5]) -> (u64, Outcome) {
        let (r, o) = match HypercallNr(nr) {
            HypercallNr::CONSOLE_IO => (self.console_io(a[0], a[1], a[2]), Outcome::Continue),
            HypercallNr::XEN_VERSION => (self.xen_version(a[0], a[1]), Outcome::Continue),
            HypercallNr::SCHED_OP => self.sched_op(a[0], a[1]),
            HypercallNr::MEMORY_OP => self.memory_op(a[0], a[1]),
            HypercallNr::HVM_OP => (self.hvm_op(a[0], a[1]), Outcome::Continue),
            HypercallNr::EVENT_CHANNEL_OP => (self.event_channel_op(a[0], a[1]), Outcome::Continue),
            HypercallNr::SET_TIMER_OP => (self.set_timer_op(a[0]), Outcome::Continue),
            HypercallNr::VCPU_OP => self.vcpu_op(a[0], a[1], a[2]),
            HypercallNr::MULTICALL => self.multicall(a[0], a[1]),
            HypercallNr::VM_ASSIST => (self.vm_assist(a[0], a[1]), Outcome::Continue),
            HypercallNr::MMUEXT_OP => (self.mmuext_op(a[0], a[1], a[3]), Outcome::Continue),
            HypercallNr::GRANT_TABLE_OP => self.grant_table_op(a[0], a[1], a[2]),
            _ => (Err(Errno::ENOSYS), Outcome::Continue),
        };
        (r.unwrap_or_else(|e| (-i64::from(e.0)) as u64), o)
    }

    fn console_io(&mut self, cmd: u64, count: u64, buf: u64) -> Result<u64, Errno> {
        match cmd {
            CONSOLEIO_WRITE => {}
            CONSOLEIO_READ => return Err(Errno::EPERM),
            _ => return Err(Errno::ENOSYS),
        }
        let count = count as u32 as u64;
        let mut chunk = [0u8; 128];
        let mut off = 0;
        while off < count {
            let n = (count - off).min(chunk.len() as u64) as usize;
            let va = buf.checked_add(off).ok_or(Errno::EFAULT)?;
            self.view(|v| v.read(va, &mut chunk[..n]))?;
            for &b in &chunk[..n] {
                self.line.push(b, self.console);
            }
            off += n as u64;
        }
        Ok(0)
    }

    fn xen_version(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let write = |s: &mut Self, bytes: &[u8]| s.view(|v| v.write(arg, bytes)).map(|()| 0);
        match cmd {
            XENVER_VERSION => Ok((XEN_MAJOR << 16) | XEN_MINOR),
            XENVER_EXTRAVERSION => {
                let mut s = [0u8; 16];
                s[..10].copy_from_slice(b"-xen-core\0");
                write(self, &s)
            }
            XENVER_CAPABILITIES => {
                let mut s = [0u8; 1024];
                let caps = b"hvm-3.0-x86_64 ";
                s[..caps.len()].copy_from_slice(caps);
                write(self, &s)
            }
            XENVER_GET_FEATURES => {
                let idx = self.view(|v| v.read_u32(arg))?;
                if idx != 0 {
                    return Err(Errno::EINVAL);
                }
                // Xen 4.17's bits for a translated HVM domain without
                // pirqs that is not the hardware domain, but
                // `memory_op_vnode_supported` (no vNUMA here).
                let map: u32 = (1 << XENFEAT_WRITABLE_PAGE_TABLES)
                    | (1 << XENFEAT_AUTO_TRANSLATED_PHYSMAP)
                    | (1 << XENFEAT_HVM_CALLBACK_VECTOR)
                    | (1 << XENFEAT_HVM_SAFE_PVCLOCK)
                    | (1 << XENFEAT_NOT_DIRECT_MAPPED);
                self.view(|v| v.write(arg + 4, &map.to_le_bytes())).map(|()| 0)
            }
            XENVER_GUEST_HANDLE => write(self, &[0u8; 16]),
            XENVER_PAGESIZE if arg == 0 => Ok(abi::PAGE_SIZE),
            XENVER_PAGESIZE => Err(Errno::EINVAL),
            _ => Err(Errno::ENOSYS),
        }
    }

    fn sched_op(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Outcome) {
        match cmd {
            SCHEDOP_YIELD => (Ok(0), Outcome::Yield),
            SCHEDOP_BLOCK => {
                // Xen's `vcpu_block_enable_events`: events unmasked first;
                // the arch layer does not block with one pending.
                let mask = crate::mm::PhysAddr(self.vcpu.vcpu_info_location().0 + 1);
                self.mm.mem.write_bytes(mask, &[0]);
                (Ok(0), Outcome::Block)
            }
            SCHEDOP_SHUTDOWN => match self.view(|v| v.read_u32(arg)) {
                Ok(reason) => (Ok(0), Outcome::Shutdown(reason & 0xFF)),
                Err(e) => (Err(e), Outcome::Continue),
            },
            _ => (Err(Errno::ENOSYS), Outcome::Continue),
        }
    }

    pub(super) fn target(&mut self, raw: u16) -> Result<(), Errno> {
        let target = if DomId(raw) == DomId::SELF { self.dom } else { DomId(raw) };
        if target == self.dom {
            return Ok(());
        }
        // Not privileged: another domain's memory is not its to change.
        self.mm.domain(target).ok_or(Errno::ESRCH)?;
        Err(Errno::EPERM)
    }

    fn memory_op(&mut self, cmd: u64, arg: u64) -> (Result<u64, Errno>, Outcome) {
        let op = cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1);
        let start = cmd >> MEMOP_EXTENT_SHIFT;
        let r = match op {
            XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => (|| {
                if start != 0 {
                    return Err(Errno::EINVAL);
                }
                let mut b = [0u8; 2];
                self.view(|v| v.read(arg, &mut b))?;
                self.target(u16::from_le_bytes(b))?;
                let d = self.mm.domain(self.dom).ok_or(Errno::ESRCH)?;
                Ok(if op == XENMEM_CURRENT_RESERVATION { d.tot_pages } else { d.max_pages })
            })(),
            XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => return self.reservation(op, start, arg),
            XENMEM_ADD_TO_PHYSMAP => return self.add_to_physmap(arg),
            _ => Err(Errno::ENOSYS),
        };
        (r, Outcome::Continue)
    }

    /// `decrease_reservation` / `populate_physmap` on guest frames: the
    /// extents done (counting `start`); a refused request does none.
    fn reservation(&mut self, op: u64, start: u64, arg: u64) -> (Result<u64, Errno>, Outcome) {
        let refused = (Ok(start), Outcome::Continue);
        let mut raw = [0u8; 32];
        if self.view(|v| v.read(arg, &mut raw)).is_err() {
            return (Err(Errno::EFAULT), Outcome::Continue);
        }
        let word = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
        let (extent_start, nr_extents) = (word(0), word(8));
        let extent_order = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
        let mem_flags = u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]]);
        if self.target(u16::from_le_bytes([raw[24], raw[25]])).is_err() || mem_flags != 0 {
            return refused;
        }
        let r = Reservation { nr_extents, extent_order, start };
        let order = match extent_order {
            0 => Order::Page4K,
            9 => Order::Page2M,
            _ => return refused,
        };
        if !r.acceptable() {
            return refused;
        }
        let mut done = start;
        while done < nr_extents {
            let Some(at) = done.checked_mul(8).and_then(|o| extent_start.checked_add(o)) else { break };
            let Ok(gfn) = self.view(|v| v.read_u64(at)) else { break };
            let gfn = Gfn(gfn);
            let changed = if op == XENMEM_DECREASE_RESERVATION {
                self.p2m.decrease(self.mm, gfn, order)
            } else {
                self.p2m.populate(self.mm, gfn, order).map(|_| ())
            };
            // A decrease that stopped part-way through an extent changed
            // some of it: the tables follow either way.
            let in_map = self.p2m.in_range(gfn, order.frames()) && order.aligned(gfn.0);
            if in_map && self.npt.changed(self.p2m, self.mm, gfn, order).is_err() {
                log::warn!("domain {}: nested tables cannot follow a p2m change: crashed", self.dom.0);
                return (Ok(done), Outcome::Crash);
            }
            if changed.is_err() {
                break;
            }
            done += 1;
        }
        (Ok(done), Outcome::Continue)
    }

    fn hvm_op(&mut self, op: u64, arg: u64) -> Result<u64, Errno> {
        match op {
            HVMOP_SET_PARAM | HVMOP_GET_PARAM => {}
            HVMOP_SET_EVTCHN_UPCALL_VECTOR => return self.set_evtchn_upcall_vector(arg),
            HVMOP_FLUSH_TLBS => return self.flush_tlbs(arg),
            _ => return Err(Errno::ENOSYS),
        }
        let mut raw = [0u8; 16];
        self.view(|v| v.read(arg, &mut raw))?;
        let domid = u16::from_le_bytes([raw[0], raw[1]]);
        let index = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
        let value = u64::from_le_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
        if index >= param::HVM_NR_PARAMS {
            return Err(Errno::EINVAL);
        }
        self.target(domid)?;
        if op == HVMOP_SET_PARAM {
            if !guest_may_set(index) {
                return Err(Errno::EPERM);
            }
            self.params.0[index as usize] = value;
            return Ok(0);
        }
        if !guest_may_get(index) {
            return Err(Errno::EPERM);
        }
        let v = self.params.0[index as usize];
        self.view(|g| g.write(arg + 8, &v.to_le_bytes())).map(|()| 0)
    }
}

#[cfg(test)]
#[path = "pvh_call_tests.rs"]
mod tests;
