//! `HYPERVISOR_iret` (fact sheet §1.3, platform §1.2) as a pure decision:
//! decode the frame the hypercall-page stub left on the guest stack,
//! restore it into the vCPU's context, then make sure the hypervisor's own
//! IRETQ cannot fault on what the guest chose.
//!
//! Xen 4.17 does not check the frame in `do_iret`; its exit IRETQ faults
//! and the fault is reported to the guest as raised at the IRETQ's target
//! (#GP, #NP or #SS with the hardware's error code, bounced through the
//! trap table; no handler crashes the domain). xen-core gives the same
//! answer without taking the fault: [`settle_return`] runs the IRETQ
//! checks of [`super::segments::check_return`] and bounces their fault.
//!
//! Compatibility mode is allowed, as on Xen: a frame with the 32-bit flat
//! code selector (0xE020, RPL 3 added) or a 32/16-bit code segment of the
//! guest's GDT returns the guest kernel into compatibility mode, which the
//! guest could also reach itself with a far jump. Bounces and hypercall
//! returns always come back in 64-bit mode, and SYSCALL from compatibility
//! mode has its own answer ([`super::bounce::compat_syscall`]).

use super::bounce::{bounce, Crash, Roots};
use super::segments::{canonical, check_return, Fault, GdtView, Mode};
use super::vcpu::{reg, GuestContext, Vcpu, FLAG_FIXED, FLAG_IF, GUEST_FLAGS_MASK};
use crate::hypercall::GuestMemory;
use abi::traps::{FLAT_RING3_CS64, FLAT_RING3_SS64};

/// VGCF_in_syscall: iret returns as if from SYSCALL (RCX/R11 not restored).
const VGCF_IN_SYSCALL: u64 = 1 << 8;

/// The 72-byte frame at the guest's RSP, lowest address first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IretFrame {
    /// RAX after the return.
    pub rax: u64,
    /// R11, restored unless `flags` has VGCF_in_syscall.
    pub r11: u64,
    /// RCX, likewise.
    pub rcx: u64,
    /// VGCF_* flags.
    pub flags: u64,
    /// Return RIP.
    pub rip: u64,
    /// Return CS: RPL 3 means guest user mode.
    pub cs: u64,
    /// Return RFLAGS.
    pub rflags: u64,
    /// Return RSP.
    pub rsp: u64,
    /// Return SS.
    pub ss: u64,
}

impl IretFrame {
    /// The frame from its nine words.
    pub const fn from_words(w: [u64; 9]) -> IretFrame {
        let [rax, r11, rcx, flags, rip, cs, rflags, rsp, ss] = w;
        IretFrame { rax, r11, rcx, flags, rip, cs, rflags, rsp, ss }
    }
}

/// What an `iret` led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// The guest continues at the frame's RIP in this mode.
    Resumed(Mode),
    /// IRETQ would have raised this fault; it was bounced to the guest.
    Faulted(Fault),
}

/// Restores `frame` into `ctx` (which holds the hypercall's entry context)
/// and settles the return. A frame CS with RPL 3 returns to guest user
/// mode (platform §1.2): the vCPU switches to its user root with the GS
/// bases swapped, so user mode runs with `gs_base_user` active. With
/// VGCF_in_syscall in `flags` the return is Xen's SYSRET one: RCX = RIP
/// and R11 = the returned RFLAGS, the frame's RCX/R11 ignored; if the
/// return meets an upcall, RCX and R11 stay as the SYSCALL left them, as
/// on Xen (see `upcall_due_after`).
///
/// # Errors
/// Crashes the domain for a return to user mode without a user root
/// (as Xen does), or when the fault IRETQ would raise cannot be delivered.
#[inline(always)]
pub fn iret<G: GuestMemory, F: Fn(usize) -> u64>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    frame: &IretFrame,
    gdt: &GdtView<F>,
) -> Result<Returned, Crash> {
    let to_user = frame.cs & 3 == 3;
    if to_user && roots.user == 0 {
        return Err(&"iret to guest user mode with no user page table (MMUEXT_NEW_USER_BASEPTR)");
    }
    ctx.gpr[reg::RAX] = frame.rax;
    // Selectors are 16 bits (Xen keeps them in 16-bit fields); RPL 3 is
    // forced, as the guest kernel runs in ring 3.
    ctx.rip = frame.rip;
    ctx.cs = (frame.cs & 0xFFFF) | 3;
    ctx.rflags = (frame.rflags & GUEST_FLAGS_MASK) | FLAG_IF | FLAG_FIXED;
    ctx.rsp = frame.rsp;
    ctx.ss = (frame.ss & 0xFFFF) | 3;
    if frame.flags & VGCF_IN_SYSCALL == 0 {
        ctx.gpr[reg::R11] = frame.r11;
        ctx.gpr[reg::RCX] = frame.rcx;
    } else if !upcall_due_after(guest, frame.rflags) {
        ctx.gpr[reg::RCX] = ctx.rip;
        ctx.gpr[reg::R11] = ctx.rflags;
    }
    // The frame's IF is the guest's virtual interrupt flag.
    guest.set_upcall_mask(u8::from(frame.rflags & FLAG_IF == 0));
    if to_user {
        vcpu.user_mode = true;
        guest.toggle_mode(true, roots.user);
    }
    settle_return(ctx, vcpu, guest, roots, gdt)
}

/// The common `iret`, restored exactly as [`iret`] restores it: a frame
/// returning to the flat 64-bit selectors at a canonical RIP, in kernel
/// mode or to user mode with a user root (`user_root`, asked for only
/// then). Such a return cannot fault, so no descriptor table is read.
/// `false`, with nothing changed, for every other frame: the caller then
/// takes [`iret`] with the same words.
#[inline(always)]
pub fn iret_flat<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    w: &[u64; 9],
    user_root: impl FnOnce() -> u64,
) -> bool {
    let [rax, r11, rcx, flags, rip, cs, rflags, rsp, ss] = *w;
    let (cs, ss) = ((cs & 0xFFFF) | 3, (ss & 0xFFFF) | 3);
    if cs != u64::from(FLAT_RING3_CS64) || ss != u64::from(FLAT_RING3_SS64) || !canonical(rip) {
        return false;
    }
    let to_user = w[5] & 3 == 3;
    let root = if to_user { user_root() } else { 0 };
    if to_user && root == 0 {
        return false;
    }
    ctx.gpr[reg::RAX] = rax;
    ctx.rip = rip;
    ctx.cs = cs;
    ctx.rflags = (rflags & GUEST_FLAGS_MASK) | FLAG_IF | FLAG_FIXED;
    ctx.rsp = rsp;
    ctx.ss = ss;
    if flags & VGCF_IN_SYSCALL == 0 {
        ctx.gpr[reg::R11] = r11;
        ctx.gpr[reg::RCX] = rcx;
    } else if !upcall_due_after(guest, rflags) {
        ctx.gpr[reg::RCX] = rip;
        ctx.gpr[reg::R11] = ctx.rflags;
    }
    guest.set_upcall_mask(u8::from(rflags & FLAG_IF == 0));
    if to_user {
        vcpu.user_mode = true;
        guest.toggle_mode(true, root);
    }
    true
}

/// Whether the return an `iret` with `rflags` makes will meet an upcall
/// (IF unmasks events, one is pending). With VGCF_in_syscall Xen then
/// leaves RCX and R11 as the hypercall's SYSCALL set them (its return
/// address and RFLAGS), and the upcall frame carries those; RCX = RIP and
/// R11 = RFLAGS are its SYSRET's, on a plain return only. Conformance
/// `iret in_syscall upcall` checks both frames against Xen 4.17.
#[inline(always)]
fn upcall_due_after<G: GuestMemory>(guest: &G, rflags: u64) -> bool {
    rflags & FLAG_IF != 0 && guest.upcall_pending()
}

/// Makes `ctx` safe for the hypervisor's IRETQ: if IRETQ would fault on
/// its CS, SS or RIP, delivers that fault to the guest instead, raised at
/// `ctx` (Xen's answer to a faulting exit).
///
/// # Errors
/// The domain must be crashed: the guest has no handler for the fault or
/// its stack cannot take the frame.
#[inline(always)]
pub fn settle_return<G: GuestMemory, F: Fn(usize) -> u64>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    gdt: &GdtView<F>,
) -> Result<Returned, Crash> {
    match check_return(ctx.cs as u16, ctx.ss as u16, ctx.rip, gdt) {
        Ok(mode) => Ok(Returned::Resumed(mode)),
        Err(fault) => deliver_return_fault(ctx, vcpu, guest, roots, fault),
    }
}

/// The fault a return would raise, bounced to the guest (off the fast
/// path: a return the guest got wrong).
#[cold]
#[inline(never)]
fn deliver_return_fault<G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    roots: &Roots,
    fault: Fault,
) -> Result<Returned, Crash> {
    log::debug!(
        "return to cs {:#x} ss {:#x} rip {:#x} refused ({}): vector {} error {:#x} to the guest",
        ctx.cs,
        ctx.ss,
        ctx.rip,
        fault.why,
        fault.vector,
        fault.error_code
    );
    let (cs, ss, rip) = (ctx.cs, ctx.ss, ctx.rip);
    bounce(ctx, vcpu, guest, roots, fault.vector, Some(fault.error_code)).map_err(|why| {
        log::error!("return to cs {cs:#x} ss {ss:#x} rip {rip:#x} faults ({}); delivering it: {why}", fault.why);
        &"the return to the guest faults (bad CS, SS or RIP) and the fault cannot be delivered"
    })?;
    Ok(Returned::Faulted(fault))
}

#[cfg(test)]
#[path = "iret_tests.rs"]
mod tests;
