//! The idle loop: what the CPU does while no domain is runnable (wake the
//! blocked domains whose time came, scrub free frames a batch at a time,
//! wait on the clock for a near deadline or halt until an interrupt), and
//! the acknowledgement of the interrupts taken there.

use super::ending::{end_domain, finish};
use super::guest_time::{clock_refined, wake_blocked};
use super::run::{console_keys, domains, next_runnable_slot, switch_to, Hypervisor};
use super::timer;
use crate::domain::vcpu::GuestContext;
use crate::sched::{RunState, MAX_DOMAINS};
use crate::scheduler;

/// Frames the idle loop scrubs between two looks at interrupts and timers.
const IDLE_SCRUB_FRAMES: u64 = 16;

/// Nothing is runnable: halt until a blocked domain's time comes or an
/// event wakes it, then enter it.
pub(super) fn idle(hv: &mut Hypervisor) -> GuestContext {
    let n = idle_slot(hv);
    switch_to(hv, n)
}

/// Halts until a blocked domain's time comes or an event wakes it;
/// returns it. Ends the run when no domain is left, or when every one left
/// is blocked with nothing that could wake it.
pub(super) fn idle_slot(hv: &mut Hypervisor) -> usize {
    loop {
        if let Some(clock) = timer::refine_due() {
            clock_refined(hv, clock, false);
        }
        let now = timer::now();
        wake_blocked(hv, now);
        if let Some(n) = next_runnable_slot(hv.current) {
            return n;
        }
        let blocked = domains().iter().flatten().any(|d| d.state == RunState::Blocked);
        let next = scheduler::next_event(domains(), None, now);
        if !blocked {
            finish(hv);
        }
        if next.is_none() {
            // No timer, and no other domain that could send an event.
            for j in 0..MAX_DOMAINS {
                if domains()[j].as_ref().is_some_and(|d| d.state == RunState::Blocked) {
                    log::error!("domain {j} blocked with no timer and no domain left to wake it; crashing it");
                    end_domain(hv, j, RunState::Crashed);
                }
            }
            finish(hv);
        }
        // A deadline this near is waited for on the clock (no halt, no
        // scrub batch in its way): the blocked domain's timer fires at it.
        if let Some(until) = scheduler::idle_poll_until(next, now) {
            timer::spin_until(until);
            timer::poll_interrupts();
            continue;
        }
        // Idle time scrubs free frames first, a few at a time, looking at
        // interrupts and timers between batches (one batch is ~8 K
        // instructions), so allocations find them scrubbed.
        if hv.core.mm.hooks.frames.scrub_some(hv.core.mm.mem, IDLE_SCRUB_FRAMES) != 0 {
            timer::poll_interrupts();
            console_keys(hv);
            continue;
        }
        timer::program(next);
        timer::idle_wait();
        console_keys(hv);
        super::console_rings::poll(hv);
    }
}

/// An interrupt taken in the hypervisor, which happens only in
/// [`timer::idle_wait`]: acknowledged here; the idle loop does the rest.
pub(super) fn idle_interrupt(vector: u64) {
    match vector {
        timer::TIMER_VECTOR => timer::eoi(),
        timer::SERIAL_VECTOR => timer::serial_eoi(),
        _ => {}
    }
}
