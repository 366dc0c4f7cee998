//! The event-channel upcall of a PVH vCPU through `HVM_PARAM_CALLBACK_IRQ`
//! with the vector method (bits 63:56 = 2, the vector in bits 7:0), as
//! Xen's `hvm_vcpu_has_pending_irq` gives it: while vcpu_info's
//! `evtchn_upcall_pending` is set, the vector is due, and it is injected
//! as an external interrupt (EVENTINJ type 0) at the next VMRUN at which
//! the guest accepts one: RFLAGS.IF set, no STI/MOV SS interrupt shadow,
//! and no other event being injected. `evtchn_upcall_mask` plays no part
//! (an HVM guest masks with RFLAGS.IF); the flag is level-like, so the
//! vector is injected again until the guest's handler clears it.
//!
//! The per-vCPU vector of `HVMOP_set_evtchn_upcall_vector` (Linux's
//! choice when CPUID leaf 0x40000004 advertises
//! `XEN_HVM_CPUID_UPCALL_VECTOR`) goes through the same decision when the
//! callback parameter names no vector (Linux then sets it to GSI 1 "to
//! trick the toolstack"). On Xen that vector is raised in the emulated
//! local APIC once per 0→1 edge of `evtchn_upcall_pending` and the guest
//! acknowledges it with an EOI; a PVH domain here has no local APIC, so it
//! is injected like the callback vector, while the flag is set (a
//! deliberate difference; a handler that clears the flag, as Linux's
//! does, sees one upcall per edge either way). Xen looks at the callback
//! vector first: so does [`vector`].
//!
//! Pure: the arch layer passes the VMCB's fields and writes the result.

use abi::hvm::callback;

/// EVENTINJ's valid bit (31); type 0 (external interrupt) is bits 10:8
/// clear.
pub const EVENTINJ_VALID: u64 = 1 << 31;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// VMCB `int_state` bit 0: the guest is in an interrupt shadow.
const INTERRUPT_SHADOW: u32 = 1;

/// The vector `HVM_PARAM_CALLBACK_IRQ` names, if it names the vector
/// method (the GSI and PCI INTx methods need an emulated interrupt
/// controller, which a PVH domain has none of: they deliver nothing).
pub const fn callback_vector(param: u64) -> Option<u8> {
    if (param & callback::TYPE_MASK) >> callback::TYPE_SHIFT == callback::TYPE_VECTOR {
        Some(param as u8)
    } else {
        None
    }
}

/// The vector upcalls come on: the callback parameter's vector method,
/// else the per-vCPU vector (`percpu`, 0 for none).
pub const fn vector(param: u64, percpu: u8) -> Option<u8> {
    match callback_vector(param) {
        Some(v) => Some(v),
        None if percpu != 0 => Some(percpu),
        None => None,
    }
}

/// What the guest's state at VMRUN allows for a due upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upcall {
    /// Nothing is due (no vector method, or nothing pending).
    None,
    /// Inject this EVENTINJ value now.
    Inject(u64),
    /// Due, but the guest cannot take an interrupt now (IF clear, a
    /// shadow, or another event in flight): the arch layer opens the
    /// interrupt window, and a later VMRUN injects it.
    Held,
}

/// The decision before VMRUN: `param` is `HVM_PARAM_CALLBACK_IRQ`,
/// `percpu` the per-vCPU vector (0: none), `pending` vcpu_info's
/// `evtchn_upcall_pending`, the rest the VMCB's.
pub const fn decide(param: u64, percpu: u8, pending: bool, rflags: u64, int_state: u32, event_inj: u64) -> Upcall {
    let Some(vector) = vector(param, percpu) else { return Upcall::None };
    if !pending {
        return Upcall::None;
    }
    if rflags & RFLAGS_IF == 0 || int_state & INTERRUPT_SHADOW != 0 || event_inj & EVENTINJ_VALID != 0 {
        return Upcall::Held;
    }
    Upcall::Inject(vector as u64 | EVENTINJ_VALID)
}

/// Whether a HLT may block: Xen's `hvm_hlt` with `local_events_need_delivery`:
/// with an upcall due and IF set, the vCPU goes on (the vector is
/// injected at once); with IF clear a HLT would never end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hlt {
    /// Skip it and run on: an upcall is due.
    RunOn,
    /// Block until an event or the vCPU's timer.
    Block,
    /// IF clear: nothing can ever wake it (Xen takes the vCPU down, and
    /// with its last vCPU the domain).
    Dead,
}

/// What a HLT does, from the same inputs as [`decide`].
pub const fn hlt(param: u64, percpu: u8, pending: bool, rflags: u64) -> Hlt {
    if rflags & RFLAGS_IF == 0 {
        Hlt::Dead
    } else if pending && vector(param, percpu).is_some() {
        Hlt::RunOn
    } else {
        Hlt::Block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VEC: u64 = (callback::TYPE_VECTOR << callback::TYPE_SHIFT) | 0xF3;
    const IF: u64 = RFLAGS_IF | 2;

    #[test]
    fn only_the_vector_method_names_a_vector() {
        assert_eq!(callback_vector(VEC), Some(0xF3));
        assert_eq!(callback_vector(0), None);
        assert_eq!(callback_vector(5), None, "GSI 5");
        assert_eq!(callback_vector((1 << 56) | 0x1234), None, "PCI INTx");
        assert_eq!(callback_vector((3 << 56) | 0xF3), None, "an unknown method");
    }

    #[test]
    fn a_pending_upcall_is_injected_as_an_external_interrupt_when_if_is_set() {
        assert_eq!(decide(VEC, 0, true, IF, 0, 0), Upcall::Inject(0xF3 | EVENTINJ_VALID));
        assert_eq!(decide(VEC, 0, true, IF, 0, 0), Upcall::Inject(0x8000_00F3));
    }

    #[test]
    fn nothing_is_injected_without_a_pending_upcall_or_a_vector() {
        assert_eq!(decide(VEC, 0, false, IF, 0, 0), Upcall::None);
        assert_eq!(decide(0, 0, true, IF, 0, 0), Upcall::None);
        assert_eq!(decide(7, 0, true, IF, 0, 0), Upcall::None);
    }

    #[test]
    fn a_due_upcall_waits_for_if_the_shadow_and_an_event_in_flight() {
        assert_eq!(decide(VEC, 0, true, 2, 0, 0), Upcall::Held);
        assert_eq!(decide(VEC, 0, true, IF, 1, 0), Upcall::Held);
        assert_eq!(decide(VEC, 0, true, IF, 0, 13 | (3 << 8) | EVENTINJ_VALID), Upcall::Held);
        // An EVENTINJ left without its valid bit is nothing in flight.
        assert_eq!(decide(VEC, 0, true, IF, 0, 13), Upcall::Inject(0x8000_00F3));
    }

    #[test]
    fn the_per_vcpu_vector_delivers_when_the_callback_names_no_vector() {
        // Linux's per-vCPU setup: vector 0xF4 for the vCPU, GSI 1 in the
        // callback parameter.
        assert_eq!(vector(1, 0xF4), Some(0xF4));
        assert_eq!(decide(1, 0xF4, true, IF, 0, 0), Upcall::Inject(0xF4 | EVENTINJ_VALID));
        assert_eq!(decide(1, 0xF4, true, 2, 0, 0), Upcall::Held);
        assert_eq!(decide(1, 0xF4, false, IF, 0, 0), Upcall::None);
        assert_eq!(hlt(1, 0xF4, true, IF), Hlt::RunOn);
        // The callback vector first, as Xen's hvm_vcpu_has_pending_irq.
        assert_eq!(vector(VEC, 0xF4), Some(0xF3));
        assert_eq!(vector(1, 0), None);
    }

    #[test]
    fn hlt_blocks_runs_on_or_is_dead_as_on_xen() {
        assert_eq!(hlt(VEC, 0, false, IF), Hlt::Block);
        assert_eq!(hlt(VEC, 0, true, IF), Hlt::RunOn);
        assert_eq!(hlt(0, 0, true, IF), Hlt::Block, "no vector: pending wakes nothing by itself");
        assert_eq!(hlt(VEC, 0, true, 2), Hlt::Dead);
        assert_eq!(hlt(VEC, 0, false, 2), Hlt::Dead);
    }
}
