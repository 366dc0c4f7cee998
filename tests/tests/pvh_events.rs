//! QEMU tests of PVH domains scheduled beside PV ones (issue 15): one
//! scheduler for both, interdomain event channels between a PVH and a PV
//! domain in both directions, VIRQ_TIMER upcalls on a PVH guest's
//! `HVM_PARAM_CALLBACK_IRQ` vector, and a hostile PVH guest's bad ports and
//! frames. xen-core's checks alone: Xen 4.17 here cannot run a PVH domU.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, in_order, pvh_hello as pvh, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn guest_kernel(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

/// PV domain 0 (guest-kernel) binds to the PVH domain 1's unbound port
/// and pings it three times; the PVH guest, waiting in HLT, gets each ping
/// as an upcall on its callback vector (EVENTINJ) and answers. The two
/// run at the same time: each ping is answered while the PV domain waits,
/// and each pong reaches the PV domain while the PVH one waits. Then the
/// PVH guest takes three VIRQ_TIMER upcalls from set_timer_op, each after
/// its deadline.
#[test]
fn a_pvh_and_a_pv_domain_ping_pong_over_an_interdomain_channel_and_the_pvh_one_gets_virq_timer() {
    let mut run = Run::new("pvh_events_pingpong");
    run.modules = vec![guest_kernel("name=pv mem=32M ping=1:1,3"), pvh("name=pvh mem=16M type=pvh pong=0,3 timer=3")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(XEN) Starting domain 0 (pv)",
            "(XEN) Starting domain 1 (pvh, PVH under SVM with nested paging)",
            "(d1) pvh-hello: events: shared_info at gfn 0x",
            "(d1) pvh-hello: events: an upcall held while IF was clear came after STI (",
            "(d1) pvh-hello: evtchn: port 1 open for domain 0; answering 3 pings",
            "(d0) evtchn: bound local port",
            "to domain 1 port 1; 3 pings",
            "(d1) pvh-hello: evtchn: ping 1 arrived, pong 1 sent on port 1",
            "(d0) evtchn: ping 1: pong received on port",
            "(d1) pvh-hello: evtchn: ping 2 arrived, pong 2 sent on port 1",
            "(d0) evtchn: ping 2: pong received on port",
            "(d1) pvh-hello: evtchn: ping 3 arrived, pong 3 sent on port 1",
            "(d0) evtchn: ping 3: pong received on port",
        ],
    );
    in_order(
        &out.serial,
        &[
            "(d1) pvh-hello: evtchn: ping-pong done: 3 round trips",
            "(d1) pvh-hello: VIRQ_TIMER: 3 timer upcalls on port 2, each after its 2 ms deadline",
            "(d1) Test result: SUCCESS",
            "event upcalls injected on its callback vector",
            "(XEN) domain 1 (pvh): PVH domain gone, 4005 of 4005 frames returned",
        ],
    );
    in_order(&out.serial, &["(d0) evtchn: ping-pong done: 3 round trips", "(d0) Test result: SUCCESS"]);
    in_order(&out.serial, &["(XEN)   0    pv                poweroff", "(XEN)   1    pvh               poweroff"]);
}

/// A hostile PVH guest names a bad port, a missing domain, domain 0's
/// ports and physmap, and frames outside its p2m, while domain 0 is alive
/// (it waits for the PVH guest's pong, which comes after): each gets Xen's
/// errno, domain 0's channel still works, and both succeed. The invariant
/// checker runs every 10 PV hypercalls while the PVH domain is alive (its
/// p2m's references counted) and after its teardown.
#[test]
fn a_pvh_guest_naming_bad_ports_domains_and_frames_gets_errno_and_cannot_touch_domain_0() {
    let mut run = Run::new("pvh_events_hostile");
    run.cmdline = "check=10".into();
    run.modules = vec![guest_kernel("name=pv mem=32M ping=1:1,1"), pvh("name=bad mem=8M type=pvh evbad pong=0,1")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    in_order(
        &out.serial,
        &[
            "(d1) pvh-hello: events: an upcall held while IF was clear came after STI (",
            "(d1) pvh-hello: evbad: send 999 -> -22, bind to domain 7 -> -3, to domain 0's port 1 -> -22, \
             alloc_unbound for domain 0 -> -1, status of domain 0's port 1 -> -1, vcpu_info at gfn 0xfffffffff -> -22, \
             shared_info there -> -22, domain 0's shared_info -> -1",
            "(d1) pvh-hello: evtchn: ping 1 arrived, pong 1 sent on port 1",
            "(d1) Test result: SUCCESS",
        ],
    );
    in_order(&out.serial, &["(d0) evtchn: ping 1: pong received on port", "(d0) Test result: SUCCESS"]);
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}
