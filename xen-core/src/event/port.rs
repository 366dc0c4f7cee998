//! One event-channel port: what it is bound to, the vCPU it notifies and
//! its FIFO priority.

use abi::event_channel::FIFO_PRIORITY_DEFAULT;
use abi::DomId;

/// What a port is bound to (Xen's `ECS_*` states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Not in use.
    Free,
    /// Port 0: never allocated.
    Reserved,
    /// Allocated, waiting for a bind from this domain.
    Unbound(DomId),
    /// Connected to `port` of `dom` (possibly the same domain).
    Interdomain(DomId, u32),
    /// A virtual IRQ.
    Virq(u32),
    /// An inter-vCPU port.
    Ipi,
    /// A physical IRQ.
    Pirq(u32),
}

/// A port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    /// Its binding.
    pub binding: Binding,
    /// The vCPU it notifies.
    pub vcpu: u32,
    /// FIFO priority (0 highest … 15).
    pub priority: u8,
    /// The FIFO queue it was last linked into (its priority then), so a
    /// priority change can invalidate that queue's tail.
    pub last_priority: u8,
    /// FIFO: pending while its event-array frame does not exist yet; raised
    /// once `expand_array` adds the frame.
    pub latched: bool,
}

impl Port {
    /// A free port.
    pub const FREE: Port = Port {
        binding: Binding::Free,
        vcpu: 0,
        priority: FIFO_PRIORITY_DEFAULT as u8,
        last_priority: FIFO_PRIORITY_DEFAULT as u8,
        latched: false,
    };

    /// Whether it is bound to something (not free, not reserved).
    pub const fn in_use(&self) -> bool {
        !matches!(self.binding, Binding::Free | Binding::Reserved)
    }
}
