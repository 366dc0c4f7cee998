//! A PVH vCPU's own hypercalls: `vcpu_op` (every command xen-core has for
//! a PV vCPU, on the same timer and runstate cores, [`crate::time`]),
//! `vm_assist`, and the `hvm_op`s about the vCPU
//! (`HVMOP_set_evtchn_upcall_vector`, `HVMOP_flush_tlbs`); plus the guest
//! areas it registers, rewritten when it is switched in.
//!
//! What differs from PV is Xen's, for an HVM vCPU: pointers are guest
//! VIRTUAL addresses through the guest's own tables (Xen's `copy_to_guest`
//! for an HVM vCPU is `hvm_copy_to_guest_linear`), and a registered area
//! is one too, translated again at every update with the tables the guest
//! has then; with external paging Xen's `guest_handle_okay` accepts every
//! address, so registering never fails on the address (a write that
//! cannot reach the guest's RAM is dropped, as Xen ignores it).
//! `VCPUOP_initialise` copies a `vcpu_hvm_context` (128 bytes), not a PV
//! context. `vm_assist` knows only `VMASST_TYPE_runstate_update_flag`
//! (Xen 4.17's valid mask for HVM).

use super::gmem::GuestView;
use super::pvh_call::{Outcome, PvhCall};
use crate::domain::vcpu_op::{self, VcpuOpEnd, VcpuOps};
use crate::mm::{MmHooks, PhysAddr, PhysMemory};
use crate::time::info::{guest_time_bytes, publish_time, TimeStamp, VCPU_INFO_TIME};
use crate::time::runstate::{Runstate, RUNSTATE_UPDATE};
use crate::time::timers::Armed;
use crate::time::vcpu::VcpuTime;
use abi::event_channel::virq;
use abi::vm_assist::VMASST_TYPE_RUNSTATE_UPDATE_FLAG;
use abi::Errno;

/// `sizeof(struct vcpu_hvm_context)`: mode, pad and the larger of the
/// 32-bit (120 bytes) and 64-bit (112 bytes) register sets.
pub const VCPU_HVM_CONTEXT_SIZE: usize = 128;
/// Vectors below this are exceptions: `HVMOP_set_evtchn_upcall_vector`
/// refuses them (`-EINVAL`), as Xen does.
pub const MIN_UPCALL_VECTOR: u8 = 0x10;

/// A PVH vCPU's state its hypercalls set, beyond the VMCB and the shared
/// [`crate::domain::vcpu::Vcpu`]: kept by the arch layer between slices.
/// The areas are NOT [`crate::time::vcpu::VcpuTime`]'s, which the PV
/// switch path writes through the current page tables: a PVH guest's
/// addresses mean something only through its own tables and p2m.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmVcpu {
    /// `HVMOP_set_evtchn_upcall_vector` (0: none set).
    pub upcall_vector: u8,
    /// `register_runstate_memory_area`: a guest-virtual address (0: none).
    pub runstate_area: u64,
    /// `register_vcpu_time_memory_area`: a guest-virtual address (0: none).
    pub time_area: u64,
    /// `HVMOP_flush_tlbs` asked for the vCPU's TLB to be flushed before it
    /// runs again (taken by the arch layer).
    pub flush_tlb: bool,
    /// A hypercall is to run again from the guest's registers (a
    /// continuation): RIP goes back to the VMMCALL, RAX keeps its number,
    /// and the first two argument registers get these (taken by the arch
    /// layer).
    pub restart: Option<[u64; 2]>,
}

/// Writes runstate `r` at guest-virtual `va`, as Xen's
/// `update_runstate_area`: with `update_flag` (the domain enabled
/// `VMASST_TYPE_runstate_update_flag`) bit 63 of `state_entry_time` is set
/// in the guest's copy first, the area written with it set, then cleared
/// (its byte alone each time). Faults are ignored, as on Xen.
pub fn write_runstate<M: PhysMemory>(view: &mut GuestView<'_, '_, M>, va: u64, r: &Runstate, update_flag: bool) {
    if va == 0 {
        return;
    }
    let top = va.wrapping_add(15);
    if !update_flag {
        let _ = view.write(va, &r.to_bytes(0));
        return;
    }
    let b = r.to_bytes(RUNSTATE_UPDATE);
    if view.write(top, &b[15..16]).is_err() {
        return;
    }
    let _ = view.write(va, &b);
    let _ = view.write(top, &r.to_bytes(0)[15..16]);
}

/// Writes `stamp` into the guest's own `vcpu_time_info` copy at `va`
/// (`register_vcpu_time_memory_area`) with the version protocol; faults
/// ignored, as on Xen.
pub fn write_time_area<M: PhysMemory>(view: &mut GuestView<'_, '_, M>, va: u64, stamp: &TimeStamp) {
    if va == 0 {
        return;
    }
    let version = view.read_u32(va).unwrap_or(0);
    let (b, done) = guest_time_bytes(stamp, version);
    if view.write(va, &b[..8]).is_ok() && view.write(va.wrapping_add(8), &b[8..]).is_ok() {
        let _ = view.write(va, &done.to_le_bytes());
    }
}

/// The vCPU was switched in (its runstate now running): its registered
/// areas rewritten through its own tables, as Xen's context switch does.
pub fn switched_in<M: PhysMemory>(
    view: &mut GuestView<'_, '_, M>,
    hv: &HvmVcpu,
    r: &Runstate,
    vm_assist: u64,
    stamp: &TimeStamp,
) {
    write_runstate(view, hv.runstate_area, r, update_flag(vm_assist));
    write_time_area(view, hv.time_area, stamp);
}

/// Whether the domain enabled `VMASST_TYPE_runstate_update_flag`.
pub const fn update_flag(vm_assist: u64) -> bool {
    vm_assist & (1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG) != 0
}

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// `vcpu_op(cmd, vcpuid, arg)`: the shared switch
    /// ([`crate::domain::vcpu_op`]) with PVH's performs.
    pub(super) fn vcpu_op(&mut self, cmd: u64, vcpuid: u64, arg: u64) -> (Result<u64, Errno>, Outcome) {
        match vcpu_op::vcpu_op(self, cmd, vcpuid, arg) {
            (r, VcpuOpEnd::Continue) => (r, Outcome::Continue),
            (r, VcpuOpEnd::PowerOff) => (r, Outcome::Shutdown(abi::sched::SHUTDOWN_POWEROFF)),
        }
    }

    /// `vm_assist(cmd, type)`: Xen 4.17's HVM mask has only
    /// `VMASST_TYPE_runstate_update_flag` (others `-EINVAL`); `cmd` 0
    /// enables, 1 disables, others `-ENOSYS`.
    pub(super) fn vm_assist(&mut self, cmd: u64, kind: u64) -> Result<u64, Errno> {
        // Both are unsigned ints on Xen: the upper halves are ignored.
        if u64::from(kind as u32) != VMASST_TYPE_RUNSTATE_UPDATE_FLAG {
            return Err(Errno::EINVAL);
        }
        let bit = 1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG;
        match cmd as u32 {
            0 => self.vcpu.vm_assist |= bit,
            1 => self.vcpu.vm_assist &= !bit,
            _ => return Err(Errno::ENOSYS),
        }
        Ok(0)
    }

    /// `HVMOP_set_evtchn_upcall_vector(&{vcpu, vector})`: the structure
    /// (8 bytes) first, then a vector below 0x10 `-EINVAL`, then a vCPU
    /// other than 0 `-ENOENT`, as Xen's order. Upcalls then come on that
    /// vector (through the same injection as the callback vector).
    pub(super) fn set_evtchn_upcall_vector(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.view(|v| v.read(arg, &mut b))?;
        let (vcpu, vector) = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]), b[4]);
        if vector < MIN_UPCALL_VECTOR {
            return Err(Errno::EINVAL);
        }
        if vcpu != 0 {
            return Err(Errno::ENOENT);
        }
        self.hvcpu.upcall_vector = vector;
        Ok(0)
    }

    /// `HVMOP_flush_tlbs(NULL)`: every vCPU's TLB (here its one) flushed
    /// before it runs again; a non-null argument `-EINVAL`, as Xen 4.17.
    pub(super) fn flush_tlbs(&mut self, arg: u64) -> Result<u64, Errno> {
        if arg != 0 {
            return Err(Errno::EINVAL);
        }
        self.hvcpu.flush_tlb = true;
        Ok(0)
    }
}

impl<M: PhysMemory, H: MmHooks> VcpuOps for PvhCall<'_, '_, '_, '_, M, H> {
    fn time(&mut self) -> &mut VcpuTime {
        &mut self.vcpu.time
    }

    /// `VCPUOP_initialise`: a `vcpu_hvm_context` copied in first
    /// (`-EFAULT`); vCPU 0 is initialised (`-EEXIST`).
    fn initialise(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut b = [0u8; VCPU_HVM_CONTEXT_SIZE];
        self.view(|v| v.read(arg, &mut b)).and(Err(Errno::EEXIST))
    }

    fn get_runstate_info(&mut self, arg: u64) -> Result<u64, Errno> {
        let b = self.vcpu.time.runstate.bytes_at(self.now);
        self.view(|v| v.write(arg, &b)).map(|()| 0)
    }

    fn set_periodic_timer(&mut self, arg: u64) -> Result<u64, Errno> {
        let period = self.view(|v| v.read_u64(arg))?;
        self.vcpu.time.timers.set_periodic(self.now, period).map(|()| 0)
    }

    /// `set_singleshot_timer(&{timeout_abs_ns, flags})`: the shared
    /// single-shot core (`VCPU_SSHOTTMR_future` ignored, as by Xen 4.17;
    /// a deadline already past fires `VIRQ_TIMER` now).
    fn set_singleshot_timer(&mut self, arg: u64) -> Result<u64, Errno> {
        // The whole structure, as Xen copies it in.
        let mut b = [0u8; 16];
        self.view(|v| v.read(arg, &mut b))?;
        let timeout = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        if self.vcpu.time.timers.set_singleshot(self.now, timeout) == Armed::FireNow {
            self.events.send_virq(self.mm, self.dom, virq::TIMER);
        }
        Ok(0)
    }

    /// `register_runstate_memory_area(&{va})`: any address (Xen's check
    /// passes every handle of an externally paged guest); the runstate as
    /// it stands is written at once, its fault ignored.
    fn register_runstate_area(&mut self, arg: u64) -> Result<u64, Errno> {
        let va = self.view(|v| v.read_u64(arg))?;
        self.hvcpu.runstate_area = va;
        let (r, flag) = (self.vcpu.time.runstate, update_flag(self.vcpu.vm_assist));
        self.view(|v| write_runstate(v, va, &r, flag));
        Ok(0)
    }

    /// `register_vcpu_time_memory_area(&{va})`: written at once and at
    /// each switch to the vCPU, faults ignored.
    fn register_time_area(&mut self, arg: u64) -> Result<u64, Errno> {
        let va = self.view(|v| v.read_u64(arg))?;
        self.hvcpu.time_area = va;
        let stamp = self.stamp;
        self.view(|v| write_time_area(v, va, &stamp));
        Ok(0)
    }

    /// `register_vcpu_info(&{gfn, offset, rsvd})` with a guest frame:
    /// Xen's `map_vcpu_info` checks the offset before the frame; the time
    /// info is then stamped wherever vcpu_info is, moved or not, as Xen's
    /// `force_update_vcpu_system_time` does.
    fn register_vcpu_info(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 16];
        self.view(|v| v.read(arg, &mut b))?;
        let gfn = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let offset = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let r = (|| {
            if offset > 4096 - crate::event::VCPU_INFO_SIZE || offset % 8 != 0 {
                return Err(Errno::ENXIO);
            }
            let mfn = self.ram_frame(gfn).ok_or(Errno::EINVAL)?;
            let at = self.events.register_vcpu_info(self.mm, self.dom, mfn, offset)?;
            self.vcpu.set_vcpu_info_location(at);
            Ok(0)
        })();
        let vi = self.vcpu.vcpu_info_location();
        publish_time(self.mm.mem, PhysAddr(vi.0 + VCPU_INFO_TIME), &self.stamp, true);
        r
    }

    /// Only the hardware domain's pinned vCPU has one; a PVH domain is
    /// never privileged here (`-EINVAL`).
    fn get_physid(&mut self, _arg: u64) -> Result<u64, Errno> {
        Err(Errno::EINVAL)
    }
}
