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
