//! The hypervisor command line.
//!
//! Options are whitespace-separated `key=value` pairs or bare flags:
//!
//! | option | meaning |
//! |---|---|
//! | `loglvl=none\|error\|warning\|info\|debug\|all` | console log level (default `info`); `debug` adds one rate-limited line per refused hypercall naming its rule (`mm::refusal`) |
//! | `no-debug-exit` | never write QEMU's isa-debug-exit port; halt instead |
//! | `exit-success=poweroff\|always` | exit QEMU with success only if every domain powered off (default), or whatever they did; a refused module always fails the run |
//! | `selftest=panic\|triple-fault\|page-fault\|write-text` | deliberately fail after boot, so the test harness can prove it detects failures |
//! | `svm-probe` | after boot, run the two SVM probe guests (`hvm::probe_guest`) under nested paging and log their exits; needs SVM with NPT |
//! | `check=N` | debugging: run the memory model's invariant checker every N SYSCALL hypercalls and after every teardown; a violation crashes the calling domain and fails the run, and frames not returned at the end fail it too |
//!
//! Unknown options are reported, not fatal.

use crate::util::FixedVec;

/// Console log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Nothing but the banner and fatal errors.
    None,
    /// Errors.
    Error,
    /// Warnings and errors.
    Warning,
    /// Informational messages (default).
    #[default]
    Info,
    /// Debugging detail.
    Debug,
    /// Everything.
    All,
}

/// A deliberate failure, used by the test harness to prove it can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// Rust panic.
    Panic,
    /// Load an empty IDT and raise an exception: the CPU triple-faults.
    TripleFault,
    /// Read an unmapped address: the exception dump must show #PF and CR2.
    PageFault,
    /// Write to the hypervisor's own text: W^X must turn it into a #PF.
    WriteText,
}

/// Options parsed from the hypervisor command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvOptions {
    /// Console log level.
    pub log_level: LogLevel,
    /// Whether to end QEMU through isa-debug-exit (port 0xf4).
    pub debug_exit: bool,
    /// A deliberate failure to provoke after boot.
    pub selftest: Option<SelfTest>,
    /// Exit with success only if every domain powered off (default); with
    /// `exit-success=always`, any ending counts as success.
    pub require_poweroff: bool,
    /// Run the invariant checker every this many hypercalls (0: never).
    pub check_every: u64,
    /// Run the SVM probe guests after boot.
    pub svm_probe: bool,
}

impl Default for HvOptions {
    fn default() -> Self {
        HvOptions {
            log_level: LogLevel::Info,
            debug_exit: true,
            selftest: None,
            require_poweroff: true,
            check_every: 0,
            svm_probe: false,
        }
    }
}

/// Tokens that were not understood, kept for a warning.
pub type Unknown<'a> = FixedVec<&'a str, 8>;

impl HvOptions {
    /// Parses `cmdline`; unknown or malformed tokens are returned separately.
    pub fn parse(cmdline: &str) -> (HvOptions, Unknown<'_>) {
        let mut opts = HvOptions::default();
        let mut unknown = Unknown::new();
        for token in cmdline.split_ascii_whitespace() {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            let ok = match key {
                "loglvl" => parse_level(value).map(|l| opts.log_level = l).is_some(),
                "no-debug-exit" if value.is_empty() => {
                    opts.debug_exit = false;
                    true
                }
                "svm-probe" if value.is_empty() => {
                    opts.svm_probe = true;
                    true
                }
                "selftest" => parse_selftest(value).map(|s| opts.selftest = Some(s)).is_some(),
                "check" => value.parse::<u64>().ok().filter(|&n| n > 0).map(|n| opts.check_every = n).is_some(),
                "exit-success" => match value {
                    "poweroff" => {
                        opts.require_poweroff = true;
                        true
                    }
                    "always" => {
                        opts.require_poweroff = false;
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if !ok {
                let _ = unknown.push(token);
            }
        }
        (opts, unknown)
    }
}

fn parse_level(value: &str) -> Option<LogLevel> {
    Some(match value {
        "none" => LogLevel::None,
        "error" => LogLevel::Error,
        "warning" | "warn" => LogLevel::Warning,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "all" | "trace" => LogLevel::All,
        _ => return None,
    })
}

fn parse_selftest(value: &str) -> Option<SelfTest> {
    Some(match value {
        "panic" => SelfTest::Panic,
        "triple-fault" => SelfTest::TripleFault,
        "page-fault" => SelfTest::PageFault,
        "write-text" => SelfTest::WriteText,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_command_line_gives_defaults() {
        let (o, u) = HvOptions::parse("");
        assert_eq!(o, HvOptions::default());
        assert!(u.is_empty());
    }

    #[test]
    fn svm_probe_is_a_bare_flag() {
        assert!(HvOptions::parse("svm-probe").0.svm_probe);
        let (o, u) = HvOptions::parse("svm-probe=1");
        assert!(!o.svm_probe);
        assert_eq!(u.as_slice(), &["svm-probe=1"]);
    }

    #[test]
    fn check_takes_a_positive_period() {
        assert_eq!(HvOptions::parse("check=100").0.check_every, 100);
        let (o, u) = HvOptions::parse("check=0 check=x check");
        assert_eq!(o.check_every, 0);
        assert_eq!(u.as_slice(), &["check=0", "check=x", "check"]);
    }

    #[test]
    fn known_options_are_applied_and_unknown_ones_reported() {
        let (o, u) = HvOptions::parse("  loglvl=debug selftest=page-fault bogus no-debug-exit loglvl=loud ");
        assert_eq!(o.log_level, LogLevel::Debug);
        assert_eq!(o.selftest, Some(SelfTest::PageFault));
        assert!(!o.debug_exit);
        assert_eq!(u.as_slice(), &["bogus", "loglvl=loud"]);
    }
}
