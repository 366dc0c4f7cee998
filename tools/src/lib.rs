//! Host tools for xen-core: the GRUB ISO builder and the QEMU runner.
//!
//! Both are libraries first (the test harness uses them) with thin command
//! line front ends in `src/bin/`.

pub mod conformance;
pub mod iso;
pub mod qemu;
