//! The plain-TCG view over several alternating rounds. Plain-TCG ticks are
//! host time, and one run's figures follow the host's state: the same
//! binary's `MMUEXT_TLB_FLUSH_LOCAL` median was 24.8 K ticks in one run
//! and 45.2 K in the next, on both hypervisors alike. `xen-bench` therefore
//! boots xen-core and Xen in turn for a few rounds, so both meet the same
//! spells of the host, and each row keeps its lowest median: the figure
//! least disturbed by the host, as a benchmark's best-of-N does.

use super::{Figures, Outcome, Run};

/// One run per round folded into one: for each row the lowest median of
/// the rounds that measured it, with the smallest minimum and the largest
/// maximum over all of them. A row no round measured keeps the first
/// round's outcome; the rest (verdict, boot stamps) are the first round's.
/// `None` for no rounds.
pub fn best_of(rounds: &[Run]) -> Option<Run> {
    let mut best = rounds.first()?.clone();
    for (key, outcome) in &mut best.rows {
        let measured = rounds.iter().filter_map(|r| match r.get(key) {
            Some(Outcome::Measured(f)) => Some(*f),
            _ => None,
        });
        let folded = measured.reduce(|a, b| Figures {
            median: a.median.min(b.median),
            min: a.min.min(b.min),
            max: a.max.max(b.max),
        });
        if let Some(f) = folded {
            *outcome = Outcome::Measured(f);
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(&str, Outcome)]) -> Run {
        Run { rows: rows.iter().map(|(k, o)| (k.to_string(), o.clone())).collect(), ..Run::default() }
    }

    fn m(median: u64, min: u64, max: u64) -> Outcome {
        Outcome::Measured(Figures { median, min, max })
    }

    #[test]
    fn each_row_keeps_its_lowest_median_with_the_widest_range() {
        let a = run(&[("flush", m(45_000, 40_000, 99_000)), ("uvm", m(3_000, 2_900, 9_000))]);
        let b = run(&[("flush", m(25_000, 24_500, 130_000)), ("uvm", m(3_100, 2_800, 8_000))]);
        let best = best_of(&[a, b]).unwrap();
        assert_eq!(best.get("flush"), Some(&m(25_000, 24_500, 130_000)));
        assert_eq!(best.get("uvm"), Some(&m(3_000, 2_800, 9_000)));
    }

    #[test]
    fn a_row_some_round_could_not_measure_takes_the_rounds_that_did() {
        let a = run(&[("flush", Outcome::Error(-22))]);
        let b = run(&[("flush", m(30_000, 29_000, 31_000))]);
        assert_eq!(best_of(&[a, b]).unwrap().get("flush"), Some(&m(30_000, 29_000, 31_000)));
        let c = run(&[("x", Outcome::NotAvailable("ENOSYS".into()))]);
        assert_eq!(best_of(&[c.clone(), c]).unwrap().get("x"), Some(&Outcome::NotAvailable("ENOSYS".into())));
    }

    #[test]
    fn no_rounds_give_no_run() {
        assert_eq!(best_of(&[]), None);
    }
}
