//! Host tools for xen-core: the GRUB ISO builder, the direct (`-kernel`) boot
//! checks, the QEMU runner and the verdict rules.
//!
//! Both are libraries first (the test harness uses them) with thin command
//! line front ends in `src/bin/`.

pub mod bench;
pub mod bzimage;
pub mod conformance;
pub mod direct;
pub mod iso;
pub mod qemu;
pub mod verdict;
pub mod xen_ref;
