//! Exception bouncing (fact sheet §1.4): build Xen's frame on the guest
//! kernel stack and continue at the guest's handler.

use super::vcpu::{reg, GuestContext, Selectors, Vcpu, FLAG_FIXED, FLAG_IF};
use crate::hypercall::{Guest, GuestMemory};
use abi::traps::{
    CALLBACKF_MASK_EVENTS, CALLBACKTYPE_EVENT, CALLBACKTYPE_FAILSAFE, CALLBACKTYPE_SYSCALL, CALLBACKTYPE_SYSCALL32,
    FLAT_RING3_CS64, FLAT_RING3_SS64,
};

/// Why a bounce crashed the domain.
pub type Crash = crate::hypercall::CrashReason;

/// Vectors the CPU delivers with an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Flags cleared in the handler's RFLAGS: TF, NT, RF, VM, AC.
pub(crate) const CLEARED_ON_BOUNCE: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 18);

/// The domain's two page-table roots as CR3 values (0 = none), for the
/// guest mode switches a bounce or an `iret` makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roots {
    /// Loaded in guest kernel mode.
    pub kernel: u64,
    /// Loaded in guest user mode (`MMUEXT_NEW_USER_BASEPTR`); 0 = none.
    pub user: u64,
}

impl Roots {
    /// The roots of domain memory `d`.
    pub fn of(d: &crate::mm::DomainMm) -> Roots {
        Roots { kernel: d.kernel_root.map_or(0, |m| m.to_maddr()), user: d.user_root.map_or(0, |m| m.to_maddr()) }
    }
}

/// Delivers `vector` (with `error_code` where the vector has one) to the
/// guest's handler. The frame, from the new RSP upward, is RCX, R11,
/// [error code], RIP, CS, RFLAGS, RSP, SS. From guest user mode the vCPU
/// first switches to kernel mode and the frame goes on the `stack_switch`
/// stack with the user CS (RPL 3) in it; from kernel mode it goes on the
/// current stack with CS's RPL cleared, so the guest can tell the two.
pub fn bounce<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    vector: u8,
    error_code: Option<u64>,
) -> Result<(), Crash> {
    let entry = vcpu.traps[vector as usize];
    if entry.address == 0 {
        return Err(&"no handler for this exception in the guest's trap table");
    }
    let mask = entry.flags & 4 != 0;
    match error_code {
        Some(e) => enter_handler(ctx, vcpu, guest, roots, entry.address, [e], mask),
        None => enter_handler(ctx, vcpu, guest, roots, entry.address, [], mask),
    }
}

/// A SYSCALL executed in guest user mode (64-bit), as Xen 4.17 delivers
/// it (platform §1.3): to the `CALLBACKTYPE_syscall` callback in kernel
/// mode, on the `stack_switch` stack, with RCX, R11, RIP (= RCX), CS
/// (0xE033, RPL kept: it came from user mode), RFLAGS (= R11), RSP, SS and
/// DF cleared in the handler's flags. With no callback: `#UD` at the
/// SYSCALL instruction through the trap table. `ctx` is the entry
/// context: RIP = RCX, RFLAGS = R11.
pub fn user_syscall<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
) -> Result<(), Crash> {
    syscall_to(ctx, vcpu, guest, roots, CALLBACKTYPE_SYSCALL)
}

/// The failsafe callback (platform §1.6): a saved DS/ES/FS/GS selector
/// (`old`) no longer loads when the vCPU is restored; the selectors were
/// loaded as null. Frame: RCX, R11, DS, ES, FS, GS, RIP, CS, RFLAGS, RSP,
/// SS. Xen enters a zero callback address regardless; xen-core crashes
/// the domain instead (a deliberate difference: the guest would fault at
/// address 0 anyway).
pub fn failsafe<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    old: Selectors,
) -> Result<(), Crash> {
    let (callback, flags) = vcpu.callbacks[CALLBACKTYPE_FAILSAFE as usize];
    if callback == 0 {
        return Err(&"a saved data selector no longer loads and there is no failsafe callback");
    }
    let words = [old.ds, old.es, old.fs, old.gs].map(u64::from);
    enter_handler(ctx, vcpu, guest, roots, callback, words, flags & CALLBACKF_MASK_EVENTS != 0)
}

/// A SYSCALL executed in compatibility mode (the CSTAR entry), answered as
/// Xen 4.17 answers it for a 64-bit PV guest: a bounce to the
/// `CALLBACKTYPE_syscall32` callback with DF cleared in the handler's
/// flags (the PV ABI's fixed SYSCALL mask), the frame holding the return
/// address and flags the instruction left in RCX/R11. With no such
/// callback, `#UD` at the SYSCALL instruction through the trap table (DF
/// left alone); with no `#UD` handler either, the domain is crashed.
/// `ctx` is the entry context: RIP = RCX, RFLAGS = R11, CS = 0xE023.
pub fn compat_syscall<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
) -> Result<(), Crash> {
    syscall_to(ctx, vcpu, guest, roots, CALLBACKTYPE_SYSCALL32)
}

fn syscall_to<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    kind: u16,
) -> Result<(), Crash> {
    let (callback, flags) = vcpu.callbacks[kind as usize];
    if callback == 0 {
        ctx.rip = ctx.rip.wrapping_sub(SYSCALL_LEN);
        return bounce(ctx, vcpu, guest, roots, VECTOR_UD, None);
    }
    enter_handler(ctx, vcpu, guest, roots, callback, [], flags & CALLBACKF_MASK_EVENTS != 0)?;
    ctx.rflags &= !FLAG_DF;
    Ok(())
}

/// An event upcall (platform §2.5): the event callback is entered with
/// Xen's frame (RCX, R11, RIP, CS with the saved upcall mask in bits
/// 32-39, RFLAGS with IF = !saved mask, RSP, SS; no error code), and
/// `evtchn_upcall_mask` becomes 1. The caller has checked that an upcall
/// is due (`evtchn_upcall_pending` set, mask clear).
///
/// # Errors
/// The domain must be crashed: no event callback, or its stack cannot
/// take the frame.
#[inline(never)]
pub fn event_upcall<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
) -> Result<(), Crash> {
    let callback = vcpu.callbacks[CALLBACKTYPE_EVENT as usize].0;
    if callback == 0 {
        return Err(&"an event upcall is due (evtchn_upcall_pending, mask clear) but there is no event callback");
    }
    enter_handler(ctx, vcpu, guest, roots, callback, [], true)
}

/// Length of the SYSCALL instruction (0F 05).
const SYSCALL_LEN: u64 = 2;
/// #UD.
const VECTOR_UD: u8 = 6;
/// DF.
const FLAG_DF: u64 = 1 << 10;

/// Xen's `create_bounce_frame`: from user mode, switches the vCPU to
/// kernel mode and uses its `stack_switch` stack; from kernel mode, the
/// current guest stack. Pushes RCX, R11, `middle` (an error code or the
/// failsafe selectors), RIP, CS, RFLAGS, RSP, SS below the stack rounded
/// down to 16 bytes, in one guest access, and continues at `handler` in
/// 64-bit mode on the flat selectors. The frame carries the vCPU's
/// `evtchn_upcall_mask` (CS bits 32-39, and RFLAGS.IF = !mask);
/// `mask_events` then sets the mask. `M` (0, 1 or 4) is a constant, so
/// the frame is built with plain stores.
#[inline(always)]
fn enter_handler<G: GuestMemory, const M: usize>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    handler: u64,
    middle: [u64; M],
    mask_events: bool,
) -> Result<(), Crash> {
    let from_user = vcpu.user_mode;
    let saved_mask = u64::from(guest.upcall_mask());
    let rflags = if saved_mask != 0 { ctx.rflags & !FLAG_IF } else { ctx.rflags | FLAG_IF };
    let cs = if from_user { ctx.cs & 0xFFFF } else { ctx.cs & !3 } | (saved_mask << 32);
    let top = if from_user { vcpu.kernel_sp } else { ctx.rsp };
    let sp = (top & !15).wrapping_sub((7 + M) as u64 * 8);
    if (abi::HYPERVISOR_VIRT_START..abi::HYPERVISOR_VIRT_END + 64).contains(&sp) {
        return Err(&"guest kernel stack points into the hypervisor's range");
    }
    if from_user {
        vcpu.user_mode = false;
        guest.toggle_mode(false, roots.kernel);
    }
    // Right-aligned in 11 words (the largest frame), so every index is a
    // constant.
    let mut w = [0u64; 11];
    w[4 - M] = ctx.gpr[reg::RCX];
    w[5 - M] = ctx.gpr[reg::R11];
    w[6 - M..6].copy_from_slice(&middle);
    w[6..].copy_from_slice(&[ctx.rip, cs, rflags, ctx.rsp, ctx.ss]);
    Guest(guest).write_words(sp, &w[4 - M..]).map_err(|_| &"fault writing the exception frame to the guest stack")?;
    ctx.rsp = sp;
    ctx.rip = handler;
    ctx.cs = u64::from(FLAT_RING3_CS64);
    ctx.ss = u64::from(FLAT_RING3_SS64);
    ctx.rflags = (rflags & !CLEARED_ON_BOUNCE) | FLAG_IF | FLAG_FIXED;
    if mask_events {
        guest.set_upcall_mask(1);
    }
    Ok(())
}

#[cfg(test)]
#[path = "bounce_tests.rs"]
mod tests;
