//! The debug registers at the hardware ([`crate::emulate::dr`] decides):
//! loaded only while a vCPU whose DR7 enables a breakpoint runs, cleared
//! when the CPU leaves it (Xen's rule, so vCPUs without breakpoints cost
//! nothing on a switch), and the hardware DR6 taken and reset on every #DB.
//!
//! DR0–3 never hold a hypervisor address (the checks refuse them), so a
//! breakpoint can only fire on guest addresses: in the guest, or in the
//! hypervisor while it copies to or from guest memory. The #DB gate has
//! its own IST stack (a #DB pending from a `mov ss` would otherwise be
//! taken on the guest's stack at the first SYSCALL instruction), and DR7
//! is cleared while a #DB from the guest is handled, so handling it (which
//! writes the guest's stack) cannot raise a second one on the same stack.

use super::cpu;
use crate::emulate::dr::{DebugRegs, DR6_DEFAULT, DR7_ONES};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The hardware DR7 enables breakpoints (of the running vCPU).
static LIVE: AtomicBool = AtomicBool::new(false);

macro_rules! write_dr {
    ($n:literal, $v:expr) => {
        // SAFETY: the values were validated as the guest's (DR0–3 outside
        // the hypervisor's range, DR7 without GD or I/O enables); a debug
        // register write has no other effect than arming breakpoints.
        unsafe { asm!(concat!("mov dr", $n, ", {}"), in(reg) $v, options(nomem, nostack, preserves_flags)) }
    };
}

/// Sets CR4.DE, as Xen runs: DR4/5 do not alias DR6/7 and DR7's I/O
/// breakpoint encoding is defined (the guest's virtual CR4 is separate).
pub fn init() {
    // SAFETY: DE only changes how DR4/5 and DR7's R/W=10 are read.
    unsafe { cpu::set_cr4(cpu::cr4() | (1 << 3)) };
    write_dr!("7", DR7_ONES);
    write_dr!("6", DR6_DEFAULT);
}

/// Makes the hardware follow `d`, the registers of the vCPU that runs (now
/// or next): everything loaded if a breakpoint is enabled, else DR7
/// cleared if the previous vCPU had enabled any.
pub fn sync(d: &DebugRegs) {
    if d.active() {
        write_dr!("0", d.addr[0]);
        write_dr!("1", d.addr[1]);
        write_dr!("2", d.addr[2]);
        write_dr!("3", d.addr[3]);
        write_dr!("6", DR6_DEFAULT);
        write_dr!("7", d.dr7);
        LIVE.store(true, Relaxed);
    } else if LIVE.load(Relaxed) {
        write_dr!("7", DR7_ONES);
        LIVE.store(false, Relaxed);
    }
}

/// On a #DB: the hardware DR6, which is reset to its default for the next
/// one (its bits are sticky).
pub fn take_dr6() -> u64 {
    let dr6: u64;
    // SAFETY: reading DR6 has no side effect.
    unsafe { asm!("mov {}, dr6", out(reg) dr6, options(nomem, nostack, preserves_flags)) };
    write_dr!("6", DR6_DEFAULT);
    dr6
}

/// Disarms every breakpoint until the next [`sync`].
pub fn disarm() {
    if LIVE.load(Relaxed) {
        write_dr!("7", DR7_ONES);
        LIVE.store(false, Relaxed);
    }
}

/// The hardware DR7, for the rule that an instruction breakpoint must
/// never be hit in the hypervisor.
pub fn dr7() -> u64 {
    let v: u64;
    // SAFETY: reading DR7 has no side effect.
    unsafe { asm!("mov {}, dr7", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}
