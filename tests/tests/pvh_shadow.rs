//! QEMU tests of PVH domains under shadow paging (issue 15, `paging=shadow`
//! on the module line): NPT off, the hypervisor's shadow tables are what
//! the hardware walks, guest page-table writes are trapped and emulated.
//! The same guests as `pvh.rs` (nested paging); xen-core's checks alone
//! (Xen 4.17 here cannot run a shadow-paged PVH domU).
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, in_order, pvh_hello as pvh, Run, Verdict};
use xen_tools::iso::ModuleSpec;

/// pvh-hello under shadow paging: its 32-bit entry runs on the identity
/// map of its p2m, its `mov cr0` turns 4-level paging on over the shadow
/// of its own root, it writes its page directory (trapped, emulated: the
/// alias works and goes again), switches to a second address space and
/// back twice (its `mov cr3`s exit; revisited roots come from the shadow
/// cache), and balloons out and in (the shadows are dropped and rebuilt),
/// then powers off.
#[test]
fn a_pvh_domain_boots_and_balloons_under_shadow_paging() {
    let mut run = Run::new("pvh_shadow_boot");
    run.modules = vec![pvh("name=pvh mem=16M type=pvh paging=shadow hello there")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (pvh, PVH under SVM with shadow paging)",
            "(XEN) domain 0: hypercall page at gfn 0x",
            "(d0) pvh-hello: a hypercall from 32-bit protected mode, paging off",
            "(d0) pvh-hello: hello from a PVH guest in long mode on Xen 4.17 (hypercall page via MSR 0x40000000)",
            "(d0) pvh-hello: the 32-bit console_io returned 0",
            "(d0) pvh-hello: start info v1 at 0x",
            ", cmdline 'hello there', 3 memory map entries",
            "(d0) pvh-hello: console_io from gpa 0xa0000 -> -14, from unmapped va 0x80000000 -> -14",
            "(d0) pvh-hello: balloon: 4000 pages, out 4 -> 3996, out again 0, in 4 -> 4000",
            "(d0) pvh-hello: the repopulated pages are fresh and writable",
            "(d0) pvh-hello: page-table update: an alias at 0x3fc00000 wrote through, and is gone again",
            "(d0) pvh-hello: a second address space: CR3 there and back twice, its mapping at 0x8000000000 reads my page",
            "(d0) pvh-hello: #PF to my handler: read cr2 0x80000000 error code 0x0, write cr2 0x80000000 error code 0x2",
            "(d0) Test result: SUCCESS",
            "(XEN) domain 0: shut down (poweroff)",
            "(XEN) domain 0: shadow paging: ",
            "(XEN) domain 0 (pvh): PVH domain gone, 4005 of 4005 frames returned",
            "(XEN)   0    pvh               poweroff          4005 of 4005 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
    // The shadow line: its writes to its own tables were emulated, the
    // INVLPGs and CR accesses exited, the balloon dropped the shadows.
    let line = out.serial.lines().find(|l| l.contains("domain 0: shadow paging: ")).unwrap();
    let n = |what: &str| -> u64 {
        let at = line.find(what).unwrap_or_else(|| panic!("{what:?} in {line}"));
        line[..at].trim_end().rsplit([' ', ':', ',', '(']).next().unwrap().parse().unwrap()
    };
    assert!(n(" faults fixed") > 0 && n(" page-table writes emulated") >= 2, "{line}");
    assert!(n(" INVLPG") >= 2 && n(" CR accesses") >= 9 && n(" p2m changes") >= 2, "{line}");
    // Paging on, then 4 switches: the last three roots were shadowed before.
    assert!(n(" reflected") == 2, "{line}");
    assert!(n(" root switches") == 5 && n(" from the cache)") >= 3, "{line}");
}

/// Hostile shadow-paged PVH domains: one writes its own page directory to
/// map a huge guest frame number and reads through it, one reads the
/// legacy hole its p2m does not map, one maps the 2 MiB right past its RAM. Each is crashed alone with a log
/// line (no shadow entry is ever made for a frame outside its p2m), and
/// the PV domain 0 (run first, in slot order) succeeds.
#[test]
fn a_shadow_paged_domain_mapping_frames_outside_its_p2m_is_crashed_alone_and_domain_0_goes_on() {
    let mut run = Run::new("pvh_shadow_hostile");
    run.cmdline = "exit-success=always".into();
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=dom0 mem=16M", artifacts_dir().join("template").display())),
        pvh("name=bad mem=8M type=pvh paging=shadow ptforeign"),
        pvh("name=hole mem=8M type=pvh paging=shadow hostile"),
        pvh("name=past mem=8M type=pvh paging=shadow ptpast"),
    ];
    let out = run.boot();
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (dom0)",
            "(d0) Test result: SUCCESS",
            "(XEN) Starting domain 1 (bad, PVH under SVM with shadow paging)",
            "(d1) pvh-hello: page-table update: an alias at 0x3fc00000 wrote through, and is gone again",
            "(d1) pvh-hello: hostile: my PD maps gfn 0xffffffe00 at va 0x3fa00000; reading it",
            "domain 1 crashed: page fault at 0x3fa00000 (error code 0x0): NotInP2m(Gfn(68719476224)) at rip",
            "the hypervisor runs on",
            "(XEN) domain 1 (bad): PVH domain gone, 1957 of 1957 frames returned",
            "(XEN) Starting domain 2 (hole, PVH under SVM with shadow paging)",
            "(d2) pvh-hello: hostile: reading gpa 0xa0000, outside my p2m",
            "domain 2 crashed: page fault at 0xa0000 (error code 0x0): NotInP2m(Gfn(160))",
            "(XEN) domain 2 (hole): PVH domain gone, 1957 of 1957 frames returned",
            "(d3) pvh-hello: hostile: my PD maps gfn 0x800 at va 0x3fa00000; reading it",
            "domain 3 crashed: page fault at 0x3fa00000 (error code 0x0): NotInP2m(Gfn(2048))",
            "(XEN) domain 3 (past): PVH domain gone, 1957 of 1957 frames returned",
            "(XEN)   0    dom0              poweroff",
            "(XEN)   1    bad               crashed           1957 of 1957 (PVH)",
            "(XEN)   2    hole              crashed           1957 of 1957 (PVH)",
            "(XEN)   3    past              crashed           1957 of 1957 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
    assert!(!out.serial.contains("was not stopped"), "{}", out.serial);
}

/// guest-kernel's PVH entry under shadow paging: the same binary as the
/// PV domain 0, its own tables (the kernel at -2 GiB) shadowed, its balloon.
#[test]
fn the_same_guest_kernel_binary_boots_as_pv_and_as_shadow_paged_pvh() {
    let gk = artifacts_dir().join("guest-kernel");
    let mut run = Run::new("pvh_shadow_guest_kernel");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=pv mem=32M", gk.display())),
        ModuleSpec::parse(&format!("{} name=pvh mem=16M type=pvh paging=shadow", gk.display())),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (pv)",
            "(XEN) Starting domain 1 (pvh, PVH under SVM with shadow paging)",
            "(d1) guest-kernel: PVH entry (32-bit, paging off) to long mode with its own page tables, on Xen 4.17",
            "(d1) guest-kernel: PVH balloon: 4000 pages, 4 out (4), 4 in (4), 4000 pages",
            "(d1) Test result: SUCCESS",
            "(XEN) domain 1: shadow paging: ",
            "(XEN)   1    pvh               poweroff          4005 of 4005 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
    // The two share the CPU: which ends first depends on the timing.
    in_order(&out.serial, &["(XEN) Starting domain 1", "(d0) Test result: SUCCESS", "(XEN)   0    pv "]);
}
