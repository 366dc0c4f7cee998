//! QEMU tests of event channels between domains: the demo's ping-pong is
//! in `guests.rs`; here `VIRQ_DOM_EXC` reaching domain 0 when another
//! domain ends.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;

fn guest(cmdline: &str) -> ModuleSpec {
    ModuleSpec::parse(&format!("{} {cmdline}", artifacts_dir().join("guest-kernel").display()))
}

#[test]
fn domain_0_gets_virq_dom_exc_when_another_domain_shuts_down() {
    let mut run = Run::new("virq_dom_exc");
    run.modules = vec![guest("name=waiter mem=16M wait-dom-exc"), guest("name=quick mem=16M")];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    let bound = out.serial.find("(d0) evtchn: VIRQ_DOM_EXC bound to port 1").expect("bound");
    let ended = out.serial.find("(XEN) domain 1 (quick) shut down: poweroff").expect("domain 1 ended");
    let got = out.serial.find("(d0) evtchn: VIRQ_DOM_EXC received on port 1").expect("domain 0 was told");
    assert!(bound < ended && ended < got, "{}", out.serial);
}
