//! The raw hypercall instruction: the only `unsafe` code of this crate.
//!
//! A 64-bit PV guest kernel issues `SYSCALL` with the number in RAX and up
//! to five arguments in RDI, RSI, RDX, R10, R8. RCX and R11 are destroyed
//! by the instruction; the argument registers may be clobbered.

use core::arch::asm;

/// Issues hypercall `nr` with five arguments and returns RAX.
///
/// # Safety
/// Must run in a PV guest kernel. The arguments must be what hypercall `nr`
/// expects; pointer arguments must point at memory valid for what the
/// hypercall reads and writes, and calls that change the guest's page
/// tables, trap handlers or callbacks must leave it able to run.
#[inline(always)]
pub unsafe fn hypercall5(nr: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: guaranteed by the caller; the clobbers match the PV ABI.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as i64 => ret,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

pub mod evtchn;
pub mod guest;
