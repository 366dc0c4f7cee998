//! QEMU test of SVM detection: QEMU's TCG `-cpu max` (the harness's CPU)
//! reports SVM with nested paging, so the hypervisor must find it, turn it
//! on (EFER.SVME, a host save area) and say so at boot.
#![cfg(feature = "qemu")]

use xen_tests::{Run, Verdict};

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

#[test]
fn svm_with_nested_paging_is_detected_and_enabled_at_boot_under_cpu_max() {
    let out = Run::new("svm_detect").boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(XEN) SVM: available (revision ");
    // QEMU 7.2 TCG has no next-RIP save and no decode assists.
    assert_contains(&out.serial, ", NPT yes, NRIPS no, decode assists no");
    assert_contains(&out.serial, "(XEN) SVM: EFER.SVME on, VM_HSAVE_PA 0x");
}

/// `svm-probe`: the hypervisor runs three tiny PVH-style guests under nested
/// paging (NPT built from each one's p2m). The hostile one reads outside
/// its p2m: a nested page fault that crashes it alone. The second reads an
/// MSR: the #GP injected finds no IDT, and its triple fault crashes it
/// alone. The good one then
/// reads its start info through the NPT, makes a vmmcall with its magic,
/// runs CPUID, writes and reads ports (the null device), reports its TR
/// (VMLOAD state) and halts; the
/// hypervisor logs each exit and boots on to a clean end.
#[test]
fn svm_probe_guests_run_under_nested_paging_and_an_npf_crashes_only_its_domain() {
    let mut run = Run::new("svm_probe");
    run.cmdline = "svm-probe".into();
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let s = &out.serial;
    let in_order = [
        "(XEN) SVM probe: d1 at 0x1000",
        "(XEN) SVM probe: d1 NPF at gpa 0x800000",
        "SVM probe: d1 crashed: Unmapped(Gfn(2048)) at rip 0x1000",
        "(XEN) SVM probe: d1 ended: Some(Crashed)",
        "(XEN) SVM probe: d2 rdmsr 0x0: #GP",
        "SVM probe: d2 crashed: TripleFault at rip 0x1002",
        "(XEN) SVM probe: d2 ended: Some(Crashed)",
        "(XEN) SVM probe: d3 at 0x1000",
        "(XEN) SVM probe: d3 vmmcall rax 0x336ec578",
        "(XEN) SVM probe: d3 cpuid 0x0:0x0",
        "(XEN) SVM probe: d3 out port 0x80 size 1 value 0x42",
        "(XEN) SVM probe: d3 in port 0x71 size 1 value 0xff",
        "(XEN) SVM probe: d3 vmmcall rax 0xff",
        // TR from its VMCB: VMLOAD gave the guest its own, not the host's.
        "(XEN) SVM probe: d3 vmmcall rax 0x18",
        "(XEN) SVM probe: d3 hlt at 0x101d with nothing to wait for: done",
        "(XEN) SVM probe: d3 ended: Some(Halted)",
        "(XEN) SVM probe: done; the hypervisor runs on",
    ];
    let mut from = 0;
    for needle in in_order {
        let at =
            s[from..].find(needle).unwrap_or_else(|| panic!("serial log lacks {needle:?} after byte {from}:\n{s}"));
        from += at + needle.len();
    }
    assert!(!s.contains("did not end as expected"), "{s}");
}
