//! `vcpu_op` (24) and `set_timer_op` (15) (fact sheet §3.3–§3.4) for a PV
//! vCPU: the command switch is shared with PVH
//! ([`crate::domain::vcpu_op`], vCPU 0 only); here are PV's performs, on
//! guest addresses through the caller's page tables.

use super::{Action, Call, ConsoleSink, GuestMemory};
use crate::domain::vcpu_op::{self, VcpuOpEnd, VcpuOps};
use crate::mm::{MmHooks, PhysAddr, PhysMemory};
use crate::time::info::VCPU_INFO_TIME;
use crate::time::timers::Armed;
use crate::time::vcpu::VcpuTime;
use abi::Errno;

/// `sizeof(struct vcpu_guest_context)` on x86_64 (`VCPUOP_initialise`).
const VCPU_GUEST_CONTEXT_SIZE: u64 = 5168;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `set_timer_op(timeout)`: always 0.
    #[inline(never)]
    pub(super) fn set_timer_op(&mut self, timeout: u64) -> Result<u64, Errno> {
        self.hv.mm.hooks.timers_changed(self.dom);
        let now = self.hv.host.now();
        if self.vcpu.time.timers.set_timer_op(now, timeout) == Armed::FireNow {
            self.timer_fired_now();
        }
        Ok(0)
    }

    /// A timer armed in the past fires at once: VIRQ_TIMER, if bound.
    pub(super) fn timer_fired_now(&mut self) {
        self.events.send_virq(&mut self.hv.mm, self.dom, abi::event_channel::virq::TIMER);
    }

    /// `vcpu_op(cmd, vcpuid, arg)`: the shared switch
    /// ([`crate::domain::vcpu_op`]) with PV's performs. Not inlined: the
    /// switch inlined into `dispatch` costs every hypercall (xen_version
    /// 114 -> 117 instructions).
    #[inline(never)]
    pub(super) fn vcpu_op(&mut self, cmd: u64, vcpuid: u64, arg: u64) -> (Result<u64, Errno>, Action) {
        match vcpu_op::vcpu_op(self, cmd, vcpuid, arg) {
            (r, VcpuOpEnd::Continue) => (r, Action::Continue),
            (r, VcpuOpEnd::PowerOff) => (r, Action::Shutdown(u64::from(abi::sched::SHUTDOWN_POWEROFF))),
        }
    }

    /// The runstate with the current stay counted, as Xen's
    /// `vcpu_runstate_get` reports it.
    fn runstate_now(&self) -> [u8; 48] {
        self.vcpu.time.runstate.bytes_at(self.hv.host.now())
    }
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> VcpuOps for Call<'_, '_, M, H, G, C> {
    fn time(&mut self) -> &mut VcpuTime {
        &mut self.vcpu.time
    }

    /// Any accepted call may move the vCPU's timers: the exit re-arms them.
    fn accepted(&mut self) {
        self.hv.mm.hooks.timers_changed(self.dom);
    }

    /// `VCPUOP_initialise` on vCPU 0, which is initialised: the context is
    /// copied in first (`-EFAULT`), then `-EEXIST`.
    fn initialise(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut buf = [0u8; 256];
        let mut off = 0;
        while off < VCPU_GUEST_CONTEXT_SIZE {
            let n = (VCPU_GUEST_CONTEXT_SIZE - off).min(buf.len() as u64);
            self.mem().read(arg.wrapping_add(off), &mut buf[..n as usize])?;
            off += n;
        }
        Err(Errno::EEXIST)
    }

    /// `VCPUOP_get_physid`: only a hardware domain's vCPU pinned to one
    /// CPU has one (`-EINVAL`); on the one CPU xen-core runs on, domain 0's
    /// vCPU is, as Xen's is with one CPU: APIC id 0, ACPI id 0.
    fn get_physid(&mut self, arg: u64) -> Result<u64, Errno> {
        if !self.privileged() {
            return Err(Errno::EINVAL);
        }
        self.mem().write(arg, &0u64.to_le_bytes())?;
        Ok(0)
    }

    fn set_periodic_timer(&mut self, arg: u64) -> Result<u64, Errno> {
        let period = self.mem().read_u64(arg)?;
        let now = self.hv.host.now();
        self.vcpu.time.timers.set_periodic(now, period).map(|()| 0)
    }

    fn set_singleshot_timer(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 16];
        self.mem().read(arg, &mut b)?;
        let timeout = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let now = self.hv.host.now();
        if self.vcpu.time.timers.set_singleshot(now, timeout) == Armed::FireNow {
            self.timer_fired_now();
        }
        Ok(0)
    }

    fn get_runstate_info(&mut self, arg: u64) -> Result<u64, Errno> {
        let bytes = self.runstate_now();
        self.mem().write(arg, &bytes)?;
        Ok(0)
    }

    /// `register_runstate_memory_area`: the area must lie in guest space;
    /// the runstate is copied at once, its faults ignored. As Xen does for
    /// the calling vCPU, it is copied as it stands: the stay in progress is
    /// not counted (`get_runstate_info` counts it).
    fn register_runstate_area(&mut self, arg: u64) -> Result<u64, Errno> {
        let va = self.mem().read_u64(arg)?;
        if !abi::GuestVa(va).range_is_guest_accessible(48) {
            return Err(Errno::EFAULT);
        }
        self.vcpu.time.runstate_area = va;
        if va != 0 {
            let bytes = self.vcpu.time.runstate.to_bytes(0);
            let _ = self.mem().write(va, &bytes);
        }
        Ok(0)
    }

    /// `register_vcpu_info(&{mfn, offset, rsvd})` ([`crate::event`] moves
    /// it): the vCPU, the event core and the arch layer's cached pointer
    /// (through [`MmHooks::vcpu_info_moved`]) all follow. The time info is then stamped
    /// wherever vcpu_info is, whether the move succeeded or not, as Xen's
    /// `force_update_vcpu_system_time` does after `map_vcpu_info`.
    fn register_vcpu_info(&mut self, arg: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 16];
        self.mem().read(arg, &mut b)?;
        let mfn = abi::Mfn(u64::from_le_bytes(b[..8].try_into().unwrap_or_default()));
        let offset = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let r = self.events.register_vcpu_info(&mut self.hv.mm, self.dom, mfn, offset);
        if let Ok(at) = r {
            self.vcpu.set_vcpu_info_location(at);
            self.hv.mm.hooks.vcpu_info_moved();
            self.hv.mm.hooks.event_kicked();
        }
        let stamp =
            crate::time::info::TimeStamp::at(&self.hv.host.clock, (self.hv.host.read_tsc)(), self.hv.host.time_flags);
        let vi = self.vcpu.vcpu_info_location();
        crate::time::info::publish_time(self.hv.mm.mem, PhysAddr(vi.0 + VCPU_INFO_TIME), &stamp, true);
        r.map(|_| 0)
    }

    /// `register_vcpu_time_memory_area`: a second `vcpu_time_info`, written
    /// at once and at each switch to the vCPU.
    fn register_time_area(&mut self, arg: u64) -> Result<u64, Errno> {
        let va = self.mem().read_u64(arg)?;
        if !abi::GuestVa(va).range_is_guest_accessible(32) {
            return Err(Errno::EFAULT);
        }
        self.vcpu.time.time_area = va;
        if va != 0 {
            let stamp = crate::time::info::TimeStamp::of(&self.hv.host.clock, self.hv.host.time_flags);
            crate::time::info::publish_time_to_guest(&self.mem(), va, &stamp);
        }
        Ok(0)
    }
}
