//! Exception bouncing (fact sheet §1.4): build Xen's frame on the guest
//! kernel stack and continue at the guest's handler.

use super::vcpu::{reg, GuestContext, Vcpu, FLAG_FIXED, FLAG_IF};
use crate::hypercall::{Guest, GuestMemory};
use abi::traps::{FLAT_RING3_CS64, FLAT_RING3_SS64};

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
    ctx.rip = entry.address;
    ctx.cs = u64::from(FLAT_RING3_CS64);
    ctx.ss = u64::from(FLAT_RING3_SS64);
    ctx.rflags = (c.rflags & !CLEARED_ON_BOUNCE) | FLAG_IF | FLAG_FIXED;
    Ok(())
}
