//! The harness types debug keys at a guest's cue (`Run::keys_on`, what the
//! Linux tests use to see the balloon in the hypervisor's memory table).
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;
use xen_tools::keys::KeysOn;

#[test]
fn the_memory_table_key_typed_at_the_guests_cue_shows_its_ballooned_reservation() {
    let mut run = Run::new("keys_on_balloon");
    run.modules = vec![ModuleSpec::parse(&format!(
        "{} name=demo0 mem=32M balloon=8M,32M",
        artifacts_dir().join("guest-kernel").display()
    ))];
    run.expected_guests = 1;
    run.keys_on = vec![KeysOn::parse("balloon: target 8 MiB: gave back=m").unwrap()];
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let down = out.serial.find("(d0) balloon: target 8 MiB").expect("ballooned down");
    let table = out.serial[down..].find("(XEN) 'm' pressed: memory of each domain").map(|at| down + at);
    // The guest does not wait for the key, so the table may come after
    // its next step: it must come after the cue, with the domain's row.
    let table = table.unwrap_or_else(|| panic!("no memory table after the cue:\n{}", out.serial));
    let row = out.serial[table..].lines().nth(1).unwrap_or_default();
    assert!(row.contains("domain 0 (demo0): ") && row.contains("pages now, at most 8192"), "{row:?}");
}
