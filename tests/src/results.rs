//! Parsing guests' `Test result:` lines from the serial log.

/// A guest's final verdict line.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
