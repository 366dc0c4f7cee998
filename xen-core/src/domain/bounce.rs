//! Exception bouncing (fact sheet §1.4): build Xen's frame on the guest
//! kernel stack and continue at the guest's handler.

use super::vcpu::{reg, GuestContext, Vcpu, FLAG_FIXED, FLAG_IF};
use crate::hypercall::{Guest, GuestMemory};
use abi::traps::{CALLBACKTYPE_SYSCALL32, FLAT_RING3_CS64, FLAT_RING3_SS64};

/// Why a bounce crashed the domain.
pub type Crash = &'static str;

/// Vectors the CPU delivers with an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Flags cleared in the handler's RFLAGS: TF, NT, RF, VM, AC.
const CLEARED_ON_BOUNCE: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 18);

/// Delivers `vector` (with `error_code` where the vector has one) to the
/// guest's handler. The frame, from the new RSP upward, is RCX, R11,
/// [error code], RIP, CS (RPL cleared for kernel mode), RFLAGS, RSP, SS.
pub fn bounce<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &Vcpu,
    guest: &G,
    vector: u8,
    error_code: Option<u64>,
) -> Result<(), Crash> {
    let entry = vcpu.traps[vector as usize];
    if entry.address == 0 {
        return Err("no handler for this exception in the guest's trap table");
    }
    enter_handler(ctx, guest, entry.address, error_code)
}

/// A SYSCALL executed in compatibility mode (the CSTAR entry), answered as
/// Xen 4.17 answers it for a 64-bit PV guest: a bounce to the
/// `CALLBACKTYPE_syscall32` callback with DF cleared in the handler's
/// flags (the PV ABI's fixed SYSCALL mask), the frame holding the return
/// address and flags the instruction left in RCX/R11. With no such
/// callback, `#UD` at the SYSCALL instruction through the trap table (DF
/// left alone); with no `#UD` handler either, the domain is crashed.
/// `ctx` is the entry context: RIP = RCX, RFLAGS = R11, CS = 0xE023.
pub fn compat_syscall<G: GuestMemory>(ctx: &mut GuestContext, vcpu: &Vcpu, guest: &G) -> Result<(), Crash> {
    let callback = vcpu.callbacks[CALLBACKTYPE_SYSCALL32 as usize].0;
    if callback == 0 {
        ctx.rip = ctx.rip.wrapping_sub(SYSCALL_LEN);
        return bounce(ctx, vcpu, guest, VECTOR_UD, None);
    }
    enter_handler(ctx, guest, callback, None)?;
    ctx.rflags &= !FLAG_DF;
    Ok(())
}

/// Length of the SYSCALL instruction (0F 05).
const SYSCALL_LEN: u64 = 2;
/// #UD.
const VECTOR_UD: u8 = 6;
/// DF.
const FLAG_DF: u64 = 1 << 10;

/// Xen's `create_bounce_frame` for a vCPU in kernel mode: pushes the frame
/// on the current guest stack (rounded down to 16 bytes) and continues at
/// `handler` in 64-bit mode on the flat selectors.
fn enter_handler<G: GuestMemory>(
    ctx: &mut GuestContext,
    guest: &G,
    handler: u64,
    error_code: Option<u64>,
) -> Result<(), Crash> {
    let c = *ctx;
    let saved_mask = 0u64;
    let cs = (c.cs & !3) | (saved_mask << 32);
    let mut frame = [0u64; 8];
    let mut n = 0;
    for v in [c.gpr[reg::RCX], c.gpr[reg::R11]] {
        frame[n] = v;
        n += 1;
    }
    if let Some(e) = error_code {
        frame[n] = e;
        n += 1;
    }
    for v in [c.rip, cs, c.rflags, c.rsp, c.ss] {
        frame[n] = v;
        n += 1;
    }
    let sp = (c.rsp & !15).wrapping_sub(n as u64 * 8);
    if (abi::HYPERVISOR_VIRT_START..abi::HYPERVISOR_VIRT_END + 64).contains(&sp) {
        return Err("guest kernel stack points into the hypervisor's range");
    }
    let mut bytes = [0u8; 64];
    for (i, v) in frame[..n].iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    Guest(guest).write(sp, &bytes[..n * 8]).map_err(|_| "fault writing the exception frame to the guest stack")?;
    ctx.rsp = sp;
    ctx.rip = handler;
    ctx.cs = u64::from(FLAT_RING3_CS64);
    ctx.ss = u64::from(FLAT_RING3_SS64);
    ctx.rflags = (c.rflags & !CLEARED_ON_BOUNCE) | FLAG_IF | FLAG_FIXED;
    Ok(())
}

#[cfg(test)]
#[path = "bounce_tests.rs"]
mod tests;
