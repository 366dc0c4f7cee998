//! The `iret` hypercall meeting a pending upcall (platform §1.2, §2.5):
//! `iret` restores `evtchn_upcall_mask` from its frame's RFLAGS.IF, and an
//! upcall then due (upcall_pending set, the mask now clear) is entered on
//! the way out, before the guest runs at the frame's RIP: the event
//! callback gets the 7-word frame of the state the `iret` restored (RCX,
//! R11, RIP, CS with the saved mask 0, RFLAGS with IF, RSP, SS) below that
//! RSP rounded down to 16, with events masked and RAX and the argument
//! registers as the `iret` returns them; its own `iret` then lands at the
//! frame's RIP. A frame with IF clear keeps events masked and delivers
//! nothing. A return to user mode delivers the upcall from user mode: the
//! frame (the user CS, RIP and RSP) on the `stack_switch` stack.

use super::Si;
use crate::arch::iret_upcall::{iret_with, stack_top, syscall_end, target, After, MAGIC, SYSCALL_FLAGS};
use crate::arch::upcall::{install, seen, upcalls};
use crate::cases::Suite;

/// The frame's RAX, R11 and RCX.
const RAX: u64 = 0x7A7A_0000_0000_1234;
const R11: u64 = 0x0B0B_0000_0000_5678;
const RCX: u64 = 0x0C0C_0000_0000_9ABC;
/// CF, ZF, SF, OF and IF (and the fixed bit): flags both hypervisors keep.
const FLAGS_IF: u64 = 0xAC3;
const VGCF_IN_SYSCALL: u64 = 1 << 8;

fn label<'a>(buf: &'a mut [u8; 96], what: &str, reg: &str) -> &'a str {
    let n = crate::cases::fmt_into(buf, format_args!("{what}: {reg}"));
    core::str::from_utf8(&buf[..n]).unwrap_or("iret upcall")
}

/// The registers the target was returned with: RAX from the frame, RCX
/// and R11 as given, the argument registers kept, RSP the frame's.
fn after_regs(s: &mut Suite, what: &str, a: &After, rcx: u64, r11: u64, rsp: u64) {
    let want = [RAX, rcx, r11, MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], MAGIC[4], MAGIC[5], rsp];
    let regs = ["RAX", "RCX", "R11", "RDI", "RSI", "RDX", "R8", "R9", "R10", "RSP"];
    for k in 0..want.len() {
        let mut buf = [0u8; 96];
        s.check(label(&mut buf, what, regs[k]), want[k] as i64, a.0[k] as i64);
    }
}

/// One upcall at the return to (kernel-mode) `target()` on `rsp`: its
/// frame and the callback's registers.
fn upcall_frame(s: &mut Suite, what: &str, rcx: u64, r11: u64, rsp: u64) {
    let cb = seen();
    let mut buf = [0u8; 96];
    s.check(label(&mut buf, what, "frame RCX"), rcx as i64, cb[0] as i64);
    s.check(label(&mut buf, what, "frame R11"), r11 as i64, cb[1] as i64);
    s.check(label(&mut buf, what, "frame RIP is the iret's"), target() as i64, cb[2] as i64);
    s.check(label(&mut buf, what, "frame CS selector, any RPL"), 0xE030, (cb[3] & 0xFFFC) as i64);
    s.check(label(&mut buf, what, "frame CS carries the saved mask 0"), 0, (cb[3] >> 32) as i64);
    s.check(label(&mut buf, what, "frame RFLAGS the iret's, IF set"), FLAGS_IF as i64, cb[4] as i64);
    s.check(label(&mut buf, what, "frame RSP is the iret's"), rsp as i64, cb[5] as i64);
    s.check(label(&mut buf, what, "frame SS"), 0xE02B, (cb[6] & 0xFFFF) as i64);
    s.check(label(&mut buf, what, "frame 56 bytes below RSP rounded to 16"), ((rsp & !15) - 56) as i64, cb[15] as i64);
    s.check(label(&mut buf, what, "callback RAX is the frame's"), RAX as i64, cb[7] as i64);
    let regs = ["callback RDI", "callback RSI", "callback RDX", "callback R8", "callback R9", "callback R10"];
    for (k, reg) in regs.iter().enumerate() {
        s.check(label(&mut buf, what, reg), MAGIC[k] as i64, cb[8 + k] as i64);
    }
    s.check(label(&mut buf, what, "callback runs with events masked"), 1, cb[14] as i64);
}

fn frame(flags: u64, rflags: u64, rsp: u64) -> [u64; 9] {
    [RAX, R11, RCX, flags, target(), 0xE030, rflags, rsp, 0xE02B]
}

/// Makes an upcall pending with events masked (the state a send with
/// upcalls masked leaves: upcall_pending set, mask set).
fn pend(si: &Si) {
    si.quiet();
    si.set_word(0, 1 | 1 << 8);
}

pub(super) fn iret_upcall(s: &mut Suite, si: &Si) {
    s.check("iret upcall: register the event callback", 0, install(si.0));
    // An RSP 8 off 16-byte alignment: the upcall frame is rounded down.
    let rsp = stack_top() - 0x108;

    // Kernel mode, IF set: the upcall at the iret's return.
    pend(si);
    let before = upcalls();
    let a = iret_with(frame(0, FLAGS_IF, rsp));
    let mask = si.word(0) >> 8 & 0xFF;
    si.quiet();
    s.check("iret upcall: an unmasking iret enters the callback once", 1, (upcalls() - before) as i64);
    upcall_frame(s, "iret upcall", RCX, R11, rsp);
    after_regs(s, "iret upcall, back at the iret's RIP", &a, RCX, R11, rsp);
    s.check("iret upcall: events unmasked again by the callback's iret", 0, mask as i64);

    // Kernel mode, IF clear: nothing delivered, events stay masked.
    pend(si);
    let before = upcalls();
    let a = iret_with(frame(0, FLAGS_IF & !0x200, rsp));
    let word = si.word(0);
    si.quiet();
    s.check("iret masked: an iret with IF clear delivers nothing", 0, (upcalls() - before) as i64);
    s.check("iret masked: events stay masked", 1, (word >> 8 & 0xFF) as i64);
    s.check("iret masked: upcall_pending stays set", 1, (word & 0xFF) as i64);
    after_regs(s, "iret masked, at the iret's RIP", &a, RCX, R11, rsp);

    // Nothing pending, IF set: a plain return that unmasks.
    si.quiet();
    let before = upcalls();
    let a = iret_with(frame(0, FLAGS_IF, rsp));
    let word = si.word(0);
    si.quiet();
    s.check("iret unmasking, nothing pending: no upcall", 0, (upcalls() - before) as i64);
    s.check("iret unmasking, nothing pending: the mask is cleared", 0, (word >> 8 & 0xFF) as i64);
    after_regs(s, "iret unmasking, nothing pending", &a, RCX, R11, rsp);

    // VGCF_in_syscall with an upcall due: RCX and R11 stay as the SYSCALL
    // left them (Xen sets them to RIP and RFLAGS only in its SYSRET exit,
    // which a delivered upcall does not take), so the frame carries those.
    pend(si);
    let before = upcalls();
    let a = iret_with(frame(VGCF_IN_SYSCALL, FLAGS_IF, rsp));
    si.quiet();
    s.check("iret in_syscall upcall: the callback runs once", 1, (upcalls() - before) as i64);
    let cb = seen();
    s.check("iret in_syscall upcall: frame RCX is the SYSCALL's return address", syscall_end() as i64, cb[0] as i64);
    s.check("iret in_syscall upcall: frame R11 is the SYSCALL's RFLAGS", SYSCALL_FLAGS as i64, cb[1] as i64);
    s.check("iret in_syscall upcall: frame RIP is the iret's", target() as i64, cb[2] as i64);
    s.check("iret in_syscall upcall: frame RSP is the iret's", rsp as i64, cb[5] as i64);
    s.check("iret in_syscall upcall: callback RAX is the frame's", RAX as i64, cb[7] as i64);
    s.check("iret in_syscall upcall: back on the iret's RSP", rsp as i64, a.0[9] as i64);
    s.check("iret in_syscall upcall: RAX back is the frame's", RAX as i64, a.0[0] as i64);
    s.check("iret in_syscall upcall: RCX back is the upcall frame's", syscall_end() as i64, a.0[1] as i64);
    s.check("iret in_syscall upcall: R11 back is the upcall frame's", SYSCALL_FLAGS as i64, a.0[2] as i64);

    // VGCF_in_syscall, nothing pending: the SYSRET return, RCX = RIP and
    // R11 = the returned RFLAGS.
    si.quiet();
    let a = iret_with(frame(VGCF_IN_SYSCALL, FLAGS_IF, rsp));
    si.quiet();
    s.check("iret in_syscall, nothing pending: RCX is the return's RIP", target() as i64, a.0[1] as i64);
    s.check("iret in_syscall, nothing pending: R11 is the return's RFLAGS", FLAGS_IF as i64, a.0[2] as i64);
    s.check("iret in_syscall, nothing pending: RAX is the frame's", RAX as i64, a.0[0] as i64);
}

/// A return to user mode (usermode's user root, code and `stack_switch`
/// stack, set up before): `rip` a `ud2` on user stack `rsp`, `ktop` the
/// `stack_switch` stack. The upcall comes from user mode; its callback's
/// `iret` goes back to user mode, where the `ud2` ends the run.
pub(super) fn user_iret_upcall(s: &mut Suite, si: &Si, rip: u64, rsp: u64, ktop: u64) {
    s.check("user iret upcall: register the event callback", 0, install(si.0));
    pend(si);
    let before = upcalls();
    let r = crate::arch::user_run(rip, rsp);
    si.quiet();
    s.check("user iret upcall: the return to user mode enters the callback once", 1, (upcalls() - before) as i64);
    let cb = seen();
    s.check("user iret upcall: frame RIP is the user RIP", rip as i64, cb[2] as i64);
    s.check("user iret upcall: frame CS is 0xE033 (user, RPL 3 kept)", 0xE033, (cb[3] & 0xFFFF) as i64);
    s.check("user iret upcall: frame CS carries the saved mask 0", 0, (cb[3] >> 32) as i64);
    s.truth("user iret upcall: frame RFLAGS.IF set", cb[4] & 0x200 != 0);
    s.check("user iret upcall: frame RSP is the user stack", rsp as i64, cb[5] as i64);
    s.check("user iret upcall: frame SS", 0xE02B, (cb[6] & 0xFFFF) as i64);
    s.check("user iret upcall: frame 56 bytes below the stack_switch stack", ((ktop & !15) - 56) as i64, cb[15] as i64);
    s.check("user iret upcall: callback runs with events masked", 1, cb[14] as i64);
    s.check("user iret upcall: its iret returns to user mode (the ud2 there)", 6 << 16, r.fault);
    s.check("user iret upcall: at the user ud2", rip as i64, r.fault_rip as i64);
}
