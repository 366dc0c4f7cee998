//! QEMU tests of event channels between domains and of the hypervisor
//! timer: the demo's ping-pong and ticks are in `guests.rs`; here
//! `VIRQ_DOM_EXC` reaching domain 0 when another domain ends, and guest
//! timers waking a blocked domain with the APIC timer in either mode.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn guest(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

#[test]
fn domain_0_gets_virq_dom_exc_when_another_domain_shuts_down() {
    let mut run = Run::new("virq_dom_exc");
    run.modules = vec![guest("name=waiter mem=16M wait-dom-exc"), guest("name=quick mem=16M")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let bound = out.serial.find("(d0) evtchn: VIRQ_DOM_EXC bound to port 1").expect("bound");
    let ended = out.serial.find("(XEN) domain 1 (quick) shut down: poweroff").expect("domain 1 ended");
    let got = out.serial.find("(d0) evtchn: VIRQ_DOM_EXC received on port 1").expect("domain 0 was told");
    assert!(bound < ended && ended < got, "{}", out.serial);
}

/// The count before `after` in `line` (`"... 5 timer ticks ..."`).
fn count_before(line: &str, after: &str) -> u32 {
    let head = &line[..line.find(after).unwrap_or_else(|| panic!("{line:?} lacks {after:?}"))];
    head.rsplit(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).and_then(|w| w.parse().ok()).expect("a count")
}

/// (QEMU's TCG offers no TSC-deadline timer, even with `-cpu
/// max,+tsc-deadline`, so under QEMU this is the APIC's one-shot count;
/// the TSC-deadline path is the same programming through MSR 0x6E0.)
#[test]
fn guest_timers_wake_a_blocked_domain_through_the_tickless_apic_timer() {
    let mut run = Run::new("timer_wakes_blocked");
    run.modules = vec![guest("name=sleeper mem=16M idle=5")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let timer = out.serial.lines().find(|l| l.starts_with("(XEN) time: TSC")).expect("the timer line");
    assert!(timer.contains("one-shot mode") || timer.contains("TSC-deadline mode"), "{timer}");
    let idle = out
        .serial
        .lines()
        .find(|l| l.starts_with("(d0) guest-kernel: step 5b: idled 5 x 10 ms in SCHEDOP_block"))
        .unwrap_or_else(|| panic!("no idle step:\n{}", out.serial));
    assert!(count_before(idle, " timer ticks on VIRQ_TIMER") >= 5, "each sleep ended by its tick: {idle}");
}

/// The boot calibration is one 1 ms window, refined against the
/// free-running PIT while guests run: a domain that reads its
/// vcpu_time_info without pause until 1.1 s of system time (past the
/// 256 ms and 1,024 ms refinement points) sees the new scales and never
/// sees time go back or jump.
#[test]
fn system_time_stays_monotonic_across_the_tsc_refinements() {
    let mut run = Run::new("time_refined");
    run.modules = vec![guest("name=reader mem=16M idle=1 time-spin=1100")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let boot = out.serial.lines().find(|l| l.starts_with("(XEN) time: TSC")).expect("the timer line");
    assert!(boot.contains("calibrated over 1 ms"), "{boot}");
    let refined = out.serial.lines().filter(|l| l.starts_with("(XEN) time: TSC refined to")).count();
    assert!(refined >= 3, "the 64 ms, 256 ms and 1,024 ms refinements:\n{}", out.serial);
    let spin = out
        .serial
        .lines()
        .find(|l| l.starts_with("(d0) guest-kernel: read the time"))
        .unwrap_or_else(|| panic!("no time spin:\n{}", out.serial));
    assert!(spin.contains("to 1100 ms: never back, no jump"), "{spin}");
}

/// The console's virtual IRQs end to end, typed by `xen-run --keys-on`:
/// domain 0 spins without a hypercall, so each key reaches the hypervisor
/// as COM1's interrupt while the guest runs; `q` dumps the domains and
/// sends `VIRQ_DEBUG`, and after Ctrl-A three times the keys are domain
/// 0's input (`VIRQ_CONSOLE`, then `CONSOLEIO_read`).
#[test]
fn console_keys_reach_a_running_domain_0_as_virq_debug_and_virq_console_input() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-tests/console_keys");
    std::fs::create_dir_all(&dir).expect("test directory");
    let log = dir.join("serial.log");
    let module = format!("{} name=keys wait-keys", artifacts_dir().join("guest-kernel").display());
    let status = std::process::Command::new(artifacts_dir().join("../../release/xen-run"))
        .args(["--memory", "128", "--direct", "--verdicts", "--timeout", "120", "--log"])
        .arg(&log)
        .args(["--keys-on", "spinning until 'q' is typed=q"])
        .args(["--keys-on", "now type for domain 0=\u{1}\u{1}\u{1}hi"])
        .arg(xen_tests::hypervisor_elf())
        .arg("--module")
        .arg(&module)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("running xen-run (make build builds it)");
    let serial = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{serial}");
    let at = |line: &str| serial.find(line).unwrap_or_else(|| panic!("serial log lacks {line:?}:\n{serial}"));
    let spinning = at("(d0) keys: VIRQ_DEBUG on port 1, VIRQ_CONSOLE on port 2; spinning until 'q' is typed");
    let dumped = at("(XEN) 'q' pressed: dumping the domains");
    let notified = at("(XEN)   domain 0: notified with VIRQ_DEBUG");
    let debug = at("(d0) keys: VIRQ_DEBUG received on port 1 while spinning");
    let switched = at("(XEN) *** Serial input to DOM0");
    let console = at("CONSOLEIO_read gave 2 bytes: \"hi\"");
    assert!(spinning < dumped && dumped < notified && notified < debug && debug < switched && switched < console);
    assert!(serial.contains("(d0) Test result: SUCCESS"), "{serial}");
}
