//! QEMU tests of PVH domains (issue 15): guests/pvh-hello loaded from a
//! module with `type=pvh` and run under SVM with nested paging (QEMU's TCG
//! `-cpu max` has both). Xen 4.17 cannot run this PVH domU here (it needs
//! a toolstack), so these are xen-core's checks alone.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, in_order, pvh_hello as pvh, Run, Verdict};
use xen_tools::iso::ModuleSpec;

/// The guest enters at its PHYS32 entry with EBX = its start info, writes
/// its own page tables, reaches long mode, gets its hypercall page through
/// the Xen CPUID leaves' MSR, prints through console_io, and balloons four
/// pages out and back in on guest frames (the p2m and the NPT change), then
/// powers off.
#[test]
fn a_pvh_domain_boots_from_a_module_under_nested_paging_and_balloons_out_and_in() {
    let mut run = Run::new("pvh_boot");
    run.modules = vec![pvh("name=pvh mem=16M type=pvh hello there")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    // Where the builder put the start info (it moves with the image's
    // size) is where the guest found it.
    let hex_after = |key: &str| {
        let at = out.serial.find(key)? + key.len();
        let digits: String = out.serial[at..].chars().take_while(char::is_ascii_hexdigit).collect();
        u64::from_str_radix(&digits, 16).ok()
    };
    let built = hex_after(", start info 0x");
    assert!(built.is_some(), "{}", out.serial);
    assert_eq!(built, hex_after("start info v1 at 0x"), "the guest's start info is the builder's");
    in_order(
        &out.serial,
        &[
            "(XEN) domain 0 (pvh): PVH, 16 MiB, entry 0x100000, start info 0x",
            "(XEN) Starting domain 0 (pvh, PVH under SVM with nested paging)",
            "(XEN) domain 0: hypercall page at gfn 0x",
            "(d0) pvh-hello: a hypercall from 32-bit protected mode, paging off",
            "(d0) pvh-hello: hello from a PVH guest in long mode on Xen 4.17 (hypercall page via MSR 0x40000000)",
            "(d0) pvh-hello: the 32-bit console_io returned 0",
            "(d0) pvh-hello: start info v1 at 0x",
            ", cmdline 'hello there', 3 memory map entries",
            "(d0) pvh-hello:   0x00000000-0x000a0000 RAM",
            "(d0) pvh-hello:   0x000a0000-0x00100000 reserved",
            "(d0) pvh-hello:   0x00100000-0x01000000 RAM",
            "(d0) pvh-hello: console_io from gpa 0xa0000 -> -14, from unmapped va 0x80000000 -> -14",
            "(d0) pvh-hello: HVM_PARAM_CALLBACK_IRQ set 0, get 0 = 0x2000000000000f3; STORE_PFN set -1",
            "(d0) pvh-hello: balloon: 4000 pages, out 4 -> 3996, out again 0, in 4 -> 4000",
            "(d0) pvh-hello: the repopulated pages are fresh and writable",
            "(d0) Test result: SUCCESS",
            "(XEN) domain 0: shut down (poweroff)",
            "(XEN) domain 0 (pvh): PVH domain gone, 4005 of 4005 frames returned",
            "(XEN)   0    pvh               poweroff          4005 of 4005 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
}

/// A hostile PVH domain: hypercall pointers outside its memory get
/// -EFAULT, and its read of a guest-physical address its p2m does not map
/// is a nested page fault that crashes it alone, with a log line, while
/// the PV domain 0 runs to its own success (first: the scheduler takes
/// the slots in order).
#[test]
fn an_access_outside_the_p2m_crashes_only_the_pvh_domain_and_domain_0_goes_on() {
    let mut run = Run::new("pvh_hostile");
    run.cmdline = "exit-success=always".into();
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=dom0 mem=16M", artifacts_dir().join("template").display())),
        pvh("name=bad mem=8M type=pvh hostile"),
    ];
    let out = run.boot();
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (dom0)",
            "(d0) Test result: SUCCESS",
            "(XEN) Starting domain 1 (bad, PVH under SVM with nested paging)",
            "(d1) pvh-hello: console_io from gpa 0xa0000 -> -14, from unmapped va 0x80000000 -> -14",
            "(d1) pvh-hello: hostile: reading gpa 0xa0000, outside my p2m",
            "domain 1 crashed: nested page fault at gpa 0xa0000 (Unmapped(Gfn(160)), ",
            "the hypervisor runs on",
            "(XEN) domain 1 (bad): PVH domain gone, 1957 of 1957 frames returned",
            "(XEN)   0    dom0              poweroff",
            "(XEN)   1    bad               crashed           1957 of 1957 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
    assert!(!out.serial.contains("was not stopped"), "{}", out.serial);
}

/// A PVH domain that loops without a VM exit cannot keep the machine: the
/// scheduler's timer fires at its `timeout=` (its CPU-time limit, as for
/// a PV domain), and the INTR exit crashes it. A `maxmem=`
/// whose p2m cannot be had is refused at build time (not a heap failure),
/// and the refusal fails the run.
#[test]
fn a_spinning_pvh_domain_is_crashed_at_its_timeout_and_an_impossible_maxmem_is_refused() {
    let mut run = Run::new("pvh_spin");
    run.cmdline = "exit-success=always".into();
    run.modules = vec![pvh("name=spin mem=8M type=pvh timeout=1 spin"), pvh("name=huge mem=8M maxmem=64G type=pvh")];
    let out = run.boot();
    in_order(
        &out.serial,
        &[
            "domain 1: refused: not enough memory for its p2m; skipping it",
            "(d0) pvh-hello: spin: looping without an exit",
            "domain 0 crashed: ran past its 1 s timeout",
            "(XEN)   0    spin              crashed",
            "(XEN) Shutting down: failure (1 module was refused)",
        ],
    );
}

/// guest-kernel is one ELF with both entries (as Linux): the same binary
/// boots as the PV domain 0 and, with `type=pvh`, as a PVH domain 1 that
/// enters at its PHYS32 entry, writes its own page tables, and balloons
/// under nested paging. The two share the CPU: the PVH domain runs while
/// the PV one blocks in its story, which then goes on.
#[test]
fn the_same_guest_kernel_binary_boots_as_pv_and_as_pvh() {
    let gk = artifacts_dir().join("guest-kernel");
    let mut run = Run::new("pvh_guest_kernel");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=pv mem=32M", gk.display())),
        ModuleSpec::parse(&format!("{} name=pvh mem=16M type=pvh", gk.display())),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(XEN) domain 1 (pvh): PVH, 16 MiB, entry 0x2000",
            "(XEN) Starting domain 0 (pv)",
            "(d0) guest-kernel: started on Xen-compatible hypervisor 4.17",
            "(XEN) Starting domain 1 (pvh, PVH under SVM with nested paging)",
            "(d1) guest-kernel: PVH entry (32-bit, paging off) to long mode with its own page tables, on Xen 4.17",
            "(d1) guest-kernel: PVH start info at 0x",
            "(d1) guest-kernel: PVH balloon: 4000 pages, 4 out (4), 4 in (4), 4000 pages",
            "(d1) Test result: SUCCESS",
            "(XEN) domain 1 (pvh): PVH domain gone, 4005 of 4005 frames returned",
            "(XEN)   0    pv                poweroff",
            "(XEN)   1    pvh               poweroff          4005 of 4005 (PVH)",
            "(XEN) Shutting down: success",
        ],
    );
    // The two share the CPU: which ends first depends on the timing.
    in_order(&out.serial, &["(XEN) Starting domain 1", "(d0) Test result: SUCCESS", "(XEN)   0    pv "]);
}
