//! Assertions over a serial log shared by the QEMU tests.

/// Panics unless every needle appears in `log`, each after the previous one.
pub fn in_order(log: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        let at =
            log[from..].find(needle).unwrap_or_else(|| panic!("serial log lacks {needle:?} after byte {from}:\n{log}"));
        from += at + needle.len();
    }
}

/// A `guests/pvh-hello` module with `cmdline` (its `type=pvh` included by
/// the caller, so the same helper serves both paging modes).
pub fn pvh_hello(cmdline: &str) -> xen_tools::iso::ModuleSpec {
    xen_tools::iso::ModuleSpec::parse(&format!("{} {cmdline}", crate::artifacts_dir().join("pvh-hello").display()))
}
