//! The hypercall conformance suite: one PV guest, written only against
//! `abi`, that calls every implemented hypercall with valid and hostile
//! arguments and checks the exact return value (and the effect, where one
//! is visible). Expected values are Xen 4.17's, from the fact sheet; a case
//! where xen-core deliberately differs says so (`DIFF`) and `abi`'s docs
//! explain why.
//!
//! It runs as domain 0, like the reference run on Xen. Each case prints one
//! line `[Cnnn] name: want X got Y ok|FAIL`, then the suite prints
//! `N passed, N failed` and `Test result:`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod cases;

#[cfg(target_os = "none")]
pub use cases::run;

#[cfg(target_os = "none")]
guest_rt::guest! { name: "conformance", main: |boot| cases::run(boot.start_info()) }

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the conformance suite is a PV guest: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}
