//! Host tools for xen-core: the GRUB ISO builder, the direct (`-kernel`) boot
//! checks, the QEMU runner and the verdict rules, and the Linux guest's
//! initramfs (a newc cpio writer) and Xen 4.17 reference boot.
//!
//! Both are libraries first (the test harness uses them) with thin command
//! line front ends in `src/bin/`.

pub mod bench;
pub mod bzimage;
pub mod conformance;
pub mod cpio;
pub mod direct;
pub mod initramfs;
pub mod iso;
pub mod keys;
pub mod linux;
pub mod modes;
pub mod qemu;
pub mod verdict;
pub mod xen_ref;
