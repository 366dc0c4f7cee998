//! Refining the TSC frequency while guests run. Boot calibrates the TSC
//! over one 1 ms window of the PIT (so the first guest is not held for
//! tens of milliseconds); PIT channel 2 then keeps counting down, free
//! running over its 16-bit range (wrapping every 54.9 ms), and the
//! hypervisor samples it (with the TSC) at the refinement points of
//! [`SCHEDULE_MS`] and every [`PERIOD_MS`] after. Each refinement divides
//! all the TSC ticks since the first sample by all the PIT ticks, so the
//! error shrinks as the interval grows (as Xen's periodic calibration
//! does against its platform timer).
//!
//! Between two samples the PIT may have wrapped many times; the number of
//! wraps is the one that brings the PIT's count closest to what the TSC
//! delta and the current frequency predict. That is unambiguous while the
//! prediction's uncertainty stays well under half a wrap; a sample where
//! it does not (a sample far later than planned), or whose count disagrees
//! with the prediction, restarts the interval there instead of guessing;
//! a disagreement also doubles the estimate's error bound (up to 10 %), so
//! a boot estimate worse than it claimed is replaced a little later.
//! The new frequency is applied with [`super::Clock::rescaled`].

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;
/// The free-running count: 65,536 PIT ticks per wrap.
const WRAP: u64 = 1 << 16;
/// Most uncertainty (PIT ticks) in a predicted count that is accepted: a
/// quarter wrap, so the nearest wrap count is the only one in reach.
const MAX_SLACK: u64 = WRAP / 4;
/// PIT ticks of reading jitter allowed at each sample (a latched count is
/// read between two TSC reads; the PIT ticks every 838 ns).
const READ_TICKS: u64 = 4;
/// The relative error (ppm) assumed for the boot calibration's estimate:
/// generous, since its window is 1 ms (one PIT tick in 1,193 is 840 ppm).
pub const BOOT_ERR_PPM: u64 = 20_000;
/// The widest error bound (ppm) the estimate is given: a refinement that
/// disagrees with the estimate doubles its bound up to this, so that a
/// boot estimate worse than it claimed is still replaced, a little later.
pub const MAX_ERR_PPM: u64 = 100_000;
/// Refinement points, in milliseconds after the first sample.
pub const SCHEDULE_MS: [u64; 4] = [64, 256, 1_024, 4_096];
/// After the schedule, a refinement every this many milliseconds.
pub const PERIOD_MS: u64 = 16_384;

/// One reading: the TSC, and PIT channel 2's down-count latched then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The TSC.
    pub tsc: u64,
    /// The PIT's count (counting down, modulo 65,536).
    pub pit: u16,
}

/// PIT ticks from `a` to `b`, modulo one wrap.
pub fn pit_elapsed(a: u16, b: u16) -> u64 {
    u64::from(a.wrapping_sub(b))
}

/// The TSC frequency from `tsc` ticks over `pit` PIT ticks (0 if none).
pub fn hz_over(tsc: u64, pit: u64) -> u64 {
    if pit == 0 {
        return 0;
    }
    (u128::from(tsc) * u128::from(PIT_HZ) / u128::from(pit)) as u64
}

/// What one sample did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Counted; no refinement is due yet.
    Counted,
    /// A refinement point: the TSC frequency measured over the whole interval.
    Refined(u64),
    /// The wraps could not be counted for sure (or the result disagreed
    /// with the estimate): the interval restarts at this sample.
    Restarted,
}

/// The refinement's state: the interval since its first sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refiner {
    first: Sample,
    last: Sample,
    /// PIT ticks from `first` to `last`, wraps included.
    pit_ticks: u64,
    /// The frequency in use.
    hz: u64,
    /// Its relative error bound, in ppm.
    err_ppm: u64,
    /// Refinements done.
    done: usize,
}

impl Refiner {
    /// The interval from `first` to `last` (less than one wrap apart), over
    /// which boot estimated `hz` with relative error `err_ppm`.
    pub fn new(first: Sample, last: Sample, hz: u64, err_ppm: u64) -> Refiner {
        let pit_ticks = pit_elapsed(first.pit, last.pit);
        Refiner { first, last, pit_ticks, hz: hz.max(1), err_ppm, done: 0 }
    }

    /// The frequency in use.
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Milliseconds from the first sample to the next refinement point.
    fn next_ms(&self) -> u64 {
        match SCHEDULE_MS.get(self.done) {
            Some(&ms) => ms,
            None => SCHEDULE_MS[SCHEDULE_MS.len() - 1] + PERIOD_MS * (self.done - SCHEDULE_MS.len() + 1) as u64,
        }
    }

    /// The TSC value at which the next sample is due.
    pub fn due_tsc(&self) -> u64 {
        let ticks = u128::from(self.hz) * u128::from(self.next_ms()) / 1000;
        self.first.tsc.saturating_add(ticks.min(u128::from(u64::MAX)) as u64)
    }

    /// Takes sample `s` (a later one than the last).
    pub fn sample(&mut self, s: Sample) -> Outcome {
        let dtsc = s.tsc.saturating_sub(self.last.tsc);
        let predicted = u128::from(dtsc) * u128::from(PIT_HZ) / u128::from(self.hz);
        let slack = predicted * u128::from(self.err_ppm) / 1_000_000 + u128::from(2 * READ_TICKS);
        if slack > u128::from(MAX_SLACK) {
            return self.restart(s);
        }
        let predicted = predicted as u64;
        let low = pit_elapsed(self.last.pit, s.pit);
        let wraps = (predicted + WRAP / 2).saturating_sub(low) / WRAP;
        let counted = wraps * WRAP + low;
        if counted.abs_diff(predicted) > slack as u64 {
            return self.disagreed(s);
        }
        self.pit_ticks += counted;
        self.last = s;
        if s.tsc < self.due_tsc() {
            return Outcome::Counted;
        }
        let hz = hz_over(s.tsc - self.first.tsc, self.pit_ticks);
        // The old estimate's bound (and the new one's) must hold the new
        // figure; otherwise one of them is wrong and neither is trusted
        // yet: the interval restarts, with the old estimate's bound
        // doubled, so a boot estimate worse than it claimed is replaced
        // by a later refinement that agrees within the wider bound.
        let err = self.err_ppm + self.interval_err_ppm();
        if u128::from(hz.abs_diff(self.hz)) * 1_000_000 > u128::from(self.hz) * u128::from(err) {
            return self.disagreed(s);
        }
        self.hz = hz;
        self.err_ppm = self.interval_err_ppm();
        self.done += 1;
        Outcome::Refined(hz)
    }

    /// The relative error (ppm) of a frequency measured over the interval:
    /// the reading jitter at both ends.
    fn interval_err_ppm(&self) -> u64 {
        (2 * READ_TICKS * 1_000_000).div_ceil(self.pit_ticks.max(1))
    }

    /// The PIT disagreed with the estimate beyond its bound: restart with
    /// the bound doubled (up to [`MAX_ERR_PPM`]).
    fn disagreed(&mut self, s: Sample) -> Outcome {
        self.err_ppm = (self.err_ppm * 2).min(MAX_ERR_PPM);
        self.restart(s)
    }

    fn restart(&mut self, s: Sample) -> Outcome {
        self.first = s;
        self.last = s;
        self.pit_ticks = 0;
        Outcome::Restarted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A machine whose TSC runs at `hz`: the sample at nanosecond `ns`.
    fn at(hz: u64, ns: u64) -> Sample {
        let tsc = (u128::from(hz) * u128::from(ns) / 1_000_000_000) as u64 + 1_000_000;
        let pit_ticks = (u128::from(PIT_HZ) * u128::from(ns) / 1_000_000_000) as u64;
        Sample { tsc, pit: (0u64.wrapping_sub(pit_ticks) & 0xFFFF) as u16 }
    }

    fn booted(hz: u64, guess: u64) -> Refiner {
        Refiner::new(at(hz, 0), at(hz, 3_000_000), guess, BOOT_ERR_PPM)
    }

    #[test]
    fn the_pit_count_is_read_modulo_one_wrap() {
        assert_eq!(pit_elapsed(1000, 400), 600);
        assert_eq!(pit_elapsed(10, 65_530), 16);
        assert_eq!(pit_elapsed(0, 0), 0);
    }

    #[test]
    fn a_coarse_boot_estimate_is_refined_to_the_true_frequency_across_many_wraps() {
        let hz = 2_893_427_111;
        // The boot windows guessed 0.5 % high.
        let mut r = booted(hz, hz + hz / 200);
        assert!(at(hz, 63_000_000).tsc < r.due_tsc());
        // Samples every ~10 ms count, then the first refinement (64 ms, past one wrap).
        let mut ns = 3_000_000;
        while at(hz, ns).tsc < r.due_tsc() {
            assert_eq!(r.sample(at(hz, ns)), Outcome::Counted);
            ns += 9_700_000;
        }
        let Outcome::Refined(first) = r.sample(at(hz, ns)) else { panic!("no refinement at {ns} ns") };
        assert!(first.abs_diff(hz) * 100_000 < hz, "{first} within 10 ppm of {hz}");
        // The next point is 256 ms: one sample, four wraps later, is enough.
        let Outcome::Refined(second) = r.sample(at(hz, 260_000_000)) else { panic!("no second refinement") };
        assert!(second.abs_diff(hz) * 1_000_000 < hz * 3, "{second} within 3 ppm of {hz}");
        // Then 1 s, 4 s, and every 16 s after.
        for (ns, ms) in [(1_100_000_000, 4_096), (4_200_000_000, 20_480), (20_500_000_000, 36_864)] {
            assert!(matches!(r.sample(at(hz, ns)), Outcome::Refined(_)));
            assert_eq!(r.next_ms(), ms);
        }
        assert!(r.hz().abs_diff(hz) * 10_000_000 < hz, "within 0.1 ppm after 20 s");
    }

    #[test]
    fn a_sample_too_late_to_count_the_wraps_restarts_the_interval() {
        let hz = 1_000_000_000;
        let mut r = booted(hz, hz);
        // 2 % of 10 s is 0.2 s, several wraps: ambiguous.
        assert_eq!(r.sample(at(hz, 10_000_000_000)), Outcome::Restarted);
        // The interval runs from there: its next sample counts again.
        assert_eq!(r.sample(at(hz, 10_020_000_000)), Outcome::Counted);
        let Outcome::Refined(f) = r.sample(at(hz, 10_100_000_000)) else { panic!("refines from the restart") };
        assert!(f.abs_diff(hz) * 10_000 < hz);
    }

    #[test]
    fn a_count_that_contradicts_the_estimate_is_not_taken() {
        let hz = 1_000_000_000;
        let mut r = booted(hz, hz);
        let mut s = at(hz, 20_000_000);
        // The PIT read a quarter wrap off what 20 ms predicts (a stopped or
        // misread counter).
        s.pit = s.pit.wrapping_add(16_384);
        assert_eq!(r.sample(s), Outcome::Restarted);
    }

    #[test]
    fn a_boot_estimate_outside_its_own_error_bound_is_replaced_once_the_bound_has_widened() {
        let hz = 1_000_000_000;
        // 5 % off, beyond the 2 % it claims: the refinement disagrees and
        // restarts, keeping the estimate, with the bound widened to 4 %.
        let mut r = booted(hz, hz + hz / 20);
        assert_eq!(r.sample(at(hz, 70_000_000)), Outcome::Restarted);
        assert_eq!(r.hz(), hz + hz / 20);
        // Still outside 4 %: restarts again (8 %).
        assert_eq!(r.sample(at(hz, 140_000_000)), Outcome::Restarted);
        // Within 8 %: replaced by the measured frequency.
        let Outcome::Refined(f) = r.sample(at(hz, 210_000_000)) else { panic!("not refined") };
        assert!(f.abs_diff(hz) * 100_000 < hz, "{f}");
        // A wrong estimate never widens the bound past 10 %.
        let mut r = booted(hz, hz * 2);
        for k in 1..20 {
            assert_eq!(r.sample(at(hz, k * 70_000_000)), Outcome::Restarted);
        }
        assert_eq!(r.hz(), hz * 2);
    }

    proptest! {
        /// Whatever the frequency, the boot error within its bound and
        /// the spacing of samples (up to 0.5 s), the refinement lands
        /// within 20 ppm of the true frequency at its first point.
        #[test]
        fn refinement_finds_the_frequency(
            hz in 500_000_000u64..6_000_000_000,
            err in -15_000i64..15_000,
            step_ms in 1u64..500,
        ) {
            let guess = (hz as i128 + hz as i128 * i128::from(err) / 1_000_000) as u64;
            let mut r = booted(hz, guess);
            let mut ns = 3_000_000u64;
            loop {
                ns += step_ms * 1_000_000;
                match r.sample(at(hz, ns)) {
                    Outcome::Counted => continue,
                    Outcome::Refined(f) => {
                        prop_assert!(f.abs_diff(hz) * 50_000 < hz, "{} vs {}", f, hz);
                        break;
                    }
                    Outcome::Restarted => prop_assert!(false, "restarted at {} ns", ns),
                }
            }
        }
    }
}
