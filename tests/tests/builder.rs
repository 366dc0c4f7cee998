//! QEMU tests of the domain builder's module formats: guest-kernel wrapped
//! as a bzImage with a gzip or an xz payload boots like the plain ELF.
#![cfg(feature = "qemu")]

use std::path::PathBuf;
use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::bzimage::{make, Tool};
use xen_tools::iso::ModuleSpec;

fn assert_contains(serial: &str, needle: &str) {
    assert!(serial.contains(needle), "serial log lacks {needle:?}:\n{serial}");
}

/// guest-kernel as a bzImage compressed with `tool`, written next to the
/// test's other outputs.
fn guest_bzimage(tool: Tool) -> PathBuf {
    let elf = std::fs::read(artifacts_dir().join("guest-kernel")).expect("make build first");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("guest-kernel.{tool:?}.bzImage"));
    std::fs::write(&path, make(tool, &elf).unwrap()).unwrap();
    path
}

#[test]
fn guest_kernel_as_a_gzip_and_an_xz_bzimage_boots_and_powers_off() {
    let mut run = Run::new("bzimage");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=gz", guest_bzimage(Tool::Gzip).display())),
        ModuleSpec::parse(&format!("{} name=xz", guest_bzimage(Tool::Xz).display())),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "bzImage: gzip payload of");
    assert_contains(&out.serial, "bzImage: xz payload of");
    assert_contains(&out.serial, "(d0) guest-kernel: step 6: all steps passed");
    assert_contains(&out.serial, "(d1) guest-kernel: step 6: all steps passed");
    assert_contains(&out.serial, "Shutting down: success");
}
