//! Typed hypercall wrappers for guest kernels: requests in, `Result` out.
//!
//! There is one wrapper (or a few, one per sub-command) for every hypercall
//! xen-core implements. Arguments are the ABI's types: [`Mfn`](crate::Mfn),
//! [`Pfn`](crate::Pfn), [`GuestVa`](crate::GuestVa), [`Pte`](crate::pagetable::Pte)
//! and the `#[repr(C)]` structures of this crate; failures are the
//! hypervisor's [`Errno`].
//!
//! Calls that only read hypervisor state, or write into buffers borrowed
//! here, are safe functions. Calls that change the guest's own page tables,
//! descriptor tables, trap handlers, callbacks or segment bases, or give
//! memory away, can break the guest's memory safety (unmapping its stack,
//! pointing a handler at data), so they are `unsafe fn` with the rule to
//! keep under `# Safety`, like mapping functions in any kernel. The
//! `guest-rt` crate wraps the common cases safely (an owned free frame can
//! be remapped or given back without `unsafe`).
//!
//! The [guide](crate::guide) explains the rules behind the errno values.
//!
//! # Example: a minimal PV guest
//!
//! With the `guest-rt` runtime of this repository (which supplies the ELF
//! notes, entry point, stack, panic handler, console macros and linker
//! script):
//!
//! ```ignore
//! #![cfg_attr(target_os = "none", no_std, no_main)]
//! use abi::{guest, DomId};
//! use guest_rt::{println, Boot};
//!
//! guest_rt::guest! { name: "hello", main: start }
//!
//! fn start(boot: Boot) -> ! {
//!     let (major, minor) = guest::version();
//!     println!("hello from a PV guest on {major}.{minor}: '{}'", boot.cmdline());
//!     println!("{} pages", guest::current_reservation(DomId::SELF).unwrap_or(0));
//!     guest_rt::poweroff()
//! }
//! ```
//! `guests/template` is the same as a complete crate, and `guest-kernel`
//! the full worked example.

mod cpu;
mod events;
mod grant;
mod memory;
mod system;
mod time;

pub use cpu::*;
pub use events::*;
pub use grant::*;
pub use memory::*;
pub use system::*;
pub use time::*;

use super::hypercall5;
use crate::hypercall::HypercallNr;
use crate::Errno;

fn call(nr: HypercallNr, a: [u64; 5]) -> Result<u64, Errno> {
    // SAFETY: the callers in this module pass only arguments valid for
    // `nr`: values, or pointers to live buffers of the type the hypercall
    // expects; callers whose effect the type system cannot contain are
    // `unsafe fn` themselves.
    Errno::from_rax(unsafe { hypercall5(nr.0, a[0], a[1], a[2], a[3], a[4]) })
}

/// A batch that stopped early: the error and how many requests were done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// The failing request's error.
    pub errno: Errno,
    /// Requests completed before it.
    pub done: u32,
}

impl core::fmt::Display for BatchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} after {} requests", self.errno, self.done)
    }
}
