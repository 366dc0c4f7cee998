//! `make bench`: reading the bench guest's console lines (tests/bench), the
//! catalogue of operations with their targets, the side-by-side table, the
//! saved JSON and the comparison with an earlier run. Pure: `xen-bench`
//! runs QEMU and hands the logs here.

pub mod catalogue;
pub mod compare;
pub mod json;
pub mod rounds;
pub mod table;

/// One operation's figures on one run (per PTE, page or entry where the
/// row says so; the empty region's cost already subtracted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figures {
    /// Median sample.
    pub median: u64,
    /// Smallest sample.
    pub min: u64,
    /// Largest sample.
    pub max: u64,
}

/// What a run printed for one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Measured.
    Measured(Figures),
    /// Not available there (`-ENOSYS`, or a xen-core extension on Xen).
    NotAvailable(String),
    /// The operation failed with this return value.
    Error(i64),
}

/// Everything one run of the bench guest printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// `xen-core` or `xen`, as the guest saw it.
    pub platform: String,
    /// The empty region's cost (median).
    pub overhead: Option<u64>,
    /// Rows in the order printed.
    pub rows: Vec<(String, Outcome)>,
    /// TSC at the guest's first instruction and at its verdict.
    pub guest_entry: Option<u64>,
    /// TSC when the guest printed its results.
    pub guest_end: Option<u64>,
    /// TSC at the hypervisor's own entry, where it logs one (xen-core's
    /// `Boot: TSC N at ...` line).
    pub hv_entry: Option<u64>,
    /// The guest's `Test result:` word.
    pub verdict: Option<String>,
}

impl Run {
    /// The outcome printed for `key`.
    pub fn get(&self, key: &str) -> Option<&Outcome> {
        self.rows.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }

    /// The median printed for `key`, if it was measured.
    pub fn median(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Outcome::Measured(f) => Some(f.median),
            _ => None,
        }
    }
}

/// `key=value` fields of a line after its tag.
fn fields(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    rest.split_whitespace().filter_map(|w| w.split_once('='))
}

fn field<T: std::str::FromStr>(rest: &str, name: &str) -> Option<T> {
    fields(rest).find(|(k, _)| *k == name).and_then(|(_, v)| v.parse().ok())
}

/// Reads a serial log. Lines may carry any console prefix (`(d0) ` on
/// xen-core, none for Xen's dom0); the tags are found anywhere in a line.
pub fn parse_run(log: &str) -> Run {
    let mut run = Run::default();
    for line in log.lines() {
        let line = line.trim_end_matches('\r');
        if let Some((_, rest)) = line.split_once("bench-row ") {
            let Some(key) = field::<String>(rest, "key") else { continue };
            let outcome = if let Some(why) = field::<String>(rest, "n/a") {
                Outcome::NotAvailable(why)
            } else if let Some(rc) = field(rest, "error") {
                Outcome::Error(rc)
            } else {
                match (field(rest, "median"), field(rest, "min"), field(rest, "max")) {
                    (Some(median), Some(min), Some(max)) => Outcome::Measured(Figures { median, min, max }),
                    _ => continue,
                }
            };
            run.rows.push((key, outcome));
        } else if let Some((_, rest)) = line.split_once("bench-start ") {
            run.platform = field(rest, "platform").unwrap_or_default();
            run.overhead = field(rest, "overhead");
        } else if let Some((_, rest)) = line.split_once("bench-boot ") {
            run.guest_entry = field(rest, "entry");
            run.guest_end = field(rest, "end");
        } else if let Some((_, rest)) = line.split_once("Boot: TSC ") {
            run.hv_entry = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        } else if let Some((_, rest)) = line.split_once("Test result: ") {
            run.verdict = Some(rest.trim().to_string());
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    const XEN_CORE_LOG: &str = "\
(XEN) Boot: TSC 132000000 at the hypervisor's Rust entry
(d0) bench-start platform=xen-core iterations=101 overhead=7 overhead_min=7 overhead_max=7
(d0) bench-row key=xen_version median=141 min=140 max=150 n=101 per=1
(d0) bench-row key=mmu_update_512 median=469 min=469 max=470 n=101 per=512
(d0) bench-row key=grant_copy n/a=-ENOSYS
(d0) bench-row key=multicall_2 error=-22
(d0) bench-row key=broken median=12
(d0) bench-boot entry=164468029 end=276301273
(d0) Test result: SUCCESS
";

    #[test]
    fn rows_are_read_with_their_prefix_and_order() {
        let run = parse_run(XEN_CORE_LOG);
        assert_eq!(run.platform, "xen-core");
        assert_eq!(run.overhead, Some(7));
        let keys: Vec<&str> = run.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["xen_version", "mmu_update_512", "grant_copy", "multicall_2"]);
        assert_eq!(run.get("xen_version"), Some(&Outcome::Measured(Figures { median: 141, min: 140, max: 150 })));
        assert_eq!(run.median("mmu_update_512"), Some(469));
    }

    #[test]
    fn unavailable_and_failed_rows_keep_their_reason() {
        let run = parse_run(XEN_CORE_LOG);
        assert_eq!(run.get("grant_copy"), Some(&Outcome::NotAvailable("-ENOSYS".into())));
        assert_eq!(run.get("multicall_2"), Some(&Outcome::Error(-22)));
        assert_eq!(run.median("grant_copy"), None);
    }

    #[test]
    fn boot_figures_and_verdict_are_read() {
        let run = parse_run(XEN_CORE_LOG);
        assert_eq!(run.hv_entry, Some(132_000_000));
        assert_eq!(run.guest_entry, Some(164_468_029));
        assert_eq!(run.guest_end, Some(276_301_273));
        assert_eq!(run.verdict.as_deref(), Some("SUCCESS"));
    }

    #[test]
    fn xen_dom0_lines_without_prefix_are_read() {
        let run =
            parse_run("bench-start platform=xen overhead=7\nbench-row key=xen_version median=276 min=276 max=276\n");
        assert_eq!(run.platform, "xen");
        assert_eq!(run.median("xen_version"), Some(276));
        assert_eq!(run.hv_entry, None);
    }
}
