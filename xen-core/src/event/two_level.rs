//! The 2-level ABI (platform §2.3): a pending and a mask bitmap in
//! shared_info (port p = bit p%64 of word p/64) and, in the notified
//! vCPU's vcpu_info, `evtchn_pending_sel` (bit w = word w may have pending
//! ports) and `evtchn_upcall_pending`. Set and cleared in Xen's order. The
//! guest does not run while the hypervisor does (one CPU), so a
//! read-modify-write of a word here is as atomic as Xen's locked ops.

use super::{DomainEvents, EventEnv};
use crate::mm::PhysAddr;

/// Offset of `evtchn_pending` in shared_info.
const PENDING: u64 = 2048;
/// Offset of `evtchn_mask`.
const MASK: u64 = 2560;
/// Offset of `evtchn_pending_sel` in vcpu_info.
const SEL: u64 = 8;

fn word_at(d: &DomainEvents, base: u64, port: u32) -> PhysAddr {
    PhysAddr(d.shared_info.to_maddr() + base + u64::from(port / 64) * 8)
}

/// Sets bit `bit` of the word at `at`; returns whether it was set before.
fn test_and_set(env: &mut impl EventEnv, at: PhysAddr, bit: u32) -> bool {
    let w = env.read_u64(at);
    env.write_u64(at, w | 1 << bit);
    w & 1 << bit != 0
}

fn test(env: &impl EventEnv, at: PhysAddr, bit: u32) -> bool {
    env.read_u64(at) & 1 << bit != 0
}

/// Whether `port` is pending.
pub fn is_pending(env: &impl EventEnv, d: &DomainEvents, port: u32) -> bool {
    test(env, word_at(d, PENDING, port), port % 64)
}

/// Whether `port` is masked.
pub fn is_masked(env: &impl EventEnv, d: &DomainEvents, port: u32) -> bool {
    test(env, word_at(d, MASK, port), port % 64)
}

/// Xen's `evtchn_2l_set_pending`: returns (the port newly became pending,
/// the vCPU's events must be marked pending). Already pending: nothing.
pub fn set_pending(env: &mut impl EventEnv, d: &DomainEvents, port: u32) -> (bool, bool) {
    if test_and_set(env, word_at(d, PENDING, port), port % 64) {
        return (false, false);
    }
    let sel = PhysAddr(d.vcpu_info.0 + SEL);
    let mark = !is_masked(env, d, port) && !test_and_set(env, sel, port / 64);
    (true, mark)
}

/// Xen's `evtchn_2l_unmask`: clears the mask bit; only if it was set, the
/// port is pending and the selector bit was clear are events marked.
pub fn unmask(env: &mut impl EventEnv, d: &DomainEvents, port: u32) -> bool {
    let at = word_at(d, MASK, port);
    let w = env.read_u64(at);
    if w & 1 << (port % 64) == 0 {
        return false;
    }
    env.write_u64(at, w & !(1 << (port % 64)));
    let sel = PhysAddr(d.vcpu_info.0 + SEL);
    is_pending(env, d, port) && !test_and_set(env, sel, port / 64)
}

/// Clears `port`'s pending bit.
pub fn clear_pending(env: &mut impl EventEnv, d: &DomainEvents, port: u32) {
    let at = word_at(d, PENDING, port);
    let w = env.read_u64(at);
    env.write_u64(at, w & !(1 << (port % 64)));
}
