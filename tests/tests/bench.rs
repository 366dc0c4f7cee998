//! QEMU test of the bench guest (tests/bench) on xen-core: every row runs
//! and is measured (no figures are checked: speed is `make bench`'s job,
//! never a test's).
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::bench::{parse_run, Outcome};
use xen_tools::iso::ModuleSpec;

/// Rows xen-core must measure (issue 13's table, issue 9's rows, events
/// and grants).
const MEASURED: &[&str] = &[
    "xen_version",
    "xen_version_syscall",
    "xen_version_int82",
    "xen_version_vmcall",
    "enosys",
    "multicall_2",
    "mmu_update_1",
    "mmu_update_512",
    "pin_l1_empty",
    "pin_l1_ro_per_entry",
    "pin_l1_rw_per_entry",
    "tlb_flush_after_unpin",
    "uvm_invlpg",
    "tlb_flush_local",
    "decrease_reservation_64",
    "populate_physmap_64",
    "bounce_ud2",
    "bounce_int3",
    "user_syscall",
    "rdmsr_pat",
    "grant_map_unmap",
    "grant_copy",
    "evtchn_send",
    "evtchn_upcall",
];

#[test]
fn the_bench_guest_measures_every_row_as_domain_0() {
    let mut run = Run::new("bench_guest");
    run.memory_mib = 512;
    run.modules = vec![ModuleSpec::parse(&format!(
        "{} name=bench mem=64M hcall-ext=int82,vmcall",
        artifacts_dir().join("bench").display()
    ))];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let bench = parse_run(&out.serial);
    assert_eq!(bench.platform, "xen-core");
    assert!(bench.overhead.is_some_and(|o| o > 0), "the empty region's cost is printed");
    for key in MEASURED {
        assert!(
            matches!(bench.get(key), Some(Outcome::Measured(_))),
            "row {key}: {:?}\n{}",
            bench.get(key),
            out.serial
        );
    }
    assert!(bench.guest_entry.is_some() && bench.hv_entry.is_some(), "the boot figures are printed");
}
