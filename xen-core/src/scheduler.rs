//! The run loop's policy, pure: who runs next (round robin over runnable
//! domains), what wakes a blocked vCPU (an event pending, its timer, a
//! poll's port or timeout), time slices and `timeout=` CPU limits, and the
//! nearest moment the hypervisor timer must fire for any of them.
//!
//! A domain woken from a block takes the CPU from the running one once
//! that has run [`WAKE_RATELIMIT_NS`] of its slice, as a waking vCPU
//! preempts a spinning one on Xen (credit2's 1 ms rate limit): an event or
//! timer reaches a blocked vCPU at once, not at the end of a 5 s slice. The arch
//! layer keeps only the context switch and the hardware timer; every
//! decision is made here, on the host-testable [`Domain`] table.

use crate::mm::{PhysAddr, PhysMemory};
use crate::sched::{Domain, RunState};
use crate::time::runstate;
use crate::time::vcpu::{upcall_masked, upcall_pending, Wait};
use crate::time::SystemTime;

/// How long a domain may keep the CPU while another is runnable: 5 s,
/// the slice the 100 Hz tick gave (500 ticks). Domains that yield or
/// block give the CPU up long before.
pub const SLICE_NS: u64 = 5_000_000_000;

/// How long the running domain keeps the CPU before a woken domain
/// preempts it (Xen credit2's default `sched_ratelimit_us`).
pub const WAKE_RATELIMIT_NS: u64 = 1_000_000;

/// Charges the current domain's CPU time up to `now`.
pub fn charge(d: &mut Domain, now: SystemTime) {
    let ran = now.0.saturating_sub(d.charged_to.0);
    d.cpu_ns = d.cpu_ns.saturating_add(ran);
    d.slice_ns = d.slice_ns.saturating_add(ran);
    d.charged_to = now.max(d.charged_to);
}

/// What a timer interrupt (or any scheduling point) decides for the
/// domain that was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep running it.
    Continue,
    /// Its slice is over: let another runnable domain in.
    Yield,
    /// It used up its `timeout=` CPU time.
    OverLimit,
}

/// Whether others wait for the CPU, and whether one of them was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Another domain is runnable.
    pub others: bool,
    /// One of them was woken since it last ran.
    pub woken: bool,
}

/// Who waits for the CPU while `current` runs.
pub fn waiting(domains: &[Option<Domain>], current: usize) -> Waiting {
    let mut w = Waiting { others: false, woken: false };
    for (j, d) in domains.iter().enumerate() {
        if let Some(d) = d.as_ref().filter(|d| j != current && d.state == RunState::Runnable) {
            w.others = true;
            w.woken |= d.woken;
        }
    }
    w
}

/// How much of its slice the running domain may use while `w` waits.
fn slice_limit(w: Waiting) -> Option<u64> {
    match w {
        Waiting { woken: true, .. } => Some(WAKE_RATELIMIT_NS),
        Waiting { others: true, .. } => Some(SLICE_NS),
        _ => None,
    }
}

/// At `now`, for the running domain `d` (charged up to now): its limit,
/// then its slice while others wait (the rate limit if one was woken).
pub fn verdict(d: &Domain, w: Waiting) -> Verdict {
    if d.max_cpu_ns != 0 && d.cpu_ns >= d.max_cpu_ns {
        Verdict::OverLimit
    } else if slice_limit(w).is_some_and(|limit| d.slice_ns >= limit) {
        Verdict::Yield
    } else {
        Verdict::Continue
    }
}

/// Whether the running domain's timers (single-shot and periodic) fell
/// due by `now` (each is consumed or re-armed). The caller sends
/// VIRQ_TIMER through the event core: an unbound one goes nowhere, as on
/// Xen.
pub fn run_timers(d: &mut Domain, now: SystemTime) -> bool {
    d.vcpu.time.timers.due(now, true)
}

/// Whether a blocked domain's single-shot timer fell due by `now` (the
/// caller sends VIRQ_TIMER, then asks [`wake_check`]).
pub fn blocked_timer_due(d: &mut Domain, now: SystemTime) -> bool {
    d.state == RunState::Blocked && d.vcpu.time.timers.due(now, false)
}

/// Whether the port `port` of a 2-level domain whose shared_info is at
/// `si` is pending.
fn port_pending<M: PhysMemory + ?Sized>(mem: &M, si: PhysAddr, port: u32) -> bool {
    port < 4096 && mem.read_u64(PhysAddr(si.0 + 2048 + u64::from(port / 64) * 8)) >> (port % 64) & 1 != 0
}

/// At `now`, wakes a blocked domain if what it waits for happened (its
/// timer's VIRQ_TIMER, sent after [`blocked_timer_due`], shows as an
/// event pending). Returns whether it woke.
pub fn wake_check<M: PhysMemory + ?Sized>(mem: &mut M, d: &mut Domain, now: SystemTime) -> bool {
    if d.state != RunState::Blocked {
        return false;
    }
    let vi = d.vcpu.vcpu_info_location();
    let pending = upcall_pending(mem, vi);
    let wake = match d.vcpu.time.wait {
        Wait::None => true,
        Wait::Block => pending,
        Wait::Poll { port, deadline } => {
            (pending && !upcall_masked(mem, vi))
                || d.vcpu.time.poll_kicked
                || deadline.is_some_and(|t| t <= now)
                || port.is_some_and(|p| port_pending(mem, PhysAddr(d.shared_info.to_maddr()), p))
        }
    };
    if wake {
        d.state = RunState::Runnable;
        d.woken = true;
        d.vcpu.time.wait = Wait::None;
        d.vcpu.time.poll_kicked = false;
        d.vcpu.time.runstate.change(runstate::RUNNABLE, now);
    }
    wake
}

/// An event was sent to blocked domain `d` (its upcall became pending, or
/// a port it may poll): runnable again, and woken. The next
/// [`wake_check`]-style checks of what it waits for are the guest's own.
pub fn kicked(d: &mut Domain) -> bool {
    if d.state != RunState::Blocked {
        return false;
    }
    d.state = RunState::Runnable;
    d.woken = true;
    true
}

/// The next runnable domain after `current`, round robin (`current`
/// itself last).
pub fn pick_next(domains: &[Option<Domain>], current: usize) -> Option<usize> {
    let n = domains.len();
    (1..=n).map(|k| (current + k) % n).find(|&j| domains[j].as_ref().is_some_and(|d| d.state == RunState::Runnable))
}

/// Whether a domain other than `current` is runnable.
pub fn others_runnable(domains: &[Option<Domain>], current: usize) -> bool {
    domains.iter().enumerate().any(|(j, d)| j != current && d.as_ref().is_some_and(|d| d.state == RunState::Runnable))
}

/// The nearest moment something must happen, for the hypervisor timer:
/// the running domain's timers, its slice end (if others wait) and its
/// limit; every blocked domain's single-shot timer and poll timeout.
/// `None`: nothing is due, ever (the timer stays off).
pub fn next_event(domains: &[Option<Domain>], running: Option<usize>, now: SystemTime) -> Option<SystemTime> {
    let mut next: Option<SystemTime> = None;
    let mut at = |t: SystemTime| next = Some(next.map_or(t, |n| n.min(t)));
    for (j, d) in domains.iter().enumerate() {
        let Some(d) = d else { continue };
        match d.state {
            RunState::Runnable if Some(j) == running => {
                if let Some(t) = d.vcpu.time.timers.next_deadline(true) {
                    at(t);
                }
                if d.max_cpu_ns != 0 {
                    at(now.plus(d.max_cpu_ns.saturating_sub(d.cpu_ns)));
                }
                if let Some(limit) = slice_limit(waiting(domains, j)) {
                    at(now.plus(limit.saturating_sub(d.slice_ns)));
                }
            }
            RunState::Blocked => {
                if let Some(t) = d.vcpu.time.timers.next_deadline(false) {
                    at(t);
                }
                if let Wait::Poll { deadline: Some(t), .. } = d.vcpu.time.wait {
                    at(t);
                }
            }
            _ => {}
        }
    }
    next
}

/// How near the nearest deadline must be for the idle loop to wait for it
/// by polling the clock instead of halting: 50 µs, the slack Xen's own
/// timer gives the hardware (`timer_slop`). A halt's wake-up costs more
/// than such a wait (under QEMU, a host timer and a thread wake-up, tens
/// of µs on a loaded host), and a CPU with nothing to run loses nothing
/// by spinning that long, as a guest's halt-polling idle does.
pub const IDLE_POLL_NS: u64 = 50_000;

/// Where the idle loop polls the clock rather than halting: up to the
/// nearest deadline `next` (from [`next_event`]) when it is at most
/// [`IDLE_POLL_NS`] after `now` (a deadline already passed is returned
/// as is: no wait at all). The deadline is never brought forward: the
/// timer fires at it or after, as on Xen.
pub fn idle_poll_until(next: Option<SystemTime>, now: SystemTime) -> Option<SystemTime> {
    next.filter(|t| t.0 <= now.0.saturating_add(IDLE_POLL_NS))
}

/// How near the running domain's next timer must be for the hypervisor to
/// wait for it at the exit instead of arming the hardware timer: 2 µs,
/// about what a timer write, the interrupt and its entry cost on
/// hardware, and far less than under QEMU, where a timer write alone
/// costs tens of µs of host time.
pub const TIMER_SPIN_NS: u64 = 2_000;

/// The running domain `d`'s next timer deadline (single-shot or periodic)
/// if it is at most [`TIMER_SPIN_NS`] after `now` (or already passed):
/// the caller waits for it and runs [`run_timers`], so the timer fires at
/// its deadline, never before.
pub fn timer_near(d: &Domain, now: SystemTime) -> Option<SystemTime> {
    d.vcpu.time.timers.next_deadline(true).filter(|t| t.0 <= now.0.saturating_add(TIMER_SPIN_NS))
}

/// The domain `d` stops running at `now`: charged, and its runstate moves
/// to `state` (`RUNSTATE_runnable`, `_blocked` or `_offline`).
pub fn switched_out(d: &mut Domain, now: SystemTime, state: u32) {
    charge(d, now);
    d.vcpu.time.runstate.change(state, now);
}

/// The domain `d` starts running at `now`: a fresh slice, charging from
/// now, runstate running. Returns whether timers fell due while it waited
/// (the caller sends VIRQ_TIMER).
pub fn switched_in(d: &mut Domain, now: SystemTime) -> bool {
    d.slice_ns = 0;
    d.woken = false;
    d.charged_to = now;
    d.vcpu.time.runstate.change(runstate::RUNNING, now);
    run_timers(d, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vcpu::{GuestContext, Vcpu};
    use crate::mm::phys_mem::fake::FakeMemory;
    use crate::sched::MAX_DOMAINS;
    use crate::time::vcpu::guest_timer_fired;
    use crate::util::FixedVec;
    use abi::{DomId, Mfn};

    fn dom(i: usize) -> Domain {
        let mut vcpu = Vcpu::new(GuestContext::default());
        vcpu.set_vcpu_info_location(PhysAddr((0x10 + i as u64) << 12));
        vcpu.time.timers.stop_periodic();
        Domain {
            id: DomId(i as u16),
            name: FixedVec::new(),
            vcpu,
            state: RunState::Runnable,
            shared_info: Mfn(0x10 + i as u64),
            line: crate::console::LineBuf::new(),
            int82: false,
            vmcall: false,
            bench_null: false,
            cpu_ns: 0,
            slice_ns: 0,
            max_cpu_ns: 0,
            charged_to: SystemTime(0),
            started: false,
            woken: false,
            pvh: false,
        }
    }

    fn table(n: usize) -> Vec<Option<Domain>> {
        let mut t: Vec<Option<Domain>> = (0..MAX_DOMAINS).map(|_| None).collect();
        for (i, slot) in t.iter_mut().enumerate().take(n) {
            *slot = Some(dom(i));
        }
        t
    }

    #[test]
    fn an_ended_domain_names_no_vcpu_info_to_write() {
        // Regression: the TSC refinement restamped every domain's vcpu_info,
        // ended ones too, writing into freed frames (the hostile fuzzer saw
        // a system time appear as an L1 entry of the next owner).
        let mut d = dom(3);
        assert_eq!(d.live_vcpu_info(), Some(PhysAddr(0x13 << 12)));
        d.state = RunState::Blocked;
        assert!(d.live_vcpu_info().is_some());
        for end in [RunState::Shutdown(0), RunState::Crashed] {
            d.state = end;
            assert_eq!(d.live_vcpu_info(), None, "{end:?}");
        }
    }

    #[test]
    fn the_idle_loop_polls_only_for_a_near_deadline_and_never_before_it() {
        let now = SystemTime(1_000_000);
        assert_eq!(idle_poll_until(None, now), None, "no deadline: halt");
        assert_eq!(idle_poll_until(Some(now.plus(1000)), now), Some(now.plus(1000)));
        assert_eq!(idle_poll_until(Some(now.plus(IDLE_POLL_NS)), now), Some(now.plus(IDLE_POLL_NS)));
        assert_eq!(idle_poll_until(Some(now.plus(IDLE_POLL_NS + 1)), now), None, "far: halt");
        assert_eq!(idle_poll_until(Some(SystemTime(5)), now), Some(SystemTime(5)), "passed: no wait");
        assert_eq!(idle_poll_until(Some(SystemTime(u64::MAX)), SystemTime(u64::MAX - 1)), Some(SystemTime(u64::MAX)));
    }

    #[test]
    fn only_a_timer_due_within_the_spin_window_is_waited_for_at_the_exit() {
        let mut d = dom(0);
        let now = SystemTime(10_000_000);
        assert_eq!(timer_near(&d, now), None, "no timer");
        d.vcpu.time.timers.set_singleshot(now, now.0 + TIMER_SPIN_NS + 1);
        assert_eq!(timer_near(&d, now), None, "too far: the hardware timer");
        d.vcpu.time.timers.set_singleshot(now, now.0 + 1000);
        assert_eq!(timer_near(&d, now), Some(now.plus(1000)));
        // Waited for, it fires at its deadline and not before.
        assert!(!run_timers(&mut d, now.plus(999)));
        assert!(run_timers(&mut d, now.plus(1000)));
        assert_eq!(timer_near(&d, now), None, "consumed");
    }

    #[test]
    fn round_robin_skips_blocked_and_finished_and_comes_back_to_current_last() {
        let mut t = table(4);
        t[1].as_mut().unwrap().state = RunState::Blocked;
        t[2].as_mut().unwrap().state = RunState::Crashed;
        assert_eq!(pick_next(&t, 0), Some(3));
        assert_eq!(pick_next(&t, 3), Some(0));
        t[0].as_mut().unwrap().state = RunState::Blocked;
        assert_eq!(pick_next(&t, 3), Some(3));
        t[3].as_mut().unwrap().state = RunState::Shutdown(0);
        assert_eq!(pick_next(&t, 3), None);
    }

    #[test]
    fn the_slice_ends_only_when_others_wait_and_the_limit_always() {
        let mut d = dom(0);
        let (others, alone) = (Waiting { others: true, woken: false }, Waiting { others: false, woken: false });
        charge(&mut d, SystemTime(SLICE_NS - 1));
        assert_eq!(verdict(&d, others), Verdict::Continue);
        charge(&mut d, SystemTime(SLICE_NS));
        assert_eq!(verdict(&d, others), Verdict::Yield);
        assert_eq!(verdict(&d, alone), Verdict::Continue);
        d.max_cpu_ns = SLICE_NS;
        assert_eq!(verdict(&d, alone), Verdict::OverLimit);
    }

    #[test]
    fn a_woken_domain_preempts_the_running_one_after_the_rate_limit() {
        let mut t = table(2);
        let now = SystemTime(10_000_000);
        t[1].as_mut().unwrap().state = RunState::Blocked;
        assert_eq!(waiting(&t, 0), Waiting { others: false, woken: false });
        assert_eq!(next_event(&t, Some(0), now), None);
        assert!(kicked(t[1].as_mut().unwrap()), "an event wakes it");
        assert!(!kicked(t[1].as_mut().unwrap()), "already runnable");
        let w = waiting(&t, 0);
        assert_eq!(w, Waiting { others: true, woken: true });
        let d = t[0].as_mut().unwrap();
        switched_in(d, SystemTime(9_500_000));
        charge(d, now);
        assert_eq!(verdict(d, w), Verdict::Continue, "half a millisecond in: not yet");
        assert_eq!(next_event(&t, Some(0), now), Some(SystemTime(10_500_000)), "the rate limit's end");
        let d = t[0].as_mut().unwrap();
        charge(d, SystemTime(10_500_000));
        assert_eq!(verdict(d, w), Verdict::Yield);
        // Once it has run, the woken domain waits its turn like any other.
        switched_in(t[1].as_mut().unwrap(), SystemTime(10_500_000));
        assert_eq!(waiting(&t, 0), Waiting { others: true, woken: false });
        let mut m = FakeMemory::default();
        let d = t[1].as_mut().unwrap();
        d.state = RunState::Blocked;
        d.vcpu.time.wait = Wait::Block;
        m.write_bytes(d.vcpu.vcpu_info_location(), &[1]);
        assert!(wake_check(&mut m, d, SystemTime(11_000_000)));
        assert!(d.woken, "a timer or event found by the wake check counts too");
    }

    #[test]
    fn block_wakes_on_upcall_pending_and_its_timer_fires_while_blocked() {
        let mut m = FakeMemory::default();
        let mut d = dom(1);
        d.state = RunState::Blocked;
        d.vcpu.time.wait = Wait::Block;
        d.vcpu.time.timers.set_singleshot(SystemTime(0), 1000);
        assert!(!blocked_timer_due(&mut d, SystemTime(999)));
        assert!(!wake_check(&mut m, &mut d, SystemTime(999)));
        assert!(blocked_timer_due(&mut d, SystemTime(1000)));
        assert!(!wake_check(&mut m, &mut d, SystemTime(1000)), "an unbound VIRQ_TIMER wakes nothing");
        // A bound, unmasked VIRQ_TIMER marks events pending.
        guest_timer_fired(&mut m, d.vcpu.vcpu_info_location());
        assert!(wake_check(&mut m, &mut d, SystemTime(1000)), "the timer's event");
        assert_eq!(d.state, RunState::Runnable);
        assert_eq!(d.vcpu.time.runstate.state, runstate::RUNNABLE);
        let mut d = dom(2);
        d.state = RunState::Blocked;
        d.vcpu.time.wait = Wait::Block;
        assert!(!wake_check(&mut m, &mut d, SystemTime(5)));
        m.write_bytes(d.vcpu.vcpu_info_location(), &[1]);
        assert!(wake_check(&mut m, &mut d, SystemTime(6)), "an event from elsewhere");
    }

    #[test]
    fn poll_wakes_on_its_port_its_deadline_a_kick_or_an_unmasked_event() {
        let mut m = FakeMemory::default();
        let blocked = |port, deadline| {
            let mut d = dom(3);
            d.state = RunState::Blocked;
            d.vcpu.time.wait = Wait::Poll { port, deadline };
            m_masked(&mut FakeMemory::default(), &d);
            d
        };
        fn m_masked(m: &mut FakeMemory, d: &Domain) {
            m.write_bytes(PhysAddr(d.vcpu.vcpu_info_location().0 + 1), &[1]);
        }
        let mut d = blocked(Some(9), None);
        m_masked(&mut m, &d);
        m.write_bytes(d.vcpu.vcpu_info_location(), &[1]);
        assert!(!wake_check(&mut m, &mut d, SystemTime(1)), "pending but masked");
        m.write_u64(PhysAddr(d.shared_info.to_maddr() + 2048), 1 << 9);
        assert!(wake_check(&mut m, &mut d, SystemTime(2)), "its port");
        let mut m = FakeMemory::default();
        let mut d = blocked(None, Some(SystemTime(50)));
        m_masked(&mut m, &d);
        assert!(!wake_check(&mut m, &mut d, SystemTime(49)));
        assert!(wake_check(&mut m, &mut d, SystemTime(50)), "the timeout");
        let mut d = blocked(None, None);
        d.vcpu.time.poll_kicked = true;
        assert!(wake_check(&mut m, &mut d, SystemTime(1)), "a kick");
    }

    #[test]
    fn next_event_is_the_nearest_of_timers_slice_limit_and_poll_timeouts() {
        let mut t = table(3);
        let now = SystemTime(1_000_000);
        assert_eq!(next_event(&t, Some(0), now), Some(now.plus(SLICE_NS)), "others wait: the slice end");
        t[1].as_mut().unwrap().state = RunState::Blocked;
        t[2].as_mut().unwrap().state = RunState::Blocked;
        assert_eq!(next_event(&t, Some(0), now), None, "alone with no timer: nothing, ever");
        t[0].as_mut().unwrap().max_cpu_ns = 7_000_000;
        t[0].as_mut().unwrap().cpu_ns = 2_000_000;
        assert_eq!(next_event(&t, Some(0), now), Some(now.plus(5_000_000)), "the limit");
        t[1].as_mut().unwrap().vcpu.time.timers.set_singleshot(now, 3_000_000);
        assert_eq!(next_event(&t, Some(0), now), Some(SystemTime(3_000_000)), "a blocked domain's timer");
        t[2].as_mut().unwrap().vcpu.time.wait = Wait::Poll { port: None, deadline: Some(SystemTime(2_000_000)) };
        assert_eq!(next_event(&t, Some(0), now), Some(SystemTime(2_000_000)), "a poll timeout");
        t[0].as_mut().unwrap().vcpu.time.timers.set_periodic(now, 1_000_000).unwrap();
        assert_eq!(next_event(&t, Some(0), now), Some(SystemTime(2_000_000)));
        t[2].as_mut().unwrap().vcpu.time.timers.set_periodic(now, 1_000_000).unwrap();
        t[2].as_mut().unwrap().vcpu.time.timers.periodic_last = SystemTime(0);
        assert_eq!(next_event(&t, Some(0), now), Some(SystemTime(2_000_000)), "no periodic timer while blocked");
        assert_eq!(next_event(&t, None, now), Some(SystemTime(2_000_000)), "idle: the blocked ones only");
    }

    #[test]
    fn switching_charges_the_stay_and_fires_timers_that_fell_due() {
        let mut d = dom(0);
        assert!(!switched_in(&mut d, SystemTime(100)));
        switched_out(&mut d, SystemTime(400), runstate::RUNNABLE);
        assert_eq!(d.cpu_ns, 300);
        assert_eq!(d.vcpu.time.runstate.time[runstate::RUNNING as usize], 300);
        d.vcpu.time.timers.set_singleshot(SystemTime(400), 500);
        assert!(switched_in(&mut d, SystemTime(600)), "the timer that fell due while it waited");
        assert_eq!(d.slice_ns, 0);
        assert_eq!(d.vcpu.time.runstate.time[runstate::RUNNABLE as usize], 200);
    }
}
