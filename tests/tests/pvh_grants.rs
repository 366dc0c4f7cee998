//! QEMU tests of a PVH guest's grant table (issue 15, "the hypercalls you
//! already have, on guest frame numbers"): its table frame placed in its
//! physmap with `XENMAPSPACE_grant_table`, `setup_table` naming that guest
//! frame, an entry written through it, a `GNTTABOP_copy` between its own
//! guest frames, and refusals with Xen's status or errno; the invariant
//! checker runs throughout and after its teardown. xen-core's checks
//! alone: Xen 4.17 here cannot run a PVH domU.
#![cfg(feature = "qemu")]

use xen_tests::{in_order, pvh_hello as pvh, Run, Verdict};

#[test]
fn a_pvh_guest_maps_its_grant_frame_at_a_guest_frame_and_copies_between_its_guest_frames() {
    let mut run = Run::new("pvh_grants");
    run.cmdline = "check=10".into();
    run.modules = vec![pvh("name=pvh mem=16M type=pvh grants")];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (pvh, PVH under SVM with nested paging)",
            "(d0) pvh-hello: grants: 1 of 4 frames, frame 0 at gfn 0x",
            "copy status 0, bytes match",
            "(d0) pvh-hello: grants: copy from gfn 0xfffffffff -> -9, grant frame 4 -> -22, map_grant_ref -> -38",
            "(d0) Test result: SUCCESS",
        ],
    );
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}
