//! guest-kernel: a small paravirtualized kernel for xen-core (and Xen).
//!
//! It tells its start-of-day story on the console, one line per step:
//! banner, trap table, new page tables built through `mmu_update` (direct
//! paging), the switch to them, a deliberate page fault fixed up by its own
//! handler, ballooning, sharing a page with another domain through grant
//! tables, its uptime and a few sleeps in `SCHEDOP_block` on its single-shot
//! timer, two user tasks making system calls in ring 3
//! (switched by its own scheduler), and a clean shutdown.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
mod balloon;
#[cfg(target_os = "none")]
mod console_keys;
#[cfg(target_os = "none")]
mod evtchn_demo;
#[cfg(target_os = "none")]
mod isolation_modes;
// The PVH entry (one ELF with both notes, as Linux): its own hardware glue.
#[cfg(target_os = "none")]
mod modes;
#[cfg(target_os = "none")]
mod pv_modes;
#[cfg(target_os = "none")]
// Its 32-bit entry (`global_asm!`) and the `#[no_mangle]` functions that
// entry and its #PF gate call; no `unsafe` blocks (those are in
// `guest_kernel::arch::x86_64::pvh`).
#[allow(unsafe_code)]
mod pvh;
#[cfg(target_os = "none")]
mod pvh_probe;
#[cfg(target_os = "none")]
mod ring_test;
#[cfg(target_os = "none")]
mod sharing;
#[cfg(target_os = "none")]
mod story;
#[cfg(target_os = "none")]
mod timekeeping;

// Every domain but domain 0 prints through its console ring from the
// first line on (domain 0 keeps console_io).
#[cfg(target_os = "none")]
guest_rt::guest! { name: "guest-kernel", main: |boot| {
    let ring = guest_rt::console_ring::use_ring(&boot);
    story::run(boot.start_info(), ring)
} }

// The trap stubs (guest_kernel::arch) call this by name.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
#[no_mangle]
fn pv_page_fault() -> bool {
    story::page_fault()
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-kernel is a PV guest: build it with `--target x86_64-unknown-none`.");
    std::process::exit(2);
}
