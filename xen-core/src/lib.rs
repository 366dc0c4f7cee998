//! xen-core: a Xen-compatible paravirtualizing microhypervisor for x86_64.
//!
//! The crate is split into a pure core and a thin architecture shell:
//!
//! * [`boot`], [`mm`] and [`util`] are plain Rust with no hardware access.
//!   They are unit- and property-tested on the host with `cargo test`.
//! * [`arch`] holds everything that touches the machine: boot assembly,
//!   descriptor tables, paging hardware, the serial port and QEMU's exit
//!   device. It is the only place where `unsafe` is allowed.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

// Boot-time code (domain building) uses the heap; hypercall paths never do.
extern crate alloc;

pub mod boot;
pub mod console;
pub mod domain;
pub mod emulate;
pub mod event;
pub mod grant;
pub mod hvm;
pub mod hypercall;
pub mod lazy_switch;
pub mod mm;
pub mod p2m;
pub mod sched;
pub mod scheduler;
pub mod shadow;
pub mod time;
pub mod util;
pub mod verdict;

#[allow(unsafe_code)]
pub mod arch;

#[cfg(target_os = "none")]
pub mod start;

/// The hypervisor's version, as printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
