//! QEMU tests of the console rings the hypervisor serves (issue 11): a
//! domain other than domain 0 prints through its ring with its `(dN)`
//! prefix, and a domain abusing its ring neither hangs nor crashes the
//! hypervisor nor disturbs another domain.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn guest(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

/// The bytes the hypervisor took from domain `d`'s ring, from its report
/// at the domain's death.
fn ring_bytes(serial: &str, d: u32) -> u64 {
    let tag = format!("domain {d}: console ring: ");
    let at = serial.find(&tag).unwrap_or_else(|| panic!("no ring report for domain {d}:\n{serial}"));
    serial[at + tag.len()..].split(' ').next().and_then(|n| n.parse().ok()).expect("a byte count")
}

#[test]
fn a_domain_other_than_0_prints_through_its_console_ring_with_its_prefix() {
    let mut run = Run::new("console_ring");
    run.modules = vec![guest("name=zero watch=2"), guest("name=one")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    // start_info named the page and port; the guest found the page.
    assert_contains(&out.serial, "(XEN) domain 1: console ring at mfn ");
    assert_contains(&out.serial, "event channel 1");
    assert_contains(&out.serial, "(d1) guest-kernel: console: printing through its console ring (mfn ");
    assert_contains(&out.serial, "event channel 1), served by the hypervisor");
    assert_contains(&out.serial, "(d0) guest-kernel: console: domain 0 prints with console_io");
    // Every line of domain 1's story came through the ring: its last line
    // too, and the ring carried them all (well over the banner's bytes).
    assert_contains(&out.serial, "(d1) guest-kernel: step 7: all steps passed");
    assert_contains(&out.serial, "(d1) Test result: SUCCESS");
    assert!(ring_bytes(&out.serial, 1) > 1000, "{}", out.serial);
    assert!(!out.serial.contains("domain 0: console ring"), "domain 0 has no ring");
}

#[test]
fn a_hostile_console_ring_neither_hangs_nor_crashes_the_hypervisor_nor_another_domain() {
    let mut run = Run::new("console_ring_hostile");
    run.modules = vec![guest("name=watcher watch=6"), guest("name=abuser ring-test")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    // Not notified: the poll took it anyway.
    assert_contains(&out.serial, "(d1) ring-test: this line was never notified");
    assert_contains(&out.serial, "(d1) guest-kernel: ring-test: the unnotified line was taken after");
    for what in
        ["out_prod 1 MiB ahead", "out_prod one past a full ring", "out_prod behind out_cons", "out_prod 2^31 ahead"]
    {
        assert_contains(
            &out.serial,
            &format!(
                "(d1) guest-kernel: ring-test: {what}: 1000 notifications, indices left alone, hypervisor still up"
            ),
        );
    }
    assert_contains(&out.serial, "domain 1: console ring indices claim 1048576 bytes waiting");
    // The rest of that ring is NUL bytes, which the filter drops.
    assert_contains(&out.serial, "(d1) ring-test: a full ring written across the end of the ring and the wrap of u32");
    assert_contains(
        &out.serial,
        "(d1) guest-kernel: ring-test: a full 2048-byte ring across index 2^32 was taken whole",
    );
    assert_contains(&out.serial, "(d1) guest-kernel: ring-test: 10000 notifications of an empty ring; all done");
    assert_contains(&out.serial, "(d1) Test result: SUCCESS");
    // The other domain ran on, its memory unchanged.
    assert_contains(&out.serial, "(d0) guest-kernel: watch 6: checksum");
    assert_contains(&out.serial, "(d0) Test result: SUCCESS");
}
