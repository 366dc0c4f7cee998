//! QEMU tests of the hypervisor's boot path and of the harness's ability to
//! fail. They need the bare-metal images, so they are behind the `qemu`
//! feature; `make test` builds the images and enables it.
#![cfg(feature = "qemu")]

use std::time::Duration;
use xen_tests::{Phase, Run, Verdict};
use xen_tools::iso::ModuleSpec;
use xen_tools::qemu::{BootPath, ExitKind};

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

/// The one test that boots through GRUB (multiboot2) as well as directly
/// (QEMU's multiboot1 loader): both must describe the same machine.
#[test]
fn boot_banner_shows_memory_map_and_every_module_and_refusing_them_all_fails_the_run_by_grub_and_directly() {
    for boot in [BootPath::Grub, BootPath::Direct] {
        banner_with_modules(boot);
    }
}

fn banner_with_modules(boot: BootPath) {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let mut run = Run::new(&format!("banner_with_modules_{boot:?}"));
    run.boot = boot;
    run.cmdline = "loglvl=info".into();
    run.memory_mib = 192;
    run.modules = vec![
        ModuleSpec::parse(&format!("{manifest}/Cargo.toml name=first mem=32M")),
        ModuleSpec::parse(&format!("{manifest}/src/lib.rs name=second")),
    ];
    let out = run.boot();
    let loader = if boot == BootPath::Grub { "(XEN) Bootloader: GRUB" } else { "(XEN) Bootloader: qemu" };
    assert_contains(&out.serial, loader);
    assert_contains(&out.serial, "(XEN) Command line: loglvl=info\r\n");
    // Neither file is a guest kernel: both are refused, and a run in which
    // nothing that was asked for ran is a failure, not an empty success.
    assert_eq!(out.exit, Some(ExitKind::Failure), "{}", out.serial);
    assert_contains(&out.serial, "(XEN) error: domain 0: refused: ");
    assert_contains(&out.serial, "(XEN) error: domain 1: refused: ");
    assert_contains(&out.serial, "Shutting down: failure (2 modules were refused)");
    let size = |p: &str| std::fs::metadata(format!("{manifest}/{p}")).unwrap().len();
    assert_contains(&out.serial, &format!("(XEN) xen-core {}", env!("CARGO_PKG_VERSION")));
    assert_contains(&out.serial, "(XEN) Memory map:");
    assert_contains(&out.serial, " usable");
    // 192 MiB of RAM minus the legacy holes.
    assert_contains(&out.serial, "(XEN) Usable RAM: 191 MiB");
    assert_contains(&out.serial, "(XEN) Modules: 2");
    assert_contains(&out.serial, &format!("module 0: {} bytes", size("Cargo.toml")));
    assert_contains(&out.serial, "cmdline 'name=first mem=32M'");
    assert_contains(&out.serial, &format!("module 1: {} bytes", size("src/lib.rs")));
    assert_contains(&out.serial, "cmdline 'name=second'");
}

#[test]
fn with_nothing_to_run_the_hypervisor_says_so_and_exits_with_success() {
    let out = Run::new("nothing_to_run").boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_eq!(out.exit, Some(ExitKind::Success));
    assert_contains(&out.serial, "Nothing to run: no guest modules were loaded.");
}

#[test]
fn hypervisor_mappings_are_write_xor_execute_with_nx_smep_smap_on() {
    let out = Run::new("wx_audit").boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "CPU protection: NX on SMEP on SMAP on");
    assert_contains(&out.serial, ", 0 writable+executable");
}

#[test]
fn exception_dump_shows_vector_error_code_rip_cr2_and_registers() {
    let mut run = Run::new("exception_dump");
    run.cmdline = "selftest=page-fault".into();
    let out = run.boot();
    assert!(matches!(out.verdict, Verdict::Failure(_)), "{:?}\n{}", out.verdict, out.serial);
    assert_eq!(out.exit, Some(ExitKind::Failure));
    assert_contains(&out.serial, "FATAL: CPU exception vector 14 (#PF page fault)");
    assert_contains(&out.serial, "cr2: 0x00000000deadb000");
    assert_contains(&out.serial, "rip: 0xffff82d0");
    for reg in [
        "rax:",
        "rbx:",
        "rcx:",
        "rdx:",
        "rsi:",
        "rdi:",
        "rbp:",
        "rsp:",
        "r8:",
        "r9:",
        "r10:",
        "r11:",
        "r12:",
        "r13:",
        "r14:",
        "r15:",
        "rflags:",
        "error code:",
    ] {
        assert_contains(&out.serial, reg);
    }
}

#[test]
fn writing_hypervisor_text_faults_because_text_is_read_only() {
    let mut run = Run::new("write_text");
    run.cmdline = "selftest=write-text".into();
    let out = run.boot();
    assert!(matches!(out.verdict, Verdict::Failure(_)), "{:?}\n{}", out.verdict, out.serial);
    // Present + write: a protection violation, not a missing page.
    assert_contains(&out.serial, "vector 14 (#PF page fault)");
    assert_contains(&out.serial, "error code: 0x0000000000000003");
}

#[test]
fn harness_reports_a_hypervisor_panic_as_failure() {
    let mut run = Run::new("panic");
    run.cmdline = "selftest=panic".into();
    let out = run.boot();
    assert!(matches!(out.verdict, Verdict::Failure(_)), "{:?}\n{}", out.verdict, out.serial);
    assert_contains(&out.serial, "*** PANIC: ");
    assert_contains(&out.serial, "selftest: deliberate panic");
}

#[test]
fn harness_reports_a_triple_fault_as_a_crash() {
    let mut run = Run::new("triple_fault");
    run.cmdline = "selftest=triple-fault".into();
    let out = run.boot();
    assert_eq!(out.exit, Some(ExitKind::Reset), "{}", out.serial);
    assert!(matches!(out.verdict, Verdict::Crash(_)), "{:?}", out.verdict);
}

#[test]
fn harness_reports_a_hang_as_a_timeout_in_the_result_phase() {
    let mut run = Run::new("hang");
    // Without the debug-exit port the hypervisor halts instead of ending QEMU.
    run.cmdline = "no-debug-exit".into();
    run.phases.result = Duration::from_secs(3);
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Timeout(Phase::Result), "{}", out.serial);
}

#[test]
fn harness_reports_an_expected_guest_that_never_starts_as_a_timeout() {
    let mut run = Run::new("missing_guest");
    run.expected_guests = 1;
    run.phases.guest_start = Duration::from_secs(2);
    let out = run.boot();
    assert!(matches!(out.verdict, Verdict::Timeout(Phase::GuestStart(0)) | Verdict::Crash(_)), "{:?}", out.verdict);
}

#[test]
fn harness_reports_qemu_status_1_as_a_harness_error() {
    let mut run = Run::new("qemu_error");
    run.qemu_extra = vec!["-object".into(), "no-such-object-type,id=x".into()];
    let out = run.boot();
    assert!(matches!(out.verdict, Verdict::HarnessError(_)), "{:?}", out.verdict);
}

#[test]
fn a_hypervisor_that_never_prints_its_banner_times_out_in_the_banner_phase() {
    let mut run = Run::new("no_banner");
    // A file that is not a multiboot2 image: GRUB refuses it and waits.
    run.boot = BootPath::Grub;
    run.hypervisor = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    run.phases.banner = Duration::from_secs(4);
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Timeout(Phase::Banner), "{}", out.serial);
}
