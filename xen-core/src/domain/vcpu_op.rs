//! `vcpu_op`'s command switch, shared by PV ([`crate::hypercall`]) and PVH
//! ([`crate::hvm`]) domains: the decode of `(cmd, vcpuid)` to a
//! [`VcpuCmd`], the commands whose answer is the same for every kind of
//! domain, and the hand-over of the others to the kind's own perform
//! (the [`VcpuOps`] methods), where a guest pointer means something else (a
//! PV guest's address or a PVH guest's virtual address through its own
//! tables), the `initialise` context has another size, or privilege
//! matters.
//!
//! Every domain has one vCPU, id 0, always up and always the caller. Xen
//! takes `cmd` as an int and `vcpuid` as an unsigned int: the upper halves
//! of both registers are ignored. Any other id is `-ENOENT` (Xen's
//! `domain_vcpu` answer for an id at or past `max_vcpus`), before the
//! command is looked at; an unknown command, `VCPUOP_send_nmi` included
//! (a deliberate difference, listed in the abi docs), is `-ENOSYS`.

use crate::time::vcpu::VcpuTime;
use abi::vcpu::*;
use abi::Errno;

/// A `vcpu_op` command for vCPU 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuCmd {
    /// `VCPUOP_initialise` ([`VcpuOps::initialise`]).
    Initialise,
    /// `VCPUOP_up`: up already, nothing to wake (0).
    Up,
    /// `VCPUOP_down`: the last vCPU going down powers the domain off
    /// (Xen's rule).
    Down,
    /// `VCPUOP_is_up`: 1 unless it went down.
    IsUp,
    /// `VCPUOP_get_runstate_info` ([`VcpuOps::get_runstate_info`]).
    GetRunstateInfo,
    /// `VCPUOP_register_runstate_memory_area`
    /// ([`VcpuOps::register_runstate_area`]).
    RegisterRunstateArea,
    /// `VCPUOP_set_periodic_timer` ([`VcpuOps::set_periodic_timer`]).
    SetPeriodicTimer,
    /// `VCPUOP_stop_periodic_timer` (0).
    StopPeriodicTimer,
    /// `VCPUOP_set_singleshot_timer` ([`VcpuOps::set_singleshot_timer`]).
    SetSingleshotTimer,
    /// `VCPUOP_stop_singleshot_timer` (0).
    StopSingleshotTimer,
    /// `VCPUOP_get_physid` ([`VcpuOps::get_physid`]).
    GetPhysid,
    /// `VCPUOP_register_vcpu_time_memory_area`
    /// ([`VcpuOps::register_time_area`]).
    RegisterTimeArea,
    /// `VCPUOP_register_vcpu_info` ([`VcpuOps::register_vcpu_info`]).
    RegisterVcpuInfo,
}

/// Whether vCPU `vcpuid` (an unsigned int) exists: only 0 does
/// (`-ENOENT`).
pub fn target(vcpuid: u64) -> Result<(), Errno> {
    if vcpuid as u32 == 0 {
        Ok(())
    } else {
        Err(Errno::ENOENT)
    }
}

impl VcpuCmd {
    /// Command `cmd` (an int), `None` for one xen-core does not have
    /// (`-ENOSYS`).
    pub fn decode(cmd: u64) -> Option<VcpuCmd> {
        Some(match u64::from(cmd as u32) {
            VCPUOP_INITIALISE => VcpuCmd::Initialise,
            VCPUOP_UP => VcpuCmd::Up,
            VCPUOP_DOWN => VcpuCmd::Down,
            VCPUOP_IS_UP => VcpuCmd::IsUp,
            VCPUOP_GET_RUNSTATE_INFO => VcpuCmd::GetRunstateInfo,
            VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => VcpuCmd::RegisterRunstateArea,
            VCPUOP_SET_PERIODIC_TIMER => VcpuCmd::SetPeriodicTimer,
            VCPUOP_STOP_PERIODIC_TIMER => VcpuCmd::StopPeriodicTimer,
            VCPUOP_SET_SINGLESHOT_TIMER => VcpuCmd::SetSingleshotTimer,
            VCPUOP_STOP_SINGLESHOT_TIMER => VcpuCmd::StopSingleshotTimer,
            VCPUOP_GET_PHYSID => VcpuCmd::GetPhysid,
            VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => VcpuCmd::RegisterTimeArea,
            VCPUOP_REGISTER_VCPU_INFO => VcpuCmd::RegisterVcpuInfo,
            _ => return None,
        })
    }
}

/// How a `vcpu_op` call ends besides its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuOpEnd {
    /// The caller goes on.
    Continue,
    /// `VCPUOP_down` of the last vCPU: the domain powers off.
    PowerOff,
}

/// What a kind of domain gives the shared switch: its vCPU's time state,
/// and its own perform of each command that takes the argument pointer.
pub trait VcpuOps {
    /// The calling vCPU's timers and up/down state.
    fn time(&mut self) -> &mut VcpuTime;
    /// Called once the vCPU id is accepted, before the command is decoded
    /// (PV notes that the vCPU's timers may change; default nothing).
    fn accepted(&mut self) {}
    /// `VCPUOP_initialise`: the kind's context copied in from `arg`
    /// (`-EFAULT`), then `-EEXIST` (vCPU 0 is initialised).
    fn initialise(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_get_runstate_info`: the runstate written at `arg`.
    fn get_runstate_info(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_register_runstate_memory_area(&{va})`.
    fn register_runstate_area(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_set_periodic_timer(&{period_ns})`.
    fn set_periodic_timer(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_set_singleshot_timer(&{timeout_abs_ns, flags})`.
    fn set_singleshot_timer(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_get_physid`.
    fn get_physid(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_register_vcpu_time_memory_area(&{va})`.
    fn register_time_area(&mut self, arg: u64) -> Result<u64, Errno>;
    /// `VCPUOP_register_vcpu_info(&{frame, offset, rsvd})`.
    fn register_vcpu_info(&mut self, arg: u64) -> Result<u64, Errno>;
}

/// `vcpu_op(cmd, vcpuid, arg)` for the caller `ops`.
#[inline]
pub fn vcpu_op<T: VcpuOps>(ops: &mut T, cmd: u64, vcpuid: u64, arg: u64) -> (Result<u64, Errno>, VcpuOpEnd) {
    if let Err(e) = target(vcpuid) {
        return (Err(e), VcpuOpEnd::Continue);
    }
    ops.accepted();
    let Some(cmd) = VcpuCmd::decode(cmd) else { return (Err(Errno::ENOSYS), VcpuOpEnd::Continue) };
    let r = match cmd {
        VcpuCmd::Initialise => ops.initialise(arg),
        VcpuCmd::Up => Ok(0),
        VcpuCmd::Down => return (Ok(0), VcpuOpEnd::PowerOff),
        VcpuCmd::IsUp => Ok(u64::from(!ops.time().down)),
        VcpuCmd::GetRunstateInfo => ops.get_runstate_info(arg),
        VcpuCmd::RegisterRunstateArea => ops.register_runstate_area(arg),
        VcpuCmd::SetPeriodicTimer => ops.set_periodic_timer(arg),
        VcpuCmd::StopPeriodicTimer => {
            ops.time().timers.stop_periodic();
            Ok(0)
        }
        VcpuCmd::SetSingleshotTimer => ops.set_singleshot_timer(arg),
        VcpuCmd::StopSingleshotTimer => {
            ops.time().timers.stop_singleshot();
            Ok(0)
        }
        VcpuCmd::GetPhysid => ops.get_physid(arg),
        VcpuCmd::RegisterTimeArea => ops.register_time_area(arg),
        VcpuCmd::RegisterVcpuInfo => ops.register_vcpu_info(arg),
    };
    (r, VcpuOpEnd::Continue)
}
