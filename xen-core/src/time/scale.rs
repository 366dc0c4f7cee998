//! The TSC→ns scale as Xen computes it (`set_time_scale`, fact sheet §3.1):
//! a shift that brings the frequency into (1, 2] GHz, then a 0.32 fixed-point
//! multiplier. Guests apply it as `((Δtsc << shift) * mul) >> 32`, so the
//! hypervisor must scale with exactly the same arithmetic.

/// `tsc_to_system_mul` and `tsc_shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeScale {
    /// 0.32 fixed-point multiplier.
    pub mul_frac: u32,
    /// Left shift (right if negative) applied to the TSC delta first.
    pub shift: i8,
}

impl TimeScale {
    /// The scale for a counter running at `hz` (non-zero), as Xen's
    /// `set_time_scale` derives it.
    pub fn from_hz(hz: u64) -> TimeScale {
        let mut f = hz.max(1);
        let mut shift: i8 = 0;
        while f > 2_000_000_000 {
            f >>= 1;
            shift -= 1;
        }
        while f <= 1_000_000_000 {
            f <<= 1;
            shift += 1;
        }
        // 10^9 * 2^32 / f with f in (10^9, 2*10^9]: the quotient is below 2^32.
        let mul = ((1_000_000_000u128 << 32) / u128::from(f)) as u32;
        TimeScale { mul_frac: mul, shift }
    }

    /// Nanoseconds in `delta` counter ticks: the guest's pvclock arithmetic.
    pub fn ticks_to_ns(self, delta: u64) -> u64 {
        let d = if self.shift >= 0 { delta << self.shift } else { delta >> -self.shift };
        ((u128::from(d) * u128::from(self.mul_frac)) >> 32) as u64
    }

    /// Ticks in `ns` nanoseconds, rounded up so that a deadline computed
    /// with it is never early (the inverse of [`Self::ticks_to_ns`]).
    pub fn ns_to_ticks(self, ns: u64) -> u64 {
        if self.mul_frac == 0 {
            return u64::MAX;
        }
        let d = ((u128::from(ns) << 32).div_ceil(u128::from(self.mul_frac))).min(u128::from(u64::MAX)) as u64;
        if self.shift >= 0 {
            d.div_ceil(1 << self.shift)
        } else {
            d.checked_shl((-self.shift) as u32).filter(|v| v >> -self.shift == d).unwrap_or(u64::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2ghz_counter_keeps_shift_0_and_halves_ns() {
        let s = TimeScale::from_hz(2_000_000_000);
        assert_eq!(s.shift, 0);
        assert_eq!(s.mul_frac, 1 << 31);
        assert_eq!(s.ticks_to_ns(2_000_000_000), 1_000_000_000);
    }

    #[test]
    fn a_1ghz_counter_is_shifted_into_the_range() {
        // Exactly 10^9 is not > 10^9: shifted once, as Xen's loop does.
        let s = TimeScale::from_hz(1_000_000_000);
        assert_eq!(s.shift, 1);
        assert_eq!(s.mul_frac, 1 << 31);
        assert_eq!(s.ticks_to_ns(1_000_000_000), 1_000_000_000);
    }

    #[test]
    fn a_fast_counter_gets_a_negative_shift() {
        let s = TimeScale::from_hz(5_000_000_000);
        assert_eq!(s.shift, -2);
        assert_eq!(s.ticks_to_ns(5_000_000_000), 999_999_999);
    }

    #[test]
    fn one_second_of_ticks_is_one_second_within_a_nanosecond_for_common_frequencies() {
        for hz in [1_193_182, 14_318_180, 100_000_000, 1_000_000_001, 2_399_999_000, 3_600_000_000, 4_000_000_000] {
            let s = TimeScale::from_hz(hz);
            let ns = s.ticks_to_ns(hz);
            assert!((999_999_990..=1_000_000_000).contains(&ns), "{hz} Hz: {ns} ns ({s:?})");
        }
    }

    #[test]
    fn ns_to_ticks_is_never_early() {
        for hz in [1_193_182, 1_000_000_000, 2_500_000_000, 3_000_000_000, 7_000_000_000] {
            let s = TimeScale::from_hz(hz);
            for ns in [0, 1, 999, 100_000, 10_000_000, 1_000_000_000, 3_600_000_000_000] {
                let t = s.ns_to_ticks(ns);
                assert!(s.ticks_to_ns(t) >= ns, "{hz} Hz {ns} ns -> {t} ticks -> {}", s.ticks_to_ns(t));
                if t > 0 {
                    let back = s.ticks_to_ns(t.saturating_sub(4));
                    assert!(back < ns + 5, "{hz} Hz {ns} ns: {t} ticks is far too late");
                }
            }
        }
    }
}
