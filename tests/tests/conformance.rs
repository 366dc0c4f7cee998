//! The hypercall conformance suite on xen-core, as domain 0 and as an
//! unprivileged domain.
#![cfg(feature = "qemu")]

use xen_tests::{artifacts_dir, Run, Verdict};
use xen_tools::iso::ModuleSpec;

#[test]
fn conformance_suite_passes_as_domain_0_and_as_an_unprivileged_domain() {
    let suite = artifacts_dir().join("conformance");
    let mut run = Run::new("conformance");
    run.modules = vec![
        ModuleSpec::parse(&format!("{} name=conformance-dom0 mem=32M", suite.display())),
        ModuleSpec::parse(&format!("{} name=conformance-domU mem=32M", suite.display())),
    ];
    run.expected_guests = 2;
    let out = run.boot();
    assert_eq!(out.verdict, Verdict::Pass, "{}", out.serial);
    for d in ["(d0)", "(d1)"] {
        let summary = out
            .serial
            .lines()
            .find_map(|l| l.strip_prefix(d).and_then(|r| r.trim().strip_suffix(" failed")))
            .unwrap_or_else(|| panic!("{d} printed no summary:\n{}", out.serial));
        let (passed, failed) = summary.split_once(" passed, ").expect("N passed, N failed");
        let (passed, failed): (u32, u32) = (passed.parse().unwrap(), failed.parse().unwrap());
        assert_eq!(failed, 0, "{}", out.serial);
        assert!(passed >= 150, "only {passed} cases");
    }
    assert!(!out.serial.contains(" FAIL"), "{}", out.serial);
}
