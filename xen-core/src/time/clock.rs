//! Xen system time: nanoseconds since the hypervisor calibrated the TSC at
//! boot. One stamp (TSC and system time at the calibration) and one scale,
//! since the TSC is invariant under the machines xen-core runs on: the
//! stamp never moves, so every vCPU's `vcpu_time_info` carries the same
//! three values and guest and hypervisor compute the same time.

use super::scale::TimeScale;

/// A point of Xen system time, in nanoseconds since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SystemTime(pub u64);

impl SystemTime {
    /// `self + ns`, saturating.
    pub fn plus(self, ns: u64) -> SystemTime {
        SystemTime(self.0.saturating_add(ns))
    }
}

/// The calibrated clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// The TSC frequency found at boot.
    pub tsc_hz: u64,
    /// Its scale.
    pub scale: TimeScale,
    /// TSC at system time 0.
    pub tsc_at_zero: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(1_000_000_000, 0)
    }
}

impl Clock {
    /// A clock for a TSC at `tsc_hz` that read `tsc_now` at system time 0.
    pub fn new(tsc_hz: u64, tsc_now: u64) -> Clock {
        Clock { tsc_hz, scale: TimeScale::from_hz(tsc_hz), tsc_at_zero: tsc_now }
    }

    /// System time at TSC value `tsc` (0 before the stamp).
    pub fn at(&self, tsc: u64) -> SystemTime {
        SystemTime(self.scale.ticks_to_ns(tsc.saturating_sub(self.tsc_at_zero)))
    }

    /// The TSC value at which system time `t` is reached (never early).
    pub fn tsc_of(&self, t: SystemTime) -> u64 {
        self.tsc_at_zero.saturating_add(self.scale.ns_to_ticks(t.0))
    }
}

/// The TSC frequency from a calibration: `ticks` TSC ticks elapsed while a
/// reference counter at `ref_hz` counted `ref_ticks`.
pub fn calibrate(ticks: u64, ref_ticks: u64, ref_hz: u64) -> u64 {
    if ref_ticks == 0 {
        return 0;
    }
    (u128::from(ticks) * u128::from(ref_hz) / u128::from(ref_ticks)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_starts_at_the_stamp_and_follows_the_tsc() {
        let c = Clock::new(3_000_000_000, 1_000_000);
        assert_eq!(c.at(1_000_000), SystemTime(0));
        assert_eq!(c.at(0), SystemTime(0), "before the stamp is time 0, not a wrap");
        let one_s = c.at(1_000_000 + 3_000_000_000).0;
        assert!((999_999_990..=1_000_000_000).contains(&one_s));
    }

    #[test]
    fn system_time_is_monotonic_in_the_tsc() {
        let c = Clock::new(2_712_345_678, 77);
        let mut last = SystemTime(0);
        let mut tsc = 77u64;
        for step in [1u64, 3, 1000, 12_345, 1 << 20, 1 << 33, 7] {
            for _ in 0..50 {
                tsc += step;
                let t = c.at(tsc);
                assert!(t >= last);
                last = t;
            }
        }
    }

    #[test]
    fn tsc_of_reaches_the_time_asked_for() {
        let c = Clock::new(2_712_345_678, 5_000);
        for ns in [0, 1, 100_000, 10_000_000, 5_000_000_000] {
            assert!(c.at(c.tsc_of(SystemTime(ns))) >= SystemTime(ns));
        }
    }

    #[test]
    fn calibration_scales_by_the_reference() {
        // 50 ms of the PIT (1.193182 MHz) during which the TSC ran 150,000,000 ticks: 3 GHz.
        assert_eq!(calibrate(150_000_000, 59_659, 1_193_182), 3_000_005_028);
        assert_eq!(calibrate(1, 0, 1_193_182), 0);
    }
}
