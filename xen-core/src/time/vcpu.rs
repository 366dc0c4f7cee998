//! A vCPU's time state: its timers, runstate, the guest areas it asked the
//! hypervisor to keep up to date, and what it waits for while blocked.
//! (A timer expiry becomes VIRQ_TIMER through the event core, sent by
//! the arch layer and by `set_timer_op`.)

use super::clock::SystemTime;
use super::runstate::Runstate;
use super::timers::VcpuTimers;
use crate::mm::{PhysAddr, PhysMemory};

/// What a blocked vCPU waits for (Xen's `SCHEDOP_block` / `SCHEDOP_poll`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wait {
    /// Not blocked.
    #[default]
    None,
    /// `SCHEDOP_block`: any event (upcall pending).
    Block,
    /// `SCHEDOP_poll`: an unmasked event, the one port polled (if exactly
    /// one), a kick from the event core, or the deadline.
    Poll {
        /// The single port polled, if `nr_ports` was 1.
        port: Option<u32>,
        /// Absolute timeout, if any.
        deadline: Option<SystemTime>,
    },
}

/// Time state of one vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTime {
    /// Single-shot and periodic timers.
    pub timers: VcpuTimers,
    /// Runstate accounting.
    pub runstate: Runstate,
    /// `register_runstate_memory_area`: guest VA (0 = none).
    pub runstate_area: u64,
    /// `register_vcpu_time_memory_area`: guest VA (0 = none).
    pub time_area: u64,
    /// What the vCPU waits for while blocked.
    pub wait: Wait,
    /// The event core says a port this vCPU polls became pending
    /// ([`poll_kick`]).
    pub poll_kicked: bool,
    /// `VCPUOP_down` was done.
    pub down: bool,
}

/// Offset of `evtchn_upcall_pending` in vcpu_info.
pub const UPCALL_PENDING: u64 = 0;
/// Offset of `evtchn_upcall_mask` in vcpu_info.
pub const UPCALL_MASK: u64 = 1;

/// Reads a byte of vcpu_info at `at`.
pub fn read_byte<M: PhysMemory + ?Sized>(mem: &M, at: PhysAddr) -> u8 {
    (mem.read_u64(PhysAddr(at.0 & !7)) >> ((at.0 & 7) * 8)) as u8
}

/// Whether `evtchn_upcall_pending` is set in the vcpu_info at `vi`.
pub fn upcall_pending<M: PhysMemory + ?Sized>(mem: &M, vi: PhysAddr) -> bool {
    read_byte(mem, PhysAddr(vi.0 + UPCALL_PENDING)) != 0
}

/// Whether `evtchn_upcall_mask` is set in the vcpu_info at `vi`.
pub fn upcall_masked<M: PhysMemory + ?Sized>(mem: &M, vi: PhysAddr) -> bool {
    read_byte(mem, PhysAddr(vi.0 + UPCALL_MASK)) != 0
}

/// The single-shot or periodic timer of the vCPU whose vcpu_info is at
/// What a bound, unmasked VIRQ_TIMER does to the vcpu_info at `vi`
/// (`evtchn_upcall_pending` := 1), for host tests of the policy that do
/// not model the event core. Returns whether it set it (the 0→1 edge
/// that wakes a blocked vCPU on Xen).
pub fn guest_timer_fired<M: PhysMemory + ?Sized>(mem: &mut M, vi: PhysAddr) -> bool {
    if upcall_pending(mem, vi) {
        return false;
    }
    mem.write_bytes(PhysAddr(vi.0 + UPCALL_PENDING), &[1]);
    true
}

/// The event core's hook: a port became pending in a domain whose vCPU
/// polls. Wakes the poll if it waits on that port or on several ports.
pub fn poll_kick(t: &mut VcpuTime, port: u32) {
    if let Wait::Poll { port: p, .. } = t.wait {
        if p.is_none_or(|p| p == port) {
            t.poll_kicked = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kick_wakes_only_a_poll_on_that_port_or_on_several() {
        let mut t = VcpuTime { wait: Wait::Poll { port: Some(5), deadline: None }, ..Default::default() };
        poll_kick(&mut t, 4);
        assert!(!t.poll_kicked);
        poll_kick(&mut t, 5);
        assert!(t.poll_kicked);
        let mut t = VcpuTime { wait: Wait::Poll { port: None, deadline: None }, ..Default::default() };
        poll_kick(&mut t, 4);
        assert!(t.poll_kicked);
        let mut t = VcpuTime { wait: Wait::Block, ..Default::default() };
        poll_kick(&mut t, 4);
        assert!(!t.poll_kicked);
    }
}
