//! The side-by-side benchmark guest: one PV kernel, written only against
//! `abi`, that runs as domain 0 on xen-core and on Xen 4.17 and times every
//! PV operation of issue 13's table (and issue 9's) with RDTSC. Under QEMU
//! `-icount shift=0` the TSC counts executed instructions, guest and
//! hypervisor alike, so each figure is a path length; under plain TCG it is
//! host time.
//!
//! Output, one line per operation (`tools::bench` parses it):
//! ```text
//! bench-start platform=xen-core iterations=101 overhead=6
//! bench-row key=xen_version median=151 min=151 max=160 n=101 per=1
//! bench-row key=multicall_2 n/a=-ENOSYS
//! bench-boot entry=34012345 end=35012345
//! Test result: SUCCESS
//! ```
//! Figures are per `per` units (PTEs, pages, entries) with the empty
//! region's cost subtracted.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod events;
#[cfg(target_os = "none")]
mod fixture;
#[cfg(target_os = "none")]
mod grant_rows;
#[cfg(target_os = "none")]
mod ops;
#[cfg(target_os = "none")]
mod stats;

#[cfg(target_os = "none")]
guest_rt::guest! { name: "bench-guest", main: |boot| ops::run(boot.start_info()) }

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the bench guest is a PV kernel: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}
