//! QEMU tests of the domain builder's modules: guest-kernel wrapped as a
//! bzImage with a gzip or an xz payload boots like the plain ELF, and a
//! `ramdisk` module reaches the kernel before it.
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
    assert_contains(&out.serial, "(d0) Test result: SUCCESS");
    assert_contains(&out.serial, "(d1) Test result: SUCCESS");
    assert_contains(&out.serial, "Shutting down: success");
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3))
}

#[test]
fn a_ramdisk_module_reaches_the_kernel_before_it_through_mod_start_and_mod_len() {
    let ramdisk: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ramdisk.bin");
    std::fs::write(&path, &ramdisk).unwrap();
    let kernel = artifacts_dir().join("guest-kernel");
    let mut run = Run::new("ramdisk");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=with-rd", kernel.display())),
        ModuleSpec::parse(&format!("{} ramdisk", path.display())),
        ModuleSpec::parse(&format!("{} name=plain", kernel.display())),
    ];
    run.expected_guests = xen_tools::iso::domains_of(&run.modules);
    assert_eq!(run.expected_guests, 2);
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    assert_contains(&out.serial, "(XEN) domain 0: ramdisk of 10000 bytes at 0xffffffff80");
    assert_contains(&out.serial, "domain 1 (plain)");
    assert_contains(&out.serial, "(d0) guest-kernel: ramdisk of 10000 bytes at 0xffffffff8");
    assert_contains(&out.serial, &format!(", FNV-1a {:#018x}", fnv1a(&ramdisk)));
    assert!(!out.serial.contains("(d1) guest-kernel: ramdisk"), "the plain domain has none");
    assert_contains(&out.serial, "Shutting down: success");
}
