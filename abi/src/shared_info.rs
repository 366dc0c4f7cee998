//! `shared_info`, `vcpu_info` and `vcpu_time_info`: the page the hypervisor
//! shares with the domain (its machine address is in start_info).
//! The guest maps the shared_info frame by its machine address, taken from
//! `start_info.shared_info`.

use core::mem::{offset_of, size_of};

/// Per-vCPU time information (32 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuTimeInfo {
    /// @0: odd while being updated (read like a seqlock).
    pub version: u32,
    /// @4: padding.
    pub pad0: u32,
    /// @8: TSC at `system_time`.
    pub tsc_timestamp: u64,
    /// @16: nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    /// @24: TSC → ns multiplier (32.32 fixed point).
    pub tsc_to_system_mul: u32,
    /// @28: TSC shift before multiplying.
    pub tsc_shift: i8,
    /// @29: bit 0 TSC stable, bit 1 guest stopped.
    pub flags: u8,
    /// @30: padding.
    pub pad1: [u8; 2],
}
const _: () = assert!(size_of::<VcpuTimeInfo>() == 32);
const _: () = assert!(offset_of!(VcpuTimeInfo, system_time) == 16);
const _: () = assert!(offset_of!(VcpuTimeInfo, tsc_shift) == 28);

/// Per-vCPU shared state (64 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct VcpuInfo {
    /// @0: set by the hypervisor when an unmasked event is pending.
    pub evtchn_upcall_pending: u8,
    /// @1: the guest's virtual interrupt flag: non-zero = no upcalls.
    pub evtchn_upcall_mask: u8,
    /// @2: padding.
    pub pad0: [u8; 6],
    /// @8: which words of `evtchn_pending` may hold pending ports.
    pub evtchn_pending_sel: u64,
    /// @16: faulting address of the last #PF bounced to the guest.
    pub cr2: u64,
    /// @24: padding.
    pub pad1: u64,
    /// @32: time.
    pub time: VcpuTimeInfo,
}
const _: () = assert!(size_of::<VcpuInfo>() == 64);
const _: () = assert!(offset_of!(VcpuInfo, evtchn_upcall_mask) == 1);
const _: () = assert!(offset_of!(VcpuInfo, evtchn_pending_sel) == 8);
const _: () = assert!(offset_of!(VcpuInfo, cr2) == 16);
const _: () = assert!(offset_of!(VcpuInfo, time) == 32);

/// Number of `vcpu_info` slots in `shared_info`.
pub const LEGACY_MAX_VCPUS: usize = 32;

/// The shared_info page's defined part (3136 bytes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct SharedInfo {
    /// @0: per-vCPU state.
    pub vcpu_info: [VcpuInfo; LEGACY_MAX_VCPUS],
    /// @2048: pending bits, one per event-channel port.
    pub evtchn_pending: [u64; 64],
    /// @2560: mask bits, one per port.
    pub evtchn_mask: [u64; 64],
    /// @3072: wallclock version (odd = updating).
    pub wc_version: u32,
    /// @3076: wallclock seconds at system time 0 (low 32 bits).
    pub wc_sec: u32,
    /// @3080: wallclock nanoseconds.
    pub wc_nsec: u32,
    /// @3084: wallclock seconds (high 32 bits).
    pub wc_sec_hi: u32,
    /// @3088: number of valid p2m entries.
    pub max_pfn: u64,
    /// @3096: MFN of the p2m frame-list-list (0 unset).
    pub pfn_to_mfn_frame_list_list: u64,
    /// @3104: NMI reason.
    pub nmi_reason: u64,
    /// @3112: CR3 of the address space holding `p2m_vaddr`.
    pub p2m_cr3: u64,
    /// @3120: virtual address of the linear p2m list.
    pub p2m_vaddr: u64,
    /// @3128: odd while the guest updates p2m mappings.
    pub p2m_generation: u64,
}
const _: () = assert!(size_of::<SharedInfo>() == 3136);
const _: () = assert!(offset_of!(SharedInfo, evtchn_pending) == 2048);
const _: () = assert!(offset_of!(SharedInfo, evtchn_mask) == 2560);
const _: () = assert!(offset_of!(SharedInfo, wc_version) == 3072);
const _: () = assert!(offset_of!(SharedInfo, wc_sec_hi) == 3084);
const _: () = assert!(offset_of!(SharedInfo, max_pfn) == 3088);
const _: () = assert!(offset_of!(SharedInfo, p2m_generation) == 3128);
