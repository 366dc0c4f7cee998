//! The hostile guest (tests/hostile) under QEMU: one regression test per
//! attack of issue 8 (F1–F6), each beside a victim domain that checks its
//! own memory, and a short fuzzing campaign.
//!
//! On main ea1de8a every attack test fails: F1 reads the hypervisor's text
//! through a forged L1, F2 runs the hypervisor at a guest-chosen RIP, F3
//! (cs 0 or 0xE008, ss 0 or 0xE010) and F4 stop the machine with a fault
//! in the hypervisor, F5 never lets the victim run again, and F6 hands
//! frames to a dead domain. (F3's return into compatibility mode and its
//! non-canonical RIP were already harmless under TCG there: Xen allows the
//! former, and QEMU raises the latter's #GP in the guest.) F7 (found by the fuzzer) turns
//! shared_info into an L1 table whose entries the hypervisor's own CR2
//! store writes; F8 (also found by the fuzzer) frees shared_info with
//! `decrease_reservation` and gets it back as an ordinary frame.
#![cfg(feature = "qemu")]

use std::time::Duration;
use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;
use xen_tools::qemu::ExitKind;

fn hostile(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("hostile").display()))
}

fn victim(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

/// No fault in the hypervisor, no isolation break reported by any guest.
fn assert_hypervisor_survived(serial: &str) {
    assert!(!serial.contains("FATAL"), "the hypervisor stopped:\n{serial}");
    assert!(!serial.contains("ISOLATION BROKEN"), "{serial}");
}

/// Every domain in the summary got back every frame it was given
/// (`returned of given`).
fn assert_every_frame_returned(serial: &str) {
    let table = serial.split("frames returned").nth(1).unwrap_or_else(|| panic!("no summary:\n{serial}"));
    for line in table.lines().skip(1).take_while(|l| l.starts_with("(XEN)   ") && l.contains(" of ")) {
        assert!(!line.contains("NOT RETURNED"), "frames leaked: {line:?}\n{serial}");
        let words: Vec<&str> = line.split_whitespace().collect();
        let n = words.len();
        assert!(n >= 3 && words[n - 2] == "of", "summary line {line:?}");
        assert_eq!(words[n - 3], words[n - 1], "frames leaked: {line:?}\n{serial}");
    }
}

/// A victim (domain 0, checking its memory) beside one attack (domain 1).
fn attack_beside_victim(name: &str, mode: &str) -> String {
    let mut run = Run::new(name);
    run.modules = vec![victim("name=victim mem=16M watch=2"), hostile(&format!("name={name} mem=32M {mode}"))];
    run.expected_guests = 2;
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(d0) guest-kernel: watch 2: checksum");
    assert_contains(&out.serial, "0    victim            poweroff          4098 of 4098");
    assert_every_frame_returned(&out.serial);
    out.serial
}

#[test]
fn f1_a_stale_tlb_entry_cannot_write_a_frame_after_it_is_freed_reallocated_and_pinned_as_l1() {
    let serial = attack_beside_victim("f1", "mode=f1");
    assert_contains(&serial, "(d1) f1: defeated");
}

/// F1 alone on the machine, blocking between the unmap and the give-back:
/// the switch back from idle keeps the root and the TLB (the lazy switch),
/// so the stale translation survives the block; the flush clock must still
/// make the give-back flush it.
#[test]
fn f1_a_stale_tlb_entry_kept_across_an_idle_block_is_still_flushed_before_the_frame_changes_hands() {
    let mut run = Run::new("f1-idle");
    run.modules = vec![hostile("name=f1-idle mem=32M mode=f1 case=idle")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "f1: blocked 1 ms in SCHEDOP_poll: 0");
    assert_contains(&out.serial, "f1: defeated");
    assert_every_frame_returned(&out.serial);
}

#[test]
fn f2_a_stale_tlb_entry_cannot_plant_a_call_gate_in_a_loaded_gdt() {
    let serial = attack_beside_victim("f2", "mode=f2");
    assert_contains(&serial, "(d1) f2: defeated");
}

/// Sub-cases of an attack, one domain each after the victim: each must end
/// with SUCCESS or be crashed by the hypervisor with a log line, and the
/// victim must finish.
fn cases_beside_victim(name: &str, mode: &str, cases: &[&str], phases_result: u64) -> String {
    let mut run = Run::new(name);
    run.cmdline = "exit-success=always".into();
    run.memory_mib = 256;
    run.phases.result = Duration::from_secs(phases_result);
    run.modules = vec![victim("name=victim mem=16M watch=2")];
    for c in cases {
        run.modules.push(hostile(&format!("name={name}-{c} mem=16M {mode} case={c}")));
    }
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.exit, Some(ExitKind::Success), "{}", out.serial);
    assert_contains(&out.serial, "(d0) Test result: SUCCESS");
    for (i, c) in cases.iter().enumerate() {
        let d = i + 1;
        let ok = out.serial.contains(&format!("(d{d}) Test result: SUCCESS"))
            || out.serial.contains(&format!("domain {d} ({name}-{c}) crashed:"));
        assert!(ok, "case {c} (domain {d}) neither succeeded nor was crashed by the hypervisor:\n{}", out.serial);
        assert!(!out.serial.contains(&format!("(d{d}) Test result: FAILURE")), "case {c}:\n{}", out.serial);
    }
    out.serial
}

#[test]
fn f3_iret_with_bad_selectors_or_rip_never_faults_in_the_hypervisor() {
    cases_beside_victim("f3", "mode=f3", &["cs0", "cs-e008", "cs-e020", "ss0", "ss-e010", "rip"], 60);
}

#[test]
fn f9_an_exception_on_a_hostile_kernel_stack_crashes_only_that_domain() {
    // Seven cases: with the victim, every domain slot.
    let cases = ["hv-int3", "hv-ud2", "hole-int3", "hole-ud2", "unmapped-int3", "unmapped-ud2", "wrap-int3"];
    let serial = cases_beside_victim("f9", "mode=f9", &cases, 60);
    for (i, c) in cases.iter().enumerate() {
        let why = if c.starts_with("hv") {
            "guest kernel stack points into the hypervisor's range"
        } else {
            "fault writing the exception frame to the guest stack"
        };
        // The exception itself could not be delivered: no handler ran on
        // a stack it must not have had (a write into the hypervisor's
        // range would let the handler run, and fault, first).
        let exception = if c.ends_with("ud2") { "#UD (invalid opcode)" } else { "#BP (breakpoint)" };
        assert_contains(&serial, &format!("domain {} (f9-{c}): unhandled {exception}", i + 1));
        assert_contains(&serial, &format!("domain {} (f9-{c}) crashed: {why}", i + 1));
    }
}

#[test]
fn f9_an_iret_frame_on_a_hostile_kernel_stack_crashes_only_that_domain() {
    // The SYSCALL entry's short `iret` reads the frame first: in the
    // hypervisor's range, the hole, an unmapped page or wrapping past the
    // top, it must decline, and the general path crash the domain.
    let cases = ["hv-iret", "hole-iret", "unmapped-iret", "wrap-iret"];
    let serial = cases_beside_victim("f9i", "mode=f9", &cases, 60);
    for (i, c) in cases.iter().enumerate() {
        assert_contains(&serial, &format!("domain {} (f9i-{c}) crashed: iret frame unreadable", i + 1));
    }
}

#[test]
fn f9_an_event_upcall_on_a_hostile_kernel_stack_crashes_only_that_domain() {
    // The send's short path builds the upcall frame in assembly: in the
    // hypervisor's range, the hole, an unmapped page or wrapping below 0,
    // it must decline, and the general exit crash the domain.
    let cases = ["hv-upcall", "hole-upcall", "unmapped-upcall", "wrap-upcall"];
    let serial = cases_beside_victim("f9u", "mode=f9", &cases, 60);
    for (i, c) in cases.iter().enumerate() {
        let why = if c.starts_with("hv") {
            "guest kernel stack points into the hypervisor's range"
        } else {
            "fault writing the exception frame to the guest stack"
        };
        assert_contains(&serial, &format!("domain {} (f9u-{c}) crashed: {why}", i + 1));
        // The upcall itself could not be delivered: no callback ran (and
        // faulted) on a stack it must not have had.
        let ran = format!("domain {} (f9u-{c}): unhandled", i + 1);
        assert!(!serial.contains(&ran), "case {c}: the callback ran on the hostile stack:\n{serial}");
    }
}

#[test]
fn f9_an_upcall_due_at_an_irets_return_to_a_hostile_stack_crashes_only_that_domain() {
    // The iret's short path restores the frame (its RSP hostile), unmasks
    // a pending upcall and enters the send path's frame writer in
    // assembly: in the hypervisor's range, the hole, an unmapped page or
    // wrapping below 0, it must decline, and the general exit crash the
    // domain.
    let cases = ["hv-iretup", "hole-iretup", "unmapped-iretup", "wrap-iretup"];
    let serial = cases_beside_victim("f9r", "mode=f9", &cases, 60);
    for (i, c) in cases.iter().enumerate() {
        let why = if c.starts_with("hv") {
            "guest kernel stack points into the hypervisor's range"
        } else {
            "fault writing the exception frame to the guest stack"
        };
        assert_contains(&serial, &format!("domain {} (f9r-{c}) crashed: {why}", i + 1));
        let ran = format!("domain {} (f9r-{c}): unhandled", i + 1);
        assert!(!serial.contains(&ran), "case {c}: the callback ran on the hostile stack:\n{serial}");
    }
}

#[test]
fn f4_syscall_from_compatibility_mode_is_answered_without_a_hypervisor_fault() {
    cases_beside_victim("f4", "mode=f4", &["compat"], 60);
}

#[test]
fn f5_a_2_to_the_31_entry_mmu_update_and_a_4_gib_console_write_are_preempted_so_the_victim_runs() {
    // Each call would take far longer than the test; the domains are
    // bounded by their CPU limit and the victim must finish meanwhile.
    let mut run = Run::new("f5");
    run.cmdline = "exit-success=always".into();
    run.phases.result = Duration::from_secs(60);
    run.modules = vec![
        victim("name=victim mem=16M watch=2"),
        hostile("name=f5-mmu mem=32M timeout=8 mode=f5 case=mmu"),
        hostile("name=f5-console mem=32M timeout=8 mode=f5 case=console"),
    ];
    let out = run.boot();
    let s = &out.serial;
    assert_hypervisor_survived(s);
    assert_eq!(out.exit, Some(ExitKind::Success), "{s}");
    assert_contains(s, "(d0) Test result: SUCCESS");
    let victim_ran = s.find("(d0) guest-kernel: watch 1:").unwrap_or_else(|| panic!("the victim never ran:\n{s}"));
    for (d, started, name) in [
        (1, "(d1) f5: mmu_update of 0x7fffffff requests", "f5-mmu"),
        (2, "(d2) f5: console_io of 0xffffffff bytes", "f5-console"),
    ] {
        let at = s.find(started).unwrap_or_else(|| panic!("domain {d} did not start its call:\n{s}"));
        assert!(at < victim_ran, "the victim checked its memory before domain {d} started its call:\n{s}");
        let ended = s
            .find(&format!("domain {d} ({name}) crashed: used up its CPU time"))
            .or_else(|| s.find(&format!("(d{d}) Test result: SUCCESS")))
            .unwrap_or_else(|| panic!("domain {d} neither returned nor hit its CPU limit:\n{s}"));
        assert!(victim_ran < ended, "the victim ran only after domain {d}'s call ended:\n{s}");
    }
}

#[test]
fn f6_domain_0_cannot_give_memory_to_a_dead_or_never_built_domain() {
    let mut run = Run::new("f6");
    run.modules = vec![hostile("name=f6 mem=32M mode=f6"), victim("name=victim mem=16M")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(d0) f6: defeated");
    assert_contains(&out.serial, "1    victim            poweroff          4098 of 4098");
    assert_every_frame_returned(&out.serial);
}

#[test]
fn f7_shared_info_is_never_a_page_table_so_the_hypervisors_cr2_store_cannot_forge_a_pte() {
    let serial = attack_beside_victim("f7", "mode=f7");
    assert_contains(&serial, "(d1) f7: defeated");
}

#[test]
fn f8_shared_info_cannot_be_given_back_and_handed_out_while_the_hypervisor_writes_it() {
    let serial = attack_beside_victim("f8", "mode=f8");
    assert_contains(&serial, "(d1) f8: defeated");
}

/// A fuzzing campaign beside a victim: both domains must end with SUCCESS
/// (no oracle fired, the victim's memory never changed) and every frame
/// must come back.
fn campaign(name: &str, cmdline: &str, seed: u64, ops: u64) -> String {
    let mut run = Run::new(name);
    run.cmdline = cmdline.into();
    run.modules = vec![
        victim("name=victim mem=16M watch=20"),
        hostile(&format!("name=fuzz mem=32M mode=fuzz seed={seed} ops={ops}")),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, &format!("(d1) fuzz: seed {seed}: "));
    assert_contains(&out.serial, "(d0) guest-kernel: watch 20: checksum");
    // The console-ring generator ran against the hypervisor's server.
    assert_contains(&out.serial, "(d1) fuzz: console ring: ");
    assert_every_frame_returned(&out.serial);
    out.serial
}

#[test]
fn a_short_fuzzing_campaign_breaks_no_isolation_beside_a_victim() {
    // Seed 2 finds F7 within 49 calls on ea1de8a.
    campaign("fuzz_unchecked", "", 2, 20_000);
}

#[test]
fn a_short_fuzzing_campaign_under_the_invariant_checker_finds_no_violation_and_no_leak() {
    let serial = campaign("fuzz_checked", "check=100", 1, 10_000);
    assert_contains(&serial, " 0 violations; frames leaked: 0");
}

/// The fuzzing campaign beside a PVH peer (domain 0) that grants the
/// fuzzer references naming its guest frames (a page writable, one
/// read-only, a huge gfn, a hole, a page granted to someone else): the
/// fuzzer's grant generators map and copy them with random flags through
/// the translated-granter path; the PVH peer's read-only and ungranted
/// pages stay as they were, and the invariant checker (the p2m's grant
/// references counted) finds nothing.
#[test]
fn a_fuzzing_campaign_against_a_pvh_domains_grants_reaches_only_what_it_granted() {
    let mut run = Run::new("fuzz_pvh_grants");
    run.cmdline = "check=100".into();
    run.modules = vec![
        xen_tests::pvh_hello("name=pvhpeer mem=16M type=pvh timeout=600 gfuzz"),
        hostile("name=fuzz mem=32M mode=fuzz seed=3 ops=10000"),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_hypervisor_survived(&out.serial);
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(d1) fuzz: seed 3: ");
    assert_contains(&out.serial, "(d0) pvh-hello: gfuzz: the fuzzer is gone after ");
    assert_contains(&out.serial, "my ungranted page intact, my read-only grant intact");
    assert_contains(&out.serial, " 0 violations; frames leaked: 0");
}
