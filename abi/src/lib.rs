//! # The xen-core guest ABI
//!
//! This crate is the single source of truth for the interface between a
//! paravirtualized (PV) guest and the xen-core hypervisor. It is binary
//! compatible with the x86_64 PV ABI of Xen for the subset that xen-core
//! implements: hypercall numbers, errno values and `#[repr(C)]` structures
//! carry the same values, sizes and offsets as Xen's public headers. Every
//! structure has compile-time size and offset assertions, so a layout change
//! fails the build.
//!
//! Address kinds are kept apart by newtypes ([`Mfn`], [`Pfn`], [`GuestVa`],
//! [`DomId`]): a PV guest sees *machine* frame numbers directly and must
//! translate its pseudo-physical frames through its p2m list itself.
//!
//! ## Differences from Xen
//!
//! Where xen-core deliberately behaves differently from Xen 4.17, the item
//! concerned says so in a section headed **Difference from Xen**.
//! Hypercalls that xen-core does not implement return [`Errno::ENOSYS`].
//!
//! This crate is `no_std` and has no dependencies.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod console;
pub mod elfnote;
pub mod errno;
pub mod hypercall;
pub mod ids;
pub mod memory;
pub mod mmu;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
pub mod raw;
#[cfg(target_arch = "x86_64")]
pub use raw::guest;
pub mod sched;
pub mod shared_info;
pub mod start_info;
pub mod traps;
pub mod version;

pub use errno::Errno;
pub use ids::{DomId, GuestVa, Mfn, Pfn};

/// Size of a page and of a machine frame on x86_64.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// First virtual address reserved for the hypervisor in every PV address
/// space (start of L4 slot 256).
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// First virtual address after the hypervisor's reserved range (start of
/// L4 slot 272).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// Start of the read-only machine-to-physical table visible to guests.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the read-only machine-to-physical table.
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// First L4 slot owned by the hypervisor.
pub const HYPERVISOR_L4_FIRST_SLOT: usize = 256;
/// Last L4 slot owned by the hypervisor (inclusive).
pub const HYPERVISOR_L4_LAST_SLOT: usize = 271;
