//! x86_64 hardware glue.
//!
//! Bare-metal only: `boot32` (multiboot1 and multiboot2 headers, 32-bit
//! entry, long-mode switch), `boot_clock` (TSC marks for the boot figure),
//! `boot_vector` (the boot's bulk fills in SSE2/AVX stores, boot only),
//! `cpu` (control registers, CPUID, port I/O), `serial`, `gdt`,
//! `idt` and `exception` (exception entry and dump), `gpr_save` (the
//! stubs' one general-register save and restore), `fast_paths` (the
//! exception bounce and `iret` round trip's short paths), `syscall_fast`
//! (the SYSCALL entry's -ENOSYS and `iret` in assembly), `evtchn_fast`
//! (`EVTCHNOP_send` and its upcall on the way out), `debugregs` (the
//! guest's breakpoints in the hardware and #DB), `fpu` (FPU setup and
//! the FXSAVE/FXRSTOR switch), `paging` (the final
//! hypervisor page tables), `heap`, `qemu` (isa-debug-exit) and `setup`
//! (the order in which all of that is brought up), `svm` (SVM detection
//! and enabling), `unpack` (a bzImage's
//! payload decompressed into free frames for the domain builder).

pub mod multiboot;

#[cfg(target_os = "none")]
mod boot32;
#[cfg(target_os = "none")]
pub mod boot_clock;
#[cfg(target_os = "none")]
mod boot_vector;
#[cfg(target_os = "none")]
mod console_rings;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
mod debugregs;
#[cfg(target_os = "none")]
mod domains;
#[cfg(target_os = "none")]
mod emul_platform;
#[cfg(target_os = "none")]
mod ending;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
mod events;
#[cfg(target_os = "none")]
mod evtchn_fast;
#[cfg(target_os = "none")]
pub mod exception;
#[cfg(target_os = "none")]
mod fast_paths;
#[cfg(target_os = "none")]
pub mod fpu;
#[cfg(target_os = "none")]
pub mod gdt;
#[cfg(target_os = "none")]
mod gpr_save;
#[cfg(target_os = "none")]
mod guest_faults;
#[cfg(target_os = "none")]
mod guest_small;
#[cfg(target_os = "none")]
mod guest_time;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod hooks;
#[cfg(target_os = "none")]
mod idle;
#[cfg(target_os = "none")]
mod idt;
#[cfg(target_os = "none")]
mod invariants;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
pub mod qemu;
#[cfg(target_os = "none")]
mod rtc;
#[cfg(target_os = "none")]
pub mod run;
#[cfg(target_os = "none")]
pub mod segstate;
#[cfg(target_os = "none")]
pub mod serial;
#[cfg(target_os = "none")]
pub mod setup;
#[cfg(target_os = "none")]
pub mod svm;
#[cfg(target_os = "none")]
mod syscall_fast;
#[cfg(target_os = "none")]
pub mod timer;
#[cfg(target_os = "none")]
mod unpack;
