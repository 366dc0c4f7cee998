//! `event_channel_op` (32): commands, argument structs and constants
//! Layouts are Xen's public
//! `event_channel.h` for x86_64; each is checked at compile time.

use crate::DomId;
use core::mem::{offset_of, size_of};

/// `EVTCHNOP_bind_interdomain`: connect to another domain's unbound port.
pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
/// `EVTCHNOP_bind_virq`: a port for a virtual IRQ.
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
/// `EVTCHNOP_bind_pirq`: a port for a physical IRQ.
pub const EVTCHNOP_BIND_PIRQ: u64 = 2;
/// `EVTCHNOP_close`.
pub const EVTCHNOP_CLOSE: u64 = 3;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: u64 = 4;
/// `EVTCHNOP_status`.
pub const EVTCHNOP_STATUS: u64 = 5;
/// `EVTCHNOP_alloc_unbound`.
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
/// `EVTCHNOP_bind_ipi`.
pub const EVTCHNOP_BIND_IPI: u64 = 7;
/// `EVTCHNOP_bind_vcpu`.
pub const EVTCHNOP_BIND_VCPU: u64 = 8;
/// `EVTCHNOP_unmask`.
pub const EVTCHNOP_UNMASK: u64 = 9;
/// `EVTCHNOP_reset`.
pub const EVTCHNOP_RESET: u64 = 10;
/// `EVTCHNOP_init_control` (FIFO ABI).
pub const EVTCHNOP_INIT_CONTROL: u64 = 11;
/// `EVTCHNOP_expand_array` (FIFO ABI).
pub const EVTCHNOP_EXPAND_ARRAY: u64 = 12;
/// `EVTCHNOP_set_priority` (FIFO ABI).
pub const EVTCHNOP_SET_PRIORITY: u64 = 13;
/// `EVTCHNOP_reset_cont`: Xen's continuation of a preempted reset.
pub const EVTCHNOP_RESET_CONT: u64 = 14;

/// `EVTCHNOP_alloc_unbound` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct AllocUnbound {
    /// @0 IN: the domain the port is allocated in (`DOMID_SELF` = caller).
    pub dom: DomId,
    /// @2 IN: the domain allowed to bind to it.
    pub remote_dom: DomId,
    /// @4 OUT: the port.
    pub port: u32,
}
const _: () = assert!(size_of::<AllocUnbound>() == 8 && offset_of!(AllocUnbound, port) == 4);

/// `EVTCHNOP_bind_interdomain` (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BindInterdomain {
    /// @0 IN.
    pub remote_dom: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 IN: an unbound port of `remote_dom` that accepts the caller.
    pub remote_port: u32,
    /// @8 OUT.
    pub local_port: u32,
}
const _: () = assert!(size_of::<BindInterdomain>() == 12 && offset_of!(BindInterdomain, local_port) == 8);

/// `EVTCHNOP_bind_virq` (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BindVirq {
    /// @0 IN: `VIRQ_*`.
    pub virq: u32,
    /// @4 IN: the vCPU.
    pub vcpu: u32,
    /// @8 OUT.
    pub port: u32,
}
const _: () = assert!(size_of::<BindVirq>() == 12 && offset_of!(BindVirq, port) == 8);

/// `EVTCHNOP_bind_pirq` (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BindPirq {
    /// @0 IN.
    pub pirq: u32,
    /// @4 IN: bit 0 `BIND_PIRQ__WILL_SHARE`.
    pub flags: u32,
    /// @8 OUT.
    pub port: u32,
}
const _: () = assert!(size_of::<BindPirq>() == 12 && offset_of!(BindPirq, port) == 8);

/// `EVTCHNOP_bind_ipi` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BindIpi {
    /// @0 IN.
    pub vcpu: u32,
    /// @4 OUT.
    pub port: u32,
}
const _: () = assert!(size_of::<BindIpi>() == 8);

/// `EVTCHNOP_status` (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Status {
    /// @0 IN.
    pub dom: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 IN.
    pub port: u32,
    /// @8 OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// @12 OUT: the vCPU notified.
    pub vcpu: u32,
    /// @16 OUT: unbound: remote domain (u16); interdomain: domain (u16 @16)
    /// and port (u32 @20); pirq: the pirq; virq: the virq.
    pub u: [u32; 2],
}
const _: () = assert!(size_of::<Status>() == 24 && offset_of!(Status, status) == 8 && offset_of!(Status, u) == 16);

/// Status: not in use.
pub const EVTCHNSTAT_CLOSED: u32 = 0;
/// Status: waiting for a remote bind.
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// Status: connected to a remote port.
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
/// Status: bound to a physical IRQ.
pub const EVTCHNSTAT_PIRQ: u32 = 3;
/// Status: bound to a virtual IRQ.
pub const EVTCHNSTAT_VIRQ: u32 = 4;
/// Status: an inter-vCPU port.
pub const EVTCHNSTAT_IPI: u32 = 5;

/// `EVTCHNOP_bind_vcpu` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BindVcpu {
    /// @0.
    pub port: u32,
    /// @4.
    pub vcpu: u32,
}
const _: () = assert!(size_of::<BindVcpu>() == 8);

/// `EVTCHNOP_init_control` (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct InitControl {
    /// @0 IN: the frame holding the control block (an MFN for PV).
    pub control_gfn: u64,
    /// @8 IN: its offset, 8-aligned, at most 4096 - 72.
    pub offset: u32,
    /// @12 IN.
    pub vcpu: u32,
    /// @16 OUT: `EVTCHN_FIFO_LINK_BITS`.
    pub link_bits: u8,
    /// @17: padding.
    pub pad: [u8; 7],
}
const _: () = assert!(size_of::<InitControl>() == 24 && offset_of!(InitControl, link_bits) == 16);

/// `EVTCHNOP_expand_array` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ExpandArray {
    /// @0: the next event-array frame.
    pub array_gfn: u64,
}
const _: () = assert!(size_of::<ExpandArray>() == 8);

/// `EVTCHNOP_set_priority` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SetPriority {
    /// @0.
    pub port: u32,
    /// @4: 0 (highest) … 15 (lowest).
    pub priority: u32,
}
const _: () = assert!(size_of::<SetPriority>() == 8);

/// The FIFO control block (72 bytes, 8-aligned inside a guest frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FifoControlBlock {
    /// @0: bit q set ⇒ queue q may be non-empty.
    pub ready: u32,
    /// @4: reserved.
    pub pad: u32,
    /// @8: first port of each priority's queue.
    pub head: [u32; FIFO_PRIORITIES],
}
const _: () = assert!(size_of::<FifoControlBlock>() == 72 && offset_of!(FifoControlBlock, head) == 8);

/// FIFO priorities (0 highest).
pub const FIFO_PRIORITIES: usize = 16;
/// The default priority of a port.
pub const FIFO_PRIORITY_DEFAULT: u32 = 7;
/// The lowest priority.
pub const FIFO_PRIORITY_MIN: u32 = 15;
/// Bits of a port number in an event word's LINK field.
pub const FIFO_LINK_BITS: u8 = 17;
/// Event words (u32) per 4 KiB event-array frame.
pub const FIFO_WORDS_PER_PAGE: u32 = 1024;
/// Most event-array frames.
pub const FIFO_MAX_ARRAY_PAGES: u32 = 128;
/// Event word: pending.
pub const FIFO_PENDING: u32 = 1 << 31;
/// Event word: masked.
pub const FIFO_MASKED: u32 = 1 << 30;
/// Event word: linked into a queue.
pub const FIFO_LINKED: u32 = 1 << 29;
/// Event word: busy (the hypervisor is updating LINK).
pub const FIFO_BUSY: u32 = 1 << 28;
/// Event word: the next port in the queue (0 = end).
pub const FIFO_LINK_MASK: u32 = (1 << FIFO_LINK_BITS) - 1;

/// Virtual IRQs (`VIRQ_*`).
pub mod virq {
    /// Per-vCPU timer (`set_timer_op`, `VCPUOP_set_*_timer`).
    pub const TIMER: u32 = 0;
    /// Per-vCPU: a debug key was pressed on the hypervisor console.
    pub const DEBUG: u32 = 1;
    /// Global: console input is available (`CONSOLEIO_read`).
    pub const CONSOLE: u32 = 2;
    /// Global: a domain shut down or crashed.
    pub const DOM_EXC: u32 = 3;
    /// Per-vCPU: XenOprofile.
    pub const XENOPROF: u32 = 7;
    /// Per-domain: Argo.
    pub const ARGO: u32 = 11;
    /// Per-vCPU: PMU.
    pub const XENPMU: u32 = 13;
    /// Number of VIRQs.
    pub const NR: u32 = 24;

    /// Whether `virq` is bound per vCPU (the others are global, or Argo's
    /// per domain, and bound on vCPU 0 only).
    pub const fn per_vcpu(virq: u32) -> bool {
        matches!(virq, TIMER | DEBUG | XENOPROF | XENPMU)
    }
}
