//! The xen-core binary. Everything lives in the library; the bare-metal entry
//! point (`_start32`) is in `arch::x86_64::boot32`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use xen_core as _;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("xen-core is a bare-metal hypervisor: build it with `--target x86_64-unknown-none` (see README.md).");
    std::process::exit(2);
}
