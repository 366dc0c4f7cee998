//! Timers, vCPU state and polling: `set_timer_op`, the `vcpu_op`
//! commands and `SCHEDOP_poll`.

use super::call;
use crate::hypercall::HypercallNr;
use crate::Errno;

/// `set_timer_op(deadline)`: arms the single-shot timer for an absolute
/// system time in ns (0 cancels). A past deadline fires at once.
///
/// # Errors
/// None on Xen 4.17 (always 0).
pub fn set_timer_op(deadline_ns: u64) -> Result<u64, Errno> {
    call(HypercallNr::SET_TIMER_OP, [deadline_ns, 0, 0, 0, 0])
}

/// `vcpu_op(cmd, vcpu, arg)` with a command that takes no argument
/// (`VCPUOP_is_up`, `up`, `down`, `stop_periodic_timer`,
/// `stop_singleshot_timer`). `is_up` returns 1 or 0.
///
/// # Errors
/// `ENOENT` for a vCPU id the domain does not have; `EINVAL` where the
/// command needs the calling vCPU.
pub fn vcpu_op_simple(cmd: u64, vcpu: u32) -> Result<u64, Errno> {
    call(HypercallNr::VCPU_OP, [cmd, u64::from(vcpu), 0, 0, 0])
}

/// `VCPUOP_set_singleshot_timer` on the calling vCPU `vcpu`.
///
/// # Errors
/// `EINVAL` for another vCPU, `ENOENT` for one that does not exist.
pub fn set_singleshot_timer(vcpu: u32, arg: &crate::vcpu::VcpuSetSingleshotTimer) -> Result<u64, Errno> {
    let p = arg as *const crate::vcpu::VcpuSetSingleshotTimer as u64;
    call(HypercallNr::VCPU_OP, [crate::vcpu::VCPUOP_SET_SINGLESHOT_TIMER, u64::from(vcpu), p, 0, 0])
}

/// `VCPUOP_set_periodic_timer`.
///
/// # Errors
/// `EINVAL` for a period below 1 ms or above 2^62 − 1 ns.
pub fn set_periodic_timer(vcpu: u32, period_ns: u64) -> Result<u64, Errno> {
    let arg = crate::vcpu::VcpuSetPeriodicTimer { period_ns };
    let p = &arg as *const crate::vcpu::VcpuSetPeriodicTimer as u64;
    call(HypercallNr::VCPU_OP, [crate::vcpu::VCPUOP_SET_PERIODIC_TIMER, u64::from(vcpu), p, 0, 0])
}

/// `VCPUOP_get_runstate_info` into `out`.
///
/// # Errors
/// `ENOENT` for a vCPU the domain does not have.
pub fn get_runstate_info(vcpu: u32, out: &mut crate::vcpu::VcpuRunstateInfo) -> Result<u64, Errno> {
    let p = out as *mut crate::vcpu::VcpuRunstateInfo as u64;
    call(HypercallNr::VCPU_OP, [crate::vcpu::VCPUOP_GET_RUNSTATE_INFO, u64::from(vcpu), p, 0, 0])
}

/// `VCPUOP_register_runstate_memory_area`: the hypervisor keeps a
/// [`crate::vcpu::VcpuRunstateInfo`] at `area` up to date (0 stops it).
///
/// # Safety
/// The hypervisor writes 48 bytes at `area` at every runstate change
/// until it is unregistered: `area` must stay valid memory reserved for it.
///
/// # Errors
/// `EFAULT` for an address outside guest space.
pub unsafe fn register_runstate_memory_area(vcpu: u32, area: u64) -> Result<u64, Errno> {
    let arg = crate::vcpu::VcpuRegisterArea { addr: area };
    let p = &arg as *const crate::vcpu::VcpuRegisterArea as u64;
    call(HypercallNr::VCPU_OP, [crate::vcpu::VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, u64::from(vcpu), p, 0, 0])
}

/// `SCHEDOP_poll` on `ports` until one is pending or system time
/// `timeout_ns` (0 = none) passes.
///
/// # Errors
/// `EINVAL` for more than 128 ports or one that is not bound; `EFAULT`.
pub fn poll(ports: &[u32], timeout_ns: u64) -> Result<u64, Errno> {
    let arg = crate::sched::SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: ports.len() as u32,
        pad: 0,
        timeout: timeout_ns,
    };
    let p = &arg as *const crate::sched::SchedPoll as u64;
    call(HypercallNr::SCHED_OP, [crate::sched::SCHEDOP_POLL, p, 0, 0, 0])
}

/// `EVTCHNOP_bind_virq`: binds VIRQ `virq` on vCPU `vcpu` to a new port
/// (for VIRQ_TIMER, the timer's events). Returns the port.
///
/// # Errors
/// `EEXIST` if already bound, `EINVAL` for a bad VIRQ or vCPU, `ENOSYS`
/// where there are no event channels.
pub fn bind_virq(virq: u32, vcpu: u32) -> Result<u32, Errno> {
    let mut arg = crate::event_channel::BindVirq { virq, vcpu, port: 0 };
    let p = &mut arg as *mut crate::event_channel::BindVirq as u64;
    call(HypercallNr::EVENT_CHANNEL_OP, [crate::event_channel::EVTCHNOP_BIND_VIRQ, p, 0, 0, 0])?;
    Ok(arg.port)
}
