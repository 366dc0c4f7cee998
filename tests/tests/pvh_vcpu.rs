//! QEMU tests of a PVH vCPU's own hypercalls (issue 15, "the hypercalls
//! you already have" and the upcall): the per-vCPU upcall vector
//! (`HVMOP_set_evtchn_upcall_vector`, advertised in CPUID 0x40000004)
//! carrying single-shot and periodic `vcpu_op` timers' `VIRQ_TIMER`, the
//! runstate read and a registered runstate area rewritten after a block,
//! a multicall of two `xen_version` calls, and Xen's errno for bad
//! arguments; the invariant checker throughout and after its teardown.
//! xen-core's checks alone: Xen 4.17 here cannot run a PVH domU (its PVH
//! dom0 answers are compared by hand, see the README's PVH lines).
#![cfg(feature = "qemu")]

use xen_tests::{in_order, pvh_hello as pvh, Run, Verdict};

#[test]
fn a_pvh_vcpus_timers_fire_through_its_per_vcpu_vector_and_its_runstate_and_multicall_work() {
    vcpu_ops("pvh_vcpu", "", "nested");
}

/// The same under shadow paging: the runstate area is reached through the
/// guest's own tables as the shadow code tracks them.
#[test]
fn the_same_vcpu_hypercalls_work_under_shadow_paging() {
    vcpu_ops("pvh_vcpu_shadow", " paging=shadow", "shadow");
}

fn vcpu_ops(name: &str, paging: &str, mode: &str) {
    let mut run = Run::new(name);
    run.cmdline = "check=10".into();
    run.modules = vec![pvh(&format!("name=pvh mem=16M type=pvh vcpuops{paging}"))];
    run.expected_guests = 1;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let start = format!("(XEN) Starting domain 0 (pvh, PVH under SVM with {mode} paging)");
    in_order(
        &out.serial,
        &[
            &start,
            "(d0) pvh-hello: vcpu: CPUID 0x40000004 eax 0x58 ebx 0 ecx 0",
            "(d0) pvh-hello: vcpu: single-shot timer on vector 0xf4 after its deadline: true; \
             a past one with VCPU_SSHOTTMR_future -> 0, fired",
            "(d0) pvh-hello: vcpu: periodic timer (1 ms): 3 ticks in ",
            "a 999999 ns period -> -22;",
            "(d0) pvh-hello: vcpu: runstate state 0 entered at ",
            "(d0) pvh-hello: vcpu: runstate area: entry ",
            "(d0) pvh-hello: vcpu: multicall -> 0: xen_version 0x40011, pagesize 4096, nested multicall -22",
            "(d0) pvh-hello: vcpu: multicall of 2500 entries -> 0: 2500 results right, ",
            "(d0) pvh-hello: vcpu: multicall at unmapped va -> -14, is_up(0) 1, is_up(1) -2, get_physid -22, \
             initialise -17, vm_assist(runstate_update_flag) 0, vm_assist(2) -22, flush_tlbs 0/-22, \
             upcall vector 0x0f -> -22, vCPU 1 -> -2",
            "(d0) Test result: SUCCESS",
        ],
    );
    assert!(out.serial.contains(" 0 violations; frames leaked: 0"), "{}", out.serial);
}
