//! Guests' verdicts: reading `Test result:` lines from a serial log and
//! deciding whether every domain passed.
//!
//! A guest prints exactly one final line, `Test result: SUCCESS|SKIP|ERROR|FAILURE`
//! (XTF's convention); the most severe outcome wins. QEMU's exit status alone
//! is not enough: a guest that reports FAILURE and then powers off ends the
//! run with the hypervisor's success status. `xen-run --verdicts`, the QEMU
//! test harness and `xen-compare` all decide with [`judge`].

use crate::qemu::ExitKind;
use std::collections::BTreeSet;

/// A guest's final verdict line, in increasing severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TestResult {
    /// The guest's tests passed.
    Success,
    /// The guest's tests could not run here.
    Skip,
    /// The guest hit an error in its own setup.
    Error,
    /// The guest's tests failed.
    Failure,
}

/// One `Test result:` line and the domain that printed it, if the line
/// carried a `(dN)` console prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestResult {
    /// Domain id from the console prefix.
    pub domain: Option<u16>,
    /// The verdict.
    pub result: TestResult,
}

/// Extracts every `Test result:` line. Lines may carry a `(dN) ` or
/// `(XEN) ` prefix; an unknown verdict word is ignored.
pub fn parse_results(serial: &str) -> Vec<GuestResult> {
    serial
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let (domain, rest) = match line.strip_prefix("(d").and_then(|r| r.split_once(") ")) {
                Some((n, rest)) => (n.parse().ok(), rest),
                None => (None, line.strip_prefix("(XEN) ").unwrap_or(line)),
            };
            let result = match rest.strip_prefix("Test result: ")?.trim() {
                "SUCCESS" => TestResult::Success,
                "SKIP" => TestResult::Skip,
                "ERROR" => TestResult::Error,
                "FAILURE" => TestResult::Failure,
                _ => return None,
            };
            Some(GuestResult { domain, result })
        })
        .collect()
}

/// Why the guests did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestsVerdict {
    /// Every expected guest printed SUCCESS (or SKIP, where allowed).
    Pass,
    /// Fewer result lines than guests: some guest ended without a verdict
    /// (XTF calls this CRASH).
    Missing(String),
    /// A guest reported ERROR, FAILURE or a disallowed SKIP, or the lines do
    /// not add up to one per guest.
    Failure(String),
}

/// Decides whether `expected` guests all passed, from their result lines.
/// Each guest must print exactly one line; a domain printing two is a
/// failure even when the total is right. SKIP passes only with `allow_skip`.
pub fn judge(results: &[GuestResult], expected: usize, allow_skip: bool) -> GuestsVerdict {
    if results.len() < expected {
        let missing = expected - results.len();
        return GuestsVerdict::Missing(format!("{missing} of {expected} guests printed no `Test result:` line"));
    }
    if results.len() > expected {
        return GuestsVerdict::Failure(format!("{} result lines for {expected} guests", results.len()));
    }
    let mut seen = BTreeSet::new();
    if let Some(d) = results.iter().filter_map(|r| r.domain).find(|&d| !seen.insert(d)) {
        return GuestsVerdict::Failure(format!("domain {d} printed more than one `Test result:` line"));
    }
    match results.iter().map(|r| r.result).max() {
        Some(TestResult::Failure) => GuestsVerdict::Failure("a guest reported FAILURE".into()),
        Some(TestResult::Error) => GuestsVerdict::Failure("a guest reported ERROR".into()),
        Some(TestResult::Skip) if !allow_skip => {
            GuestsVerdict::Failure("a guest reported SKIP (pass --allow-skip to accept it)".into())
        }
        _ => GuestsVerdict::Pass,
    }
}

/// `xen-run`'s exit status: 0 for a pass, 1 for a reported failure (the
/// hypervisor's or, with verdicts checked, a guest's), 2 for anything else
/// (a crash, a reset, a guest that never printed its verdict, QEMU itself).
/// `guests` is `None` when the guests' verdicts are not checked.
pub fn exit_status(exit: ExitKind, guests: Option<&GuestsVerdict>) -> u8 {
    match (exit, guests) {
        (ExitKind::Success, None | Some(GuestsVerdict::Pass)) => 0,
        (ExitKind::Success, Some(GuestsVerdict::Failure(_))) | (ExitKind::Failure, _) => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(domain: u16, result: TestResult) -> GuestResult {
        GuestResult { domain: Some(domain), result }
    }

    #[test]
    fn result_lines_are_found_with_and_without_domain_prefixes() {
        let log = "(XEN) banner\n(d0) Test result: SUCCESS\r\nTest result: FAILURE\n(d12) Test result: SKIP\n(d1) Test result: MAYBE\nnoise Test result: ERROR\n";
        let r = parse_results(log);
        assert_eq!(
            r,
            vec![
                GuestResult { domain: Some(0), result: TestResult::Success },
                GuestResult { domain: None, result: TestResult::Failure },
                GuestResult { domain: Some(12), result: TestResult::Skip },
            ]
        );
    }

    #[test]
    fn no_result_line_gives_nothing() {
        assert!(parse_results("(XEN) xen-core 0.1.0\n").is_empty());
    }

    #[test]
    fn every_guest_reporting_success_passes() {
        assert_eq!(judge(&[r(0, TestResult::Success), r(1, TestResult::Success)], 2, false), GuestsVerdict::Pass);
        assert_eq!(judge(&[], 0, false), GuestsVerdict::Pass);
    }

    #[test]
    fn failure_or_error_fails_even_beside_successes() {
        let fail = [r(0, TestResult::Success), r(1, TestResult::Failure)];
        assert!(matches!(judge(&fail, 2, true), GuestsVerdict::Failure(m) if m.contains("FAILURE")));
        let error = [r(0, TestResult::Error), r(1, TestResult::Success)];
        assert!(matches!(judge(&error, 2, true), GuestsVerdict::Failure(m) if m.contains("ERROR")));
    }

    #[test]
    fn the_most_severe_result_wins() {
        let both = [r(0, TestResult::Error), r(1, TestResult::Failure), r(2, TestResult::Skip)];
        assert!(matches!(judge(&both, 3, true), GuestsVerdict::Failure(m) if m.contains("FAILURE")));
    }

    #[test]
    fn skip_passes_only_when_allowed() {
        let skip = [r(0, TestResult::Success), r(1, TestResult::Skip)];
        assert!(matches!(judge(&skip, 2, false), GuestsVerdict::Failure(m) if m.contains("SKIP")));
        assert_eq!(judge(&skip, 2, true), GuestsVerdict::Pass);
    }

    #[test]
    fn a_guest_without_a_result_line_is_missing_not_a_pass() {
        assert!(matches!(judge(&[r(0, TestResult::Success)], 2, true), GuestsVerdict::Missing(_)));
        assert!(matches!(judge(&[], 1, true), GuestsVerdict::Missing(_)));
    }

    #[test]
    fn one_domain_printing_two_lines_does_not_stand_in_for_another() {
        let twice = [r(0, TestResult::Success), r(0, TestResult::Success)];
        assert!(matches!(judge(&twice, 2, false), GuestsVerdict::Failure(m) if m.contains("domain 0")));
        let extra = [r(0, TestResult::Success), r(1, TestResult::Success)];
        assert!(matches!(judge(&extra, 1, false), GuestsVerdict::Failure(_)));
    }

    #[test]
    fn run_status_is_0_only_for_a_success_exit_whose_checked_guests_passed() {
        let fail = GuestsVerdict::Failure("a guest reported FAILURE".into());
        let missing = GuestsVerdict::Missing("1 of 1".into());
        assert_eq!(exit_status(ExitKind::Success, None), 0);
        assert_eq!(exit_status(ExitKind::Success, Some(&GuestsVerdict::Pass)), 0);
        assert_eq!(exit_status(ExitKind::Success, Some(&fail)), 1);
        assert_eq!(exit_status(ExitKind::Success, Some(&missing)), 2);
        assert_eq!(exit_status(ExitKind::Failure, Some(&GuestsVerdict::Pass)), 1);
        assert_eq!(exit_status(ExitKind::Reset, Some(&GuestsVerdict::Pass)), 2);
        assert_eq!(exit_status(ExitKind::HarnessError, None), 2);
    }
}
