//! A PV domain's time as the scheduler moves it: its `vcpu_time_info`,
//! time and runstate areas stamped when it is switched in, the clock's
//! refinement published to every live domain, the hypervisor timer's
//! events (charging, guest timers, wake-ups) and the refusal log's tick.

use super::hooks::{ArchGuest, PENDING_TIMER};
use super::run::{d_mut, domains, Hypervisor};
use super::timer;
use crate::hypercall::{Action, Guest};
use crate::mm::PhysAddr;
use crate::sched::{Domain, MAX_DOMAINS};
use crate::scheduler::{self, Verdict};
use crate::time::info::{publish_time, publish_time_to_guest, TimeStamp, VCPU_INFO_TIME};
use crate::time::SystemTime;
use abi::DomId;

/// Domain `i` is about to run (its page tables loaded): a fresh slice,
/// runstate running, the timers that fell due while it waited, its
/// `vcpu_time_info` stamped now (as Xen does on each switch), its runstate
/// and time areas written, and the hypervisor timer armed.
pub(super) fn time_switched_in(hv: &mut Hypervisor, i: usize) {
    let tsc = super::cpu::rdtsc();
    let now = hv.host.clock.at(tsc);
    let d = d_mut(i);
    if scheduler::switched_in(d, now) {
        fire_guest_timer(hv, i);
    }
    let d = d_mut(i);
    let stamp = TimeStamp::at(&hv.host.clock, tsc, hv.host.time_flags);
    let vi = d.vcpu.vcpu_info_location();
    publish_time(hv.mm.mem, PhysAddr(vi.0 + VCPU_INFO_TIME), &stamp, false);
    // Guest-virtual areas only through kernel mappings, as Xen defers them
    // to the next kernel-mode entry.
    if !d.vcpu.user_mode {
        if d.vcpu.time.time_area != 0 {
            publish_time_to_guest(&Guest(&ArchGuest), d.vcpu.time.time_area, &stamp);
        }
        write_runstate(d);
    }
    rearm(i, now);
}

/// The TSC frequency was refined (`timer::refine_due`): the hypercalls'
/// clock follows, and every domain's `vcpu_time_info` is restamped at the
/// new clock's base point (where old and new agree) before any guest runs
/// again, so no guest reads the old scale past the change. The running
/// domain's registered time area is rewritten too when it is in kernel
/// mode (`in_guest`: its page tables are loaded); other time areas are
/// rewritten at their next switch in kernel mode, as Xen defers them.
#[cold]
#[inline(never)]
pub(super) fn clock_refined(hv: &mut Hypervisor, clock: crate::time::Clock, in_guest: bool) {
    hv.host.clock = clock;
    let stamp = TimeStamp::of(&clock, hv.host.time_flags);
    for (j, d) in domains().iter().enumerate() {
        // An ended domain's frames are freed: writing its old vcpu_info
        // would write into whatever domain got the frame next.
        let Some((d, vi)) = d.as_ref().and_then(|d| Some((d, d.live_vcpu_info()?))) else { continue };
        publish_time(hv.mm.mem, PhysAddr(vi.0 + VCPU_INFO_TIME), &stamp, false);
        if in_guest && j == hv.current && !d.vcpu.user_mode && d.vcpu.time.time_area != 0 {
            publish_time_to_guest(&Guest(&ArchGuest), d.vcpu.time.time_area, &stamp);
        }
    }
}

/// Rewrites domain `d`'s registered runstate area (the current page
/// tables must be its own); a fault is ignored, as on Xen.
pub(super) fn write_runstate(d: &Domain) {
    let va = d.vcpu.time.runstate_area;
    if va != 0 {
        let _ = Guest(&ArchGuest).write(va, &d.vcpu.time.runstate.to_bytes(0));
    }
}

/// Arms the hypervisor timer for the nearest thing due while the current
/// domain runs.
pub(super) fn rearm(current: usize, now: SystemTime) {
    timer::program(scheduler::next_event(domains(), Some(current), now));
}

/// The running domain `i`'s timers changed: a deadline nearer than
/// [`scheduler::TIMER_SPIN_NS`] is waited for here and fired (its
/// VIRQ_TIMER pending before this exit's upcall test), instead of a timer
/// write and an interrupt a moment later; then the hypervisor timer is
/// armed for what is left.
pub(super) fn timers_changed(hv: &mut Hypervisor, i: usize) {
    let now = timer::now();
    if let Some(at) = scheduler::timer_near(d_mut(i), now) {
        timer::spin_until(at);
        if scheduler::run_timers(d_mut(i), timer::now()) {
            fire_guest_timer(hv, i);
        }
    }
    rearm(i, timer::now());
}

/// The hypervisor timer fired while domain `i` ran: charge it, fire its
/// due timers, wake blocked domains whose time came, and let the policy
/// decide (crash past its CPU limit, switch when its slice is over).
pub(super) fn time_event(hv: &mut Hypervisor, i: usize) -> Action {
    if let Some(clock) = timer::refine_due() {
        clock_refined(hv, clock, true);
    }
    let now = timer::now();
    refusal_ticks(hv, now);
    super::console_rings::poll(hv);
    let d = d_mut(i);
    scheduler::charge(d, now);
    if scheduler::run_timers(d, now) {
        fire_guest_timer(hv, i);
    }
    wake_blocked(hv, now);
    // The timer is one-shot: arm it again before returning to the guest.
    hv.mm.hooks.pending |= PENDING_TIMER;
    match scheduler::verdict(d_mut(i), scheduler::waiting(domains(), i)) {
        Verdict::OverLimit => Action::Crash(&"used up its CPU time (timeout=)"),
        Verdict::Yield => Action::Yield,
        Verdict::Continue => Action::Continue,
    }
}

/// The refusal log regains a line per 10 ms elapsed (it counted 100 Hz
/// ticks before the timer went tickless).
pub(super) fn refusal_ticks(hv: &mut Hypervisor, now: SystemTime) {
    static mut LAST: u64 = 0;
    // SAFETY: one CPU, hypervisor entries never nest.
    let last = unsafe { &mut *core::ptr::addr_of_mut!(LAST) };
    let n = (now.0.saturating_sub(*last) / 10_000_000).min(64);
    if n > 0 {
        *last = now.0;
        for _ in 0..n {
            hv.mm.hooks.refusals.tick();
        }
    }
}

/// Wakes every blocked domain whose event, timer or poll timeout came.
pub(super) fn wake_blocked(hv: &mut Hypervisor, now: SystemTime) -> bool {
    let mut any = false;
    for j in 0..MAX_DOMAINS {
        if domains()[j].as_mut().is_some_and(|d| scheduler::blocked_timer_due(d, now)) {
            fire_guest_timer(hv, j);
        }
        if let Some(d) = domains()[j].as_mut() {
            any |= scheduler::wake_check(hv.mm.mem, d, now);
        }
    }
    any
}

/// Domain `i`'s guest timer expired: VIRQ_TIMER through the event core,
/// which marks its port pending if the domain bound it (an unbound one
/// goes nowhere, as on Xen).
pub(super) fn fire_guest_timer(hv: &mut Hypervisor, i: usize) {
    super::events::events().send_virq(&mut hv.mm, DomId(i as u16), abi::event_channel::virq::TIMER);
}
