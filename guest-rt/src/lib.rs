//! # guest-rt: the runtime every in-tree PV guest is built on
//!
//! A 64-bit Xen PV guest kernel needs the same boilerplate whatever it
//! does: the Xen ELF notes the loader checks, an entry point that takes
//! start_info from RSI and moves off the one-page boot stack, a panic
//! handler, console output, a linker script placing the image at a fixed
//! virtual address, and a way to keep the crate building on the host so
//! `cargo test --workspace` and clippy keep working. This crate is all of
//! that, plus typed access to the start-of-day memory (start_info, the p2m
//! list, the M2P, frames free for use) and safe wrappers for the page-table
//! work whose safety can be stated in types.
//!
//! A guest is a binary crate that depends on this crate and on `abi`, sets
//! `build = "<path to>/guest-rt/guest-build.rs"` in its Cargo.toml and
//! invokes [`guest!`] once:
//!
//! ```ignore
//! #![cfg_attr(target_os = "none", no_std, no_main)]
//! use guest_rt::{println, Boot};
//!
//! guest_rt::guest! { name: "hello", main: start }
//!
//! fn start(boot: Boot) -> ! {
//!     println!("hello from a PV guest, {} pages", boot.start_info().nr_pages);
//!     guest_rt::poweroff()
//! }
//! ```
//!
//! `guests/template` in the repository is a complete guest in under 60
//! lines; `make new-guest NAME=foo` copies it. The ABI itself (what each
//! hypercall does, the start-of-day layout, the memory rules and their
//! errno values) is documented in the `abi` crate and its guide module.
//!
//! ## What the runtime provides
//!
//! * **Notes** ([`guest!`], [`notes`]): `XEN_VERSION` = `"xen-3.0"`,
//!   `LOADER` = `"generic"`, `VIRT_BASE` = [`VIRT_BASE`], `PADDR_OFFSET` = 0,
//!   `ENTRY` = the runtime's `_start`, `HYPERCALL_PAGE` = the page the
//!   linker script reserves, always emitted; the guest names itself
//!   (`GUEST_OS`, checked at compile time).
//! * **Entry and stack**: `_start` records the TSC ([`entry_tsc`]),
//!   switches to a [`STACK_SIZE`]-byte stack in `.bss`, checks the
//!   start_info magic and calls the guest's `main` with a [`Boot`].
//! * **Panics** print `panic: <message>` and `Test result: ERROR` on the
//!   console, then shut the domain down with `SHUTDOWN_crash`.
//! * **Console**: [`print!`] and [`println!`] write through
//!   [`console::write_bytes`], a line per hypercall (`console_io`), or
//!   through a sink installed with [`console::set_sink`];
//!   [`console_ring::use_ring`] installs the console ring start_info names
//!   (every domain but domain 0 has one), a line per ring notification.
//! * **Linker script**: `pv-guest.ld`, put on the link search path by this
//!   crate's build script and selected by `guest-build.rs`.
//! * **Memory**: [`Boot`] (start_info, p2m, M2P, the [`boot::Layout`]),
//!   owned free [`Frame`]s, [`mm::walk`], [`mm::map_frame`],
//!   [`mm::balloon_out`].
//! * **Host builds**: on a target with an OS the crate has no entry, panic
//!   handler or notes, and [`guest!`] expands to a `main` that explains how
//!   to build the guest, so a guest crate in the workspace builds, tests and
//!   lints on the host like any other.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[allow(unsafe_code)]
mod arch;
pub mod boot;
pub mod console;
pub mod console_ring;
pub mod mm;
pub mod notes;

pub use boot::{Boot, Frame};

/// Where the linker script places every guest image (the top 2 GiB of the
/// address space, as Linux does). Also the `VIRT_BASE` note.
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Bytes of the stack `_start` switches to (the hypervisor's boot stack is
/// one page).
pub const STACK_SIZE: usize = 128 << 10;

/// The time-stamp counter when the guest's first instruction ran (`_start`
/// reads it before anything else). Under QEMU `-icount shift=0` it is the
/// number of instructions executed since reset, firmware and hypervisor
/// included.
pub fn entry_tsc() -> u64 {
    arch::entry_tsc()
}

/// Shuts the domain down with `SHUTDOWN_poweroff`.
pub fn poweroff() -> ! {
    abi::guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// Prints `Test result: SUCCESS` and powers off (the line the test
/// harness and `xen-run --verdicts` look for).
pub fn succeed() -> ! {
    crate::println!("Test result: SUCCESS");
    poweroff()
}

/// Prints `why` and `Test result: FAILURE`, then shuts down with
/// `SHUTDOWN_crash`.
pub fn fail(why: core::fmt::Arguments<'_>) -> ! {
    crate::println!("{why}");
    crate::println!("Test result: FAILURE");
    abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

#[doc(hidden)]
pub use abi as __abi;

#[cfg(test)]
mod tests {
    #[test]
    fn the_linker_script_places_the_image_at_virt_base() {
        let script = include_str!("../pv-guest.ld");
        let line = script.lines().find(|l| l.starts_with("VIRT_BASE = ")).expect("VIRT_BASE in pv-guest.ld");
        let hex = line.trim_start_matches("VIRT_BASE = 0x").trim_end_matches(';');
        assert_eq!(u64::from_str_radix(hex, 16), Ok(super::VIRT_BASE));
    }
}
