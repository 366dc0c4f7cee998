//! QEMU test of guests/template, the guest `make new-guest` copies: it
//! boots on the runtime (notes, entry, console, panic handler from
//! guest-rt), maps a frame with mmu_update, gives a page back and passes,
//! as domain 0 and as an unprivileged domain.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

#[test]
fn the_template_guest_prints_maps_a_frame_balloons_a_page_out_and_passes() {
    let template = artifacts_dir().join("template");
    let mut run = Run::new("template");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=tmpl0 mem=16M", template.display())),
        ModuleSpec::parse(&format!("{} name=tmpl1 mem=8M hello", template.display())),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(d0) template: hello from a PV guest on 4.17, cmdline ''");
    assert_contains(&out.serial, "(d1) template: hello from a PV guest on 4.17, cmdline 'hello'");
    for d in ["(d0)", "(d1)"] {
        assert_contains(&out.serial, &format!("{d} template: mapped frame 0x"));
        assert_contains(&out.serial, &format!("{d} Test result: SUCCESS"));
    }
    assert_contains(&out.serial, "(d0) template: gave a page back, reservation 4096 -> 4095 pages");
    assert_contains(&out.serial, "(d1) template: gave a page back, reservation 2048 -> 2047 pages");
    assert_contains(&out.serial, "Shutting down: success");
}
