//! Which PVH exits may move a deadline of the scheduler's, so that the
//! hypervisor timer must be re-armed before the next VMRUN. Re-arming
//! walks every domain (`scheduler::next_event`), about 200 instructions,
//! and most exits (nested and shadow page faults, CPUID, MSR, I/O, CR,
//! INVLPG, the interrupt window) change nothing it reads: the deadlines
//! move only through a hypercall that reaches timers, events or the
//! scheduler, a wake-up, the scheduler's tick, or a TSC refinement. The
//! running domain's slice and CPU-limit deadlines are `now + what is
//! left`, so a deadline armed earlier is never later than a fresh one;
//! and an interrupt taken in the host (its EOI forgets what was armed)
//! is caught by the timer itself, not here.

use abi::hypercall::HypercallNr;

/// Whether PVH hypercall `nr` may move a scheduler deadline: all but the
/// ones that reach none of timers, event channels, vCPU state or the
/// scheduler (console output, version queries, the balloon and its
/// physmap, HVM parameters). A number not listed counts as moving one.
pub const fn hypercall_moves_deadlines(nr: u64) -> bool {
    !(nr == HypercallNr::CONSOLE_IO.0
        || nr == HypercallNr::XEN_VERSION.0
        || nr == HypercallNr::MEMORY_OP.0
        || nr == HypercallNr::HVM_OP.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_balloon_console_version_and_params_leave_the_deadlines_alone() {
        for nr in [HypercallNr::CONSOLE_IO, HypercallNr::XEN_VERSION, HypercallNr::MEMORY_OP, HypercallNr::HVM_OP] {
            assert!(!hypercall_moves_deadlines(nr.0), "{nr:?}");
        }
    }

    #[test]
    fn timer_event_vcpu_and_scheduler_calls_may_move_a_deadline() {
        for nr in
            [HypercallNr::SET_TIMER_OP, HypercallNr::EVENT_CHANNEL_OP, HypercallNr::VCPU_OP, HypercallNr::SCHED_OP]
        {
            assert!(hypercall_moves_deadlines(nr.0), "{nr:?}");
        }
        assert!(hypercall_moves_deadlines(u64::MAX), "an unknown number counts as moving one");
    }
}
