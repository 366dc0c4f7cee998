//! QEMU tests of a PVH guest's grant table (issue 15, "the hypercalls you
//! already have, on guest frame numbers"): its table frame placed in its
//! physmap with `XENMAPSPACE_grant_table`, `setup_table` naming that guest
//! frame, an entry written through it, a `GNTTABOP_copy` between its own
//! guest frames, and refusals with Xen's status or errno; then grants
//! shared both ways with a PV domain 0 (guest-kernel), under nested and
//! shadow paging, and a PVH guest reading a grant's guest frame after its
//! unmap. The invariant checker runs throughout and after the teardowns.
//! xen-core's checks alone: Xen 4.17 here cannot run a PVH domU.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, in_order, pvh_hello as pvh, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn guest_kernel(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

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
            "(d0) pvh-hello: grants: copy from gfn 0xfffffffff -> -9, grant frame 4 -> -22, map_grant_ref without flags -> 0 status -3",
            "(d0) Test result: SUCCESS",
        ],
    );
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}

/// Both ways between a PV domain 0 and a PVH domain 1 (`paging`: the PVH
/// domain's mode). Domain 0 grants a page (guest-kernel's `share`): the
/// PVH guest maps it at a guest frame it ballooned out, writes a message
/// through its own page tables, reads domain 0's answer the same way,
/// copies ref 9 out and back and unmaps; bad maps and unmaps get Xen's
/// status. Then the PVH guest grants two of its pages by guest frame
/// (`pvhshare`): domain 0 maps one at a VA and reads the PVH guest's
/// marker, writes an answer through it, copies the other out and back,
/// and unmaps; the PVH guest sees both answers and revokes.
fn shared_both_ways(paging: &str) {
    let mut run = Run::new(&format!("pvh_grants_both_ways_{}", if paging.is_empty() { "nested" } else { "shadow" }));
    run.cmdline = "check=10".into();
    run.modules = vec![
        guest_kernel("name=pv mem=32M share pvhshare"),
        pvh(&format!("name=pvh mem=16M type=pvh {paging} gmap gshare")),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let mode = if paging.is_empty() { "nested" } else { "shadow" };
    in_order(
        &out.serial,
        &[
            &format!("(XEN) Starting domain 1 (pvh, PVH under SVM with {mode} paging)"),
            "(d1) pvh-hello: gmap: refused: contains_pte -1, device_map -1, gfn 0xfffffffff -1, ref 10 (not granted) -1, \
             over the mapping -1",
            "(d1) pvh-hello: gmap: mapped domain 0's ref 8 at gfn 0x",
            "dev_bus_addr 0x0)",
            "tries and wrote a message through my page tables",
            "(d1) pvh-hello: gmap: read domain 0's ack through the mapping, copied ping from ref 9 and pong back; \
             unmap_and_replace -1, unmap at the next gfn -1, unmap 0, again -4",
            "(d1) pvh-hello: gshare: granted gfn 0x",
            "(d1) pvh-hello: gshare: domain 0 wrote \"dom0-saw\" into gfn 0x",
            "(d1) Test result: SUCCESS",
        ],
    );
    in_order(
        &out.serial,
        &[
            "(d0) guest-kernel: step 5a: domain 1 wrote \"hello dom0, from dom1 via ref 8\" into the shared page",
            "(d0) guest-kernel: step 5a: grant copy round trip: ref 9 now holds \"pong-d1\" in place of \"ping-d0\"",
            "(d0) guest-kernel: step 5a: domain 1 unmapped; refs 8 and 9 revoked",
            "(d0) guest-kernel: pvhshare: mapped PVH domain 1's ref 8 (frame 0x",
            "it reads \"pvh page, granted by gfn\"",
            "(d0) guest-kernel: pvhshare: wrote \"dom0-saw\" through the mapping, copied \"pvh-copy\" out of ref 9 and \
             \"dom0-cpy\" back in; unmapped ref 8",
            "(d0) Test result: SUCCESS",
        ],
    );
    in_order(&out.serial, &["(XEN)   0    pv                poweroff", "(XEN)   1    pvh               poweroff"]);
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}

#[test]
fn a_pv_domain_0_and_a_pvh_domain_map_and_copy_each_others_grants_under_nested_paging() {
    shared_both_ways("");
}

#[test]
fn a_pv_domain_0_and_a_pvh_domain_map_and_copy_each_others_grants_under_shadow_paging() {
    shared_both_ways("paging=shadow");
}

/// A PVH guest reads the guest frame of a grant it has unmapped: the
/// nested page fault (shadowed: the shadow fault, so no shadow entry
/// survived the unmap) crashes it, and only it; domain 0, whose grant it
/// was, finishes its sharing step (the grant is no longer in use) and
/// succeeds.
fn stale_read(paging: &str, crash: &str) {
    let mut run = Run::new(&format!("pvh_grants_stale_{}", if paging.is_empty() { "nested" } else { "shadow" }));
    run.cmdline = "check=10".into();
    run.modules =
        vec![guest_kernel("name=pv mem=32M share"), pvh(&format!("name=bad mem=16M type=pvh {paging} gmap gstale"))];
    run.expected_guests = 2;
    let out = run.boot();
    in_order(
        &out.serial,
        &[
            "(d1) pvh-hello: gmap: read domain 0's ack through the mapping",
            "(d1) pvh-hello: gstale: reading gfn 0x",
            crash,
        ],
    );
    assert!(!out.serial.contains("read of an unmapped grant went through"), "{}", out.serial);
    in_order(
        &out.serial,
        &["(d0) guest-kernel: step 5a: domain 1 unmapped; refs 8 and 9 revoked", "(d0) Test result: SUCCESS"],
    );
    in_order(&out.serial, &["(XEN)   0    pv                poweroff", "(XEN)   1    bad               crashed"]);
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}

#[test]
fn a_pvh_guest_cannot_read_a_grant_after_unmapping_it_under_nested_paging() {
    stale_read("", "domain 1 crashed: nested page fault at gpa 0x");
}

#[test]
fn a_pvh_guest_cannot_read_a_grant_after_unmapping_it_under_shadow_paging() {
    stale_read("paging=shadow", "domain 1 crashed: page fault at ");
}
