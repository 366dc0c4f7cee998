//! `vcpu_op` (24) and `set_timer_op` (15): vCPU state, timers, the
//! runstate area and vcpu_info registration (Xen's `public/vcpu.h`). `vcpu_op(cmd, vcpuid, arg)`.

use core::mem::{offset_of, size_of};

/// Start a vCPU from a `vcpu_guest_context`.
pub const VCPUOP_INITIALISE: u64 = 0;
/// Bring a vCPU up.
pub const VCPUOP_UP: u64 = 1;
/// Take a vCPU down (the last one: the domain powers off).
pub const VCPUOP_DOWN: u64 = 2;
/// 1 if the vCPU is up, 0 if down.
pub const VCPUOP_IS_UP: u64 = 3;
/// Copy the vCPU's [`VcpuRunstateInfo`] out.
pub const VCPUOP_GET_RUNSTATE_INFO: u64 = 4;
/// Have the hypervisor keep a [`VcpuRunstateInfo`] at a guest address.
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u64 = 5;
/// Start the periodic timer ([`VcpuSetPeriodicTimer`]).
pub const VCPUOP_SET_PERIODIC_TIMER: u64 = 6;
/// Stop the periodic timer.
pub const VCPUOP_STOP_PERIODIC_TIMER: u64 = 7;
/// Arm the single-shot timer ([`VcpuSetSingleshotTimer`]).
pub const VCPUOP_SET_SINGLESHOT_TIMER: u64 = 8;
/// Cancel the single-shot timer.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u64 = 9;
/// Move vcpu_info into a guest frame ([`VcpuRegisterVcpuInfo`]).
pub const VCPUOP_REGISTER_VCPU_INFO: u64 = 10;
/// Send an NMI to a vCPU.
pub const VCPUOP_SEND_NMI: u64 = 11;
/// The physical CPU's APIC and ACPI ids.
pub const VCPUOP_GET_PHYSID: u64 = 12;
/// A second `vcpu_time_info` at a guest address.
pub const VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA: u64 = 13;

/// `VCPU_SSHOTTMR_future`: asks for `-ETIME` if the deadline has passed
/// (ignored by Xen 4.17, which fires the timer at once instead).
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1;

/// `RUNSTATE_running`.
pub const RUNSTATE_RUNNING: i32 = 0;
/// `RUNSTATE_runnable`.
pub const RUNSTATE_RUNNABLE: i32 = 1;
/// `RUNSTATE_blocked`.
pub const RUNSTATE_BLOCKED: i32 = 2;
/// `RUNSTATE_offline`.
pub const RUNSTATE_OFFLINE: i32 = 3;
/// `XEN_RUNSTATE_UPDATE`: bit 63 of `state_entry_time` during an update.
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// `vcpu_runstate_info` (48 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuRunstateInfo {
    /// @0: `RUNSTATE_*`.
    pub state: i32,
    /// @4: padding.
    pub pad: u32,
    /// @8: system time at which `state` was entered.
    pub state_entry_time: u64,
    /// @16: nanoseconds spent in each state.
    pub time: [u64; 4],
}
const _: () = assert!(size_of::<VcpuRunstateInfo>() == 48);
const _: () = assert!(offset_of!(VcpuRunstateInfo, state_entry_time) == 8);
const _: () = assert!(offset_of!(VcpuRunstateInfo, time) == 16);

/// `VCPUOP_register_runstate_memory_area` / `_vcpu_time_memory_area`
/// argument: a guest virtual address (0 = unregister).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuRegisterArea {
    /// @0: guest virtual address.
    pub addr: u64,
}
const _: () = assert!(size_of::<VcpuRegisterArea>() == 8);

/// `VCPUOP_set_periodic_timer` argument.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuSetPeriodicTimer {
    /// @0: period in ns (1 ms to 2^62 − 1).
    pub period_ns: u64,
}
const _: () = assert!(size_of::<VcpuSetPeriodicTimer>() == 8);

/// `VCPUOP_set_singleshot_timer` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuSetSingleshotTimer {
    /// @0: absolute deadline in ns of system time.
    pub timeout_abs_ns: u64,
    /// @8: `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    /// @12: padding.
    pub pad: u32,
}
const _: () = assert!(size_of::<VcpuSetSingleshotTimer>() == 16);
const _: () = assert!(offset_of!(VcpuSetSingleshotTimer, flags) == 8);

/// `VCPUOP_register_vcpu_info` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuRegisterVcpuInfo {
    /// @0: machine frame holding the new vcpu_info.
    pub mfn: u64,
    /// @8: offset in that frame (8-aligned, not crossing the page).
    pub offset: u32,
    /// @12: reserved.
    pub rsvd: u32,
}
const _: () = assert!(size_of::<VcpuRegisterVcpuInfo>() == 16);
const _: () = assert!(offset_of!(VcpuRegisterVcpuInfo, offset) == 8);
