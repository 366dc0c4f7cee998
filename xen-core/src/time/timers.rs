//! A vCPU's guest timers (fact sheet §3.3): one single-shot deadline,
//! shared by `set_timer_op` and `VCPUOP_set_singleshot_timer`, and one
//! periodic timer (10 ms from creation, as Xen starts every PV vCPU) that
//! runs only while the vCPU is scheduled. Pure: callers pass the time, and
//! [`VcpuTimers::due`] says what fired.

use super::clock::SystemTime;
use abi::Errno;

/// Xen's default period for a new PV vCPU.
pub const DEFAULT_PERIOD_NS: u64 = 10_000_000;
/// `VCPUOP_set_periodic_timer`: shorter periods are refused.
pub const MIN_PERIOD_NS: u64 = 1_000_000;
/// Xen's `STIME_DELTA_MAX`: longer periods are refused.
pub const MAX_PERIOD_NS: u64 = (1 << 62) - 1;
/// `set_timer_op` deadlines this far ahead (or negative) are treated as
/// a guest bug: Xen fires them in [`BOGUS_DEADLINE_DELAY_NS`] instead.
pub const SET_TIMER_OP_HORIZON_NS: u64 = 1 << 50;
/// See [`SET_TIMER_OP_HORIZON_NS`].
pub const BOGUS_DEADLINE_DELAY_NS: u64 = 100_000_000;

/// The timers of one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuTimers {
    /// The single-shot deadline, if armed.
    pub singleshot: Option<SystemTime>,
    /// The period (0 = periodic timer off).
    pub period_ns: u64,
    /// When the periodic timer last fired (or was started).
    pub periodic_last: SystemTime,
}

impl Default for VcpuTimers {
    fn default() -> Self {
        VcpuTimers { singleshot: None, period_ns: DEFAULT_PERIOD_NS, periodic_last: SystemTime(0) }
    }
}

/// What arming a timer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Armed {
    /// The deadline is in the future.
    Later,
    /// It had already passed: the timer event is due now.
    FireNow,
}

impl VcpuTimers {
    /// `set_timer_op(timeout)`: 0 cancels; a negative deadline or one more
    /// than 2^50 ns ahead becomes 100 ms from now; anything else arms
    /// (a past one fires at once). Never fails.
    pub fn set_timer_op(&mut self, now: SystemTime, timeout: u64) -> Armed {
        if timeout == 0 {
            self.singleshot = None;
            return Armed::Later;
        }
        let offset = (timeout as i64).wrapping_sub(now.0 as i64);
        let deadline = if (timeout as i64) < 0 || (offset > 0 && offset as u64 >= SET_TIMER_OP_HORIZON_NS) {
            now.plus(BOGUS_DEADLINE_DELAY_NS)
        } else {
            SystemTime(timeout)
        };
        self.arm(now, deadline)
    }

    /// `VCPUOP_set_singleshot_timer`: a deadline already past stops the
    /// timer and fires it now (the `VCPU_SSHOTTMR_future` flag is ignored,
    /// as by Xen 4.17).
    pub fn set_singleshot(&mut self, now: SystemTime, timeout_abs_ns: u64) -> Armed {
        if timeout_abs_ns < now.0 {
            self.singleshot = None;
            return Armed::FireNow;
        }
        self.arm(now, SystemTime(timeout_abs_ns))
    }

    fn arm(&mut self, now: SystemTime, deadline: SystemTime) -> Armed {
        if deadline <= now {
            self.singleshot = None;
            Armed::FireNow
        } else {
            self.singleshot = Some(deadline);
            Armed::Later
        }
    }

    /// `VCPUOP_stop_singleshot_timer`.
    pub fn stop_singleshot(&mut self) {
        self.singleshot = None;
    }

    /// `VCPUOP_set_periodic_timer(period)`.
    ///
    /// # Errors
    /// `EINVAL` below 1 ms or above 2^62 − 1 ns.
    pub fn set_periodic(&mut self, now: SystemTime, period_ns: u64) -> Result<(), Errno> {
        if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period_ns) {
            return Err(Errno::EINVAL);
        }
        self.period_ns = period_ns;
        self.periodic_last = now;
        Ok(())
    }

    /// `VCPUOP_stop_periodic_timer`.
    pub fn stop_periodic(&mut self) {
        self.period_ns = 0;
    }

    /// The nearest deadline of the timers that may fire: the single-shot
    /// one always, the periodic one only while the vCPU runs.
    pub fn next_deadline(&self, running: bool) -> Option<SystemTime> {
        let periodic = (running && self.period_ns != 0).then(|| self.periodic_last.plus(self.period_ns));
        match (self.singleshot, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the timers that are due at `now`, returning whether any
    /// fired (one timer event however many: Xen's ticks coalesce). The
    /// periodic timer only counts while `running`; it restarts from now.
    pub fn due(&mut self, now: SystemTime, running: bool) -> bool {
        let mut fired = false;
        if self.singleshot.is_some_and(|t| t <= now) {
            self.singleshot = None;
            fired = true;
        }
        if running && self.period_ns != 0 && self.periodic_last.plus(self.period_ns) <= now {
            self.periodic_last = now;
            fired = true;
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: SystemTime = SystemTime(5_000_000_000);

    #[test]
    fn set_timer_op_zero_cancels_the_singleshot() {
        let mut t = VcpuTimers::default();
        t.set_timer_op(NOW, NOW.0 + 1000);
        assert_eq!(t.singleshot, Some(NOW.plus(1000)));
        assert_eq!(t.set_timer_op(NOW, 0), Armed::Later);
        assert_eq!(t.singleshot, None);
    }

    #[test]
    fn set_timer_op_past_deadline_fires_now() {
        let mut t = VcpuTimers::default();
        assert_eq!(t.set_timer_op(NOW, 1), Armed::FireNow);
        assert_eq!(t.set_timer_op(NOW, NOW.0), Armed::FireNow);
        assert_eq!(t.singleshot, None);
    }

    #[test]
    fn set_timer_op_bogus_deadlines_become_100ms() {
        let mut t = VcpuTimers::default();
        for bogus in [u64::MAX, 1 << 63, NOW.0 + (1 << 50)] {
            assert_eq!(t.set_timer_op(NOW, bogus), Armed::Later);
            assert_eq!(t.singleshot, Some(NOW.plus(100_000_000)), "{bogus:#x}");
        }
        t.set_timer_op(NOW, NOW.0 + (1 << 50) - 1);
        assert_eq!(t.singleshot, Some(NOW.plus((1 << 50) - 1)), "just inside the horizon is kept");
    }

    #[test]
    fn singleshot_in_the_past_stops_and_fires() {
        let mut t = VcpuTimers { singleshot: Some(NOW.plus(9)), ..Default::default() };
        assert_eq!(t.set_singleshot(NOW, NOW.0 - 1), Armed::FireNow);
        assert_eq!(t.singleshot, None);
        assert_eq!(t.set_singleshot(NOW, NOW.0 + 10), Armed::Later);
        t.stop_singleshot();
        assert_eq!(t.singleshot, None);
    }

    #[test]
    fn periodic_limits_are_xens() {
        let mut t = VcpuTimers::default();
        assert_eq!(t.set_periodic(NOW, MIN_PERIOD_NS - 1), Err(Errno::EINVAL));
        assert_eq!(t.set_periodic(NOW, 0), Err(Errno::EINVAL));
        assert_eq!(t.set_periodic(NOW, MAX_PERIOD_NS + 1), Err(Errno::EINVAL));
        assert_eq!(t.period_ns, DEFAULT_PERIOD_NS, "a refused period changes nothing");
        assert_eq!(t.set_periodic(NOW, MIN_PERIOD_NS), Ok(()));
        assert_eq!(t.set_periodic(NOW, MAX_PERIOD_NS), Ok(()));
    }

    #[test]
    fn the_periodic_timer_fires_only_while_running_and_coalesces() {
        let mut t = VcpuTimers::default();
        t.set_periodic(NOW, MIN_PERIOD_NS).unwrap();
        assert_eq!(t.next_deadline(false), None);
        assert_eq!(t.next_deadline(true), Some(NOW.plus(MIN_PERIOD_NS)));
        let late = NOW.plus(10 * MIN_PERIOD_NS);
        assert!(!t.due(late, false), "never while not running");
        assert!(t.due(late, true), "one event for ten periods");
        assert!(!t.due(late, true));
        assert_eq!(t.next_deadline(true), Some(late.plus(MIN_PERIOD_NS)));
        t.stop_periodic();
        assert_eq!(t.next_deadline(true), None);
    }

    #[test]
    fn the_nearest_deadline_wins_and_singleshot_fires_once() {
        let mut t = VcpuTimers::default();
        t.set_periodic(NOW, MIN_PERIOD_NS).unwrap();
        t.set_singleshot(NOW, NOW.0 + 1000);
        assert_eq!(t.next_deadline(true), Some(NOW.plus(1000)));
        assert_eq!(t.next_deadline(false), Some(NOW.plus(1000)));
        assert!(!t.due(NOW.plus(999), false));
        assert!(t.due(NOW.plus(1000), false));
        assert!(!t.due(NOW.plus(1001), false));
        assert_eq!(t.next_deadline(true), Some(NOW.plus(MIN_PERIOD_NS)), "then the periodic one");
    }
}
