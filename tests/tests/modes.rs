//! QEMU tests of `make modes`' workload (issue 15 item 5): the same
//! guest-kernel ELF with `modes` under PV direct paging and as a PVH
//! domain under shadow and nested paging, each printing its rows and the
//! hypervisor the pure walk counter's replay. The figures themselves are
//! `make modes`' business; these check that every mode runs its rows and
//! that the counter sees each mode's walk shape.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;
use xen_tools::modes::parse;

fn boot(name: &str, module: &str) -> xen_tools::modes::ModeRun {
    let gk = artifacts_dir().join("guest-kernel");
    let mut run = Run::new(name);
    run.modules = vec![ModuleSpec::parse(&format!("{} {module}", gk.display()))];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    parse(&out.serial)
}

fn measured(r: &xen_tools::modes::ModeRun, op: &str) -> bool {
    r.rows.iter().any(|x| x.op == op && x.ticks.is_some())
}

/// The row's counter `name` per operation (0 if it did not count).
fn per_op(r: &xen_tools::modes::ModeRun, op: &str, name: &str) -> f64 {
    let row = r.rows.iter().find(|x| x.op == op).unwrap_or_else(|| panic!("no {op} row: {r:?}"));
    let n = row.counts.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v);
    n as f64 / row.ops.expect("the row's operation count") as f64
}

/// PV: hypercalls per table change and switch, 1-D walks of 4.
#[test]
fn the_modes_workload_runs_under_pv_with_one_d_walks() {
    let r = boot("modes_pv", "name=pv mem=32M modes");
    for op in ["pt-build", "pt-update", "fault", "switch", "balloon", "walk"] {
        assert!(measured(&r, op), "{op}: {r:?}");
    }
    assert_eq!(r.rows.iter().find(|x| x.op == "fault").and_then(|x| x.ops), Some(15 * 64));
    // The walk's first page is in one of the L1s the workload built.
    assert_eq!(r.walk_refs.as_deref(), Some("4 (Direct)"));
    // Counted by the guest: 6 hypercalls per 128 entries built and torn
    // down; one NEW_BASEPTR per switch between its two roots; the fault's
    // unmap and the handler's remap, and the bounce between them.
    assert_eq!(per_op(&r, "pt-build", "hcall"), 6.0 / 128.0);
    assert_eq!(per_op(&r, "switch", "hcall"), 1.0);
    assert_eq!((per_op(&r, "fault", "hcall"), per_op(&r, "fault", "trap")), (2.0, 1.0));
    assert_eq!(r.rows.iter().find(|x| x.op == "walk").and_then(|x| x.ops), Some(15 * 2048));
}

/// Shadow: the table writes and INVLPGs are emulated exits, the guest's
/// own faults reflected to it; the hardware walks 4 KiB shadows.
#[test]
fn the_modes_workload_runs_under_shadow_paging_with_its_table_writes_emulated() {
    let r = boot("modes_shadow", "name=pvh mem=32M type=pvh paging=shadow modes");
    for op in ["pt-build", "pt-update", "fault", "switch", "balloon", "walk"] {
        assert!(measured(&r, op), "{op}: {r:?}");
    }
    assert_eq!(r.walk_refs.as_deref(), Some("4 (Shadow)"));
    let shadow = r.shadow.clone().expect("the shadow end-of-run line");
    // 64·2·15 (pt-build) + 2·64·15 (pt-update, 64 a sample) + 2·64·15
    // (fault: the unmap and the handler's remap) + the PD slot and the
    // first root's slot for the second space; each fault reflected to the
    // guest's own handler.
    assert!(shadow.contains(" 960 reflected, 5762 page-table writes emulated, "), "{shadow}");
    // The hypervisor's own exit counts, per op: an INVLPG exit per INVLPG,
    // a CR exit per switch between the two roots (from the shadow cache).
    assert_eq!(per_op(&r, "pt-update", "invlpg"), 2.0);
    assert_eq!(per_op(&r, "switch", "cr"), 1.0);
    assert!(shadow.contains("(960 from the cache)"), "{shadow}");
}

/// Nested: no nested faults (and no shadow work); 2-D walks over the guest's 2 MiB
/// mapping, (3+1)(4+1)-1.
#[test]
fn the_modes_workload_runs_under_nested_paging_without_paging_exits_and_two_d_walks() {
    let r = boot("modes_nested", "name=pvh mem=32M type=pvh modes");
    for op in ["pt-build", "pt-update", "fault", "switch", "balloon", "walk"] {
        assert!(measured(&r, op), "{op}: {r:?}");
    }
    assert_eq!(r.walk_refs.as_deref(), Some("19 (Nested)"));
    let exits = r.exits.clone().expect("the exit-count line");
    // "other" may hold a timer interrupt's exit; none is a paging one.
    assert!(exits.contains(" 0 nested faults, "), "{exits}");
    // Per op: no exit for table writes, faults or switches; the balloon's
    // two hypercalls.
    for op in ["pt-build", "pt-update", "fault", "switch"] {
        let row = r.rows.iter().find(|x| x.op == op).expect("the row");
        assert!(row.counts.iter().all(|(k, _)| k == "host"), "{op}: {row:?}");
    }
    assert_eq!(per_op(&r, "balloon", "vmmcall"), 2.0);
}
