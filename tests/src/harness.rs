//! Booting xen-core under QEMU (directly by default, or from a GRUB ISO) with
//! per-phase timeouts and deciding a verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xen_tools::iso::{IsoSpec, ModuleSpec};
use xen_tools::keys::KeysOn;
use xen_tools::qemu::{decode_exit, BootPath, ExitKind, QemuConfig};
use xen_tools::verdict::{judge, parse_results, GuestResult, GuestsVerdict};

/// The phase a run was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the hypervisor banner.
    Banner,
    /// Waiting for guest `n` to start.
    GuestStart(usize),
    /// Waiting for the run's milestone `n` ([`Run::milestones`]).
    Milestone(usize),
    /// Waiting for QEMU to exit.
    Result,
}

/// Timeout for each phase.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// Until the banner.
    pub banner: Duration,
    /// From one milestone to each guest's start.
    pub guest_start: Duration,
    /// From the last milestone to QEMU's exit.
    pub result: Duration,
    /// The whole run, whatever the phases allow: past it the run times out
    /// in the phase it is in.
    pub total: Duration,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            banner: Duration::from_secs(30),
            guest_start: Duration::from_secs(30),
            result: Duration::from_secs(90),
            total: Duration::from_secs(600),
        }
    }
}

/// The harness's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The hypervisor exited with success and every guest reported SUCCESS
    /// (or SKIP, with [`Run::allow_skip`]).
    Pass,
    /// The hypervisor reported failure, or a guest reported ERROR/FAILURE
    /// (or a SKIP that was not allowed).
    Failure(String),
    /// The machine reset, QEMU died, or a guest printed no result line.
    Crash(String),
    /// A phase timed out.
    Timeout(Phase),
    /// QEMU or the harness itself failed (QEMU status 1, ISO build error).
    HarnessError(String),
}

/// One boot to run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Test name; names the work directory.
    pub name: String,
    /// Hypervisor ELF.
    pub hypervisor: PathBuf,
    /// Hypervisor command line.
    pub cmdline: String,
    /// Modules.
    pub modules: Vec<ModuleSpec>,
    /// How many guests must start and report a result.
    pub expected_guests: usize,
    /// Whether a guest's `Test result: SKIP` counts as a pass.
    pub allow_skip: bool,
    /// RAM in MiB.
    pub memory_mib: u32,
    /// Phase timeouts.
    pub phases: Phases,
    /// Extra QEMU arguments.
    pub qemu_extra: Vec<String>,
    /// QEMU's own loader (the default) or GRUB.
    pub boot: BootPath,
    /// After the last guest has started: texts that must appear in the
    /// serial log in this order, each within its timeout of the one
    /// before (a long guest boot, judged phase by phase). None by default.
    pub milestones: Vec<(String, Duration)>,
    /// Keys typed on the serial console once a text shows up in the log
    /// (`xen_tools::keys`, as `xen-run --keys-on`): a hypervisor debug key
    /// at the guest's cue. None by default.
    pub keys_on: Vec<KeysOn>,
}

/// What happened.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The verdict.
    pub verdict: Verdict,
    /// QEMU's decoded exit, if it exited by itself.
    pub exit: Option<ExitKind>,
    /// The whole serial log.
    pub serial: String,
    /// Guests' result lines.
    pub results: Vec<GuestResult>,
}

/// QEMU's loader, unless `XEN_TEST_BOOT=grub` asks for GRUB ISOs (to time
/// the two, or to run every test the way `make run` boots).
pub fn default_boot() -> BootPath {
    match std::env::var("XEN_TEST_BOOT").as_deref() {
        Ok("grub") => BootPath::Grub,
        _ => BootPath::Direct,
    }
}

/// Where `make` puts the bare-metal images.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("XEN_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/x86_64-unknown-none/release"))
}

/// The hypervisor ELF built by `make`.
pub fn hypervisor_elf() -> PathBuf {
    artifacts_dir().join("xen-core")
}

impl Run {
    /// A run of the standard hypervisor with no modules.
    pub fn new(name: &str) -> Run {
        Run {
            name: name.to_string(),
            hypervisor: hypervisor_elf(),
            cmdline: String::new(),
            modules: Vec::new(),
            expected_guests: 0,
            allow_skip: false,
            memory_mib: 256,
            phases: Phases::default(),
            qemu_extra: Vec::new(),
            boot: default_boot(),
            milestones: Vec::new(),
            keys_on: Vec::new(),
        }
    }

    fn work_dir(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-tests").join(&self.name)
    }

    /// Builds the ISO (for GRUB), boots and decides.
    pub fn boot(&self) -> RunOutcome {
        let dir = self.work_dir();
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return harness_error(format!("creating {}: {e}", dir.display()));
        }
        let iso = dir.join("boot.iso");
        let log = dir.join("serial.log");
        let spec = IsoSpec {
            hypervisor: self.hypervisor.clone(),
            cmdline: self.cmdline.clone(),
            modules: self.modules.clone(),
        };
        let mut cfg = match QemuConfig::for_spec(&spec, self.boot, &iso, &log) {
            Ok(cfg) => cfg,
            Err(e) => return harness_error(e),
        };
        cfg.memory_mib = self.memory_mib;
        cfg.extra = self.qemu_extra.clone();
        // Keys need the serial port on QEMU's stdin (a stdio chardev that
        // still logs to the file); its stdout is dropped.
        cfg.console = !self.keys_on.is_empty();
        let mut cmd = cfg.command();
        cmd.stderr(std::process::Stdio::piped());
        if cfg.console {
            cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
        }
        let mut keys_on = self.keys_on.clone();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return harness_error(format!("starting QEMU: {e}")),
        };

        let mut phase = Phase::Banner;
        let started = Instant::now();
        let mut deadline = started + self.phases.banner;
        // Where the next milestone is looked for: after the previous one.
        let mut milestone_from = 0;
        let mut keys_in = child.stdin.take();
        let after_guests = |m: usize| if m < self.milestones.len() { Phase::Milestone(m) } else { Phase::Result };
        let (exit, timed_out) = loop {
            let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
            if let Some(stdin) = keys_in.as_mut() {
                use std::io::Write as _;
                for k in keys_on.iter_mut() {
                    if let Some(keys) = k.due(&serial) {
                        let _ = stdin.write_all(keys).and_then(|()| stdin.flush());
                    }
                }
            }
            // Advance through every milestone already visible.
            loop {
                let next = match phase {
                    Phase::Banner if serial.contains("(XEN) xen-core ") => {
                        Some(if self.expected_guests > 0 { Phase::GuestStart(0) } else { after_guests(0) })
                    }
                    Phase::GuestStart(n) if serial.contains(&format!("Starting domain {n} ")) => {
                        Some(if n + 1 < self.expected_guests { Phase::GuestStart(n + 1) } else { after_guests(0) })
                    }
                    Phase::Milestone(m) => serial.get(milestone_from..).and_then(|rest| {
                        let at = rest.find(self.milestones[m].0.as_str())?;
                        milestone_from += at + self.milestones[m].0.len();
                        Some(after_guests(m + 1))
                    }),
                    _ => None,
                };
                match next {
                    Some(p) => {
                        phase = p;
                        deadline = Instant::now()
                            + match p {
                                Phase::Result => self.phases.result,
                                Phase::Milestone(m) => self.milestones[m].1,
                                _ => self.phases.guest_start,
                            };
                    }
                    None => break,
                }
            }
            match child.try_wait() {
                Ok(Some(status)) => break (Some(decode_exit(status)), None),
                Ok(None) if Instant::now() > deadline.min(started + self.phases.total) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (None, Some(phase));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(25)),
                Err(e) => return harness_error(format!("waiting for QEMU: {e}")),
            }
        };
        let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        let results = parse_results(&serial);
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        let verdict = decide(exit, timed_out, &results, self.expected_guests, self.allow_skip, &stderr);
        RunOutcome { verdict, exit, serial, results }
    }
}

fn harness_error(msg: String) -> RunOutcome {
    RunOutcome { verdict: Verdict::HarnessError(msg), exit: None, serial: String::new(), results: Vec::new() }
}

/// The verdict rules, separate from QEMU so they can be unit-tested. The
/// guests' part is `xen_tools::verdict::judge`, shared with `xen-run --verdicts`.
pub fn decide(
    exit: Option<ExitKind>,
    timed_out: Option<Phase>,
    results: &[GuestResult],
    expected_guests: usize,
    allow_skip: bool,
    qemu_stderr: &str,
) -> Verdict {
    if let Some(phase) = timed_out {
        return Verdict::Timeout(phase);
    }
    match exit {
        Some(ExitKind::Success) => {}
        Some(ExitKind::Failure) => return Verdict::Failure("the hypervisor reported failure (0x20)".into()),
        Some(ExitKind::HarnessError) => {
            return Verdict::HarnessError(format!("QEMU exited with status 1: {}", qemu_stderr.trim()))
        }
        Some(ExitKind::Reset) => return Verdict::Crash("the machine reset (triple fault?) with no verdict".into()),
        Some(ExitKind::Other(c)) => return Verdict::Crash(format!("QEMU exited with unexpected status {c}")),
        Some(ExitKind::Killed) | None => return Verdict::Crash("QEMU was killed".into()),
    }
    match judge(results, expected_guests, allow_skip) {
        GuestsVerdict::Pass => Verdict::Pass,
        GuestsVerdict::Missing(why) => Verdict::Crash(why),
        GuestsVerdict::Failure(why) => Verdict::Failure(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_tools::verdict::TestResult;

    fn r(result: TestResult) -> GuestResult {
        GuestResult { domain: None, result }
    }

    #[test]
    fn success_exit_with_every_guest_passing_is_a_pass() {
        let v = decide(Some(ExitKind::Success), None, &[r(TestResult::Success), r(TestResult::Success)], 2, false, "");
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn a_skipping_guest_fails_the_run_unless_skips_are_allowed() {
        let results = [r(TestResult::Success), r(TestResult::Skip)];
        assert!(matches!(decide(Some(ExitKind::Success), None, &results, 2, false, ""), Verdict::Failure(_)));
        assert_eq!(decide(Some(ExitKind::Success), None, &results, 2, true, ""), Verdict::Pass);
    }

    #[test]
    fn a_missing_result_line_is_a_crash_even_with_a_success_exit() {
        assert!(matches!(
            decide(Some(ExitKind::Success), None, &[r(TestResult::Success)], 2, false, ""),
            Verdict::Crash(_)
        ));
    }

    #[test]
    fn the_most_severe_guest_result_wins() {
        let v = decide(Some(ExitKind::Success), None, &[r(TestResult::Success), r(TestResult::Failure)], 2, false, "");
        assert!(matches!(v, Verdict::Failure(_)));
    }

    #[test]
    fn qemu_status_1_is_a_harness_error_never_a_pass() {
        assert!(matches!(decide(Some(ExitKind::HarnessError), None, &[], 0, false, "bad"), Verdict::HarnessError(_)));
    }

    #[test]
    fn reset_and_timeouts_are_not_passes() {
        assert!(matches!(decide(Some(ExitKind::Reset), None, &[], 0, false, ""), Verdict::Crash(_)));
        assert_eq!(decide(None, Some(Phase::Banner), &[], 0, false, ""), Verdict::Timeout(Phase::Banner));
        assert!(matches!(decide(Some(ExitKind::Failure), None, &[], 0, false, ""), Verdict::Failure(_)));
    }
}
