//! Bounce frames and the compatibility-mode SYSCALL answer, over a fake
//! guest stack.

use super::*;
use crate::domain::test_stack::{stack, word, TOP};
use crate::domain::vcpu::TrapEntry;
use abi::traps::{CALLBACKTYPE_SYSCALL, FLAT_RING3_CS32};

/// The context the CSTAR entry builds for `syscall` at `rip - 2` in
/// compatibility mode, with DF set in the caller's flags.
fn compat_entry(rip: u64) -> GuestContext {
    let mut c = GuestContext {
        rip,
        cs: u64::from(FLAT_RING3_CS32),
        ss: u64::from(FLAT_RING3_SS64),
        rsp: TOP - 8,
        rflags: 0x602,
        ..Default::default()
    };
    c.gpr[reg::RCX] = rip;
    c.gpr[reg::R11] = 0x602;
    c
}

const ROOTS: Roots = Roots { kernel: 0x1000, user: 0x2000 };

fn vcpu() -> Vcpu {
    Vcpu::new(GuestContext::default())
}

#[test]
fn compat_syscall_bounces_to_the_syscall32_callback_with_df_cleared() {
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[CALLBACKTYPE_SYSCALL32 as usize] = (0xFFFF_8000_0000_1000, 0);
    let mut c = compat_entry(0x4000);
    compat_syscall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert_eq!((c.rip, c.cs, c.ss), (0xFFFF_8000_0000_1000, 0xE033, 0xE02B));
    assert_eq!(c.rflags & FLAG_DF, 0, "DF cleared as the PV SYSCALL mask says");
    // RCX, R11, RIP, CS (RPL cleared: kernel mode), RFLAGS, RSP, SS.
    let sp = c.rsp;
    assert_eq!(sp, (TOP - 16) - 7 * 8);
    let frame: Vec<u64> = (0..7).map(|i| word(&s, sp + i * 8)).collect();
    assert_eq!(frame, [0x4000, 0x602, 0x4000, 0xE020, 0x602, TOP - 8, 0xE02B]);
}

#[test]
fn compat_syscall_ignores_the_64bit_syscall_callback() {
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[CALLBACKTYPE_SYSCALL as usize] = (0xFFFF_8000_0000_2000, 0);
    v.traps[6] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    compat_syscall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert_eq!(c.rip, 0xFFFF_8000_0000_3000, "#UD handler, not the 64-bit callback");
}

#[test]
fn compat_syscall_without_a_callback_raises_ud_at_the_instruction_keeping_df() {
    let (s, mut v) = (stack(), vcpu());
    v.traps[6] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    compat_syscall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert_eq!(c.rip, 0xFFFF_8000_0000_3000);
    assert_ne!(c.rflags & FLAG_DF, 0, "DF left alone for the #UD");
    // No error code: RCX, R11, RIP (rewound to the SYSCALL), CS, ...
    assert_eq!(word(&s, c.rsp + 16), 0x4000 - 2);
    assert_eq!(word(&s, c.rsp + 24), 0xE020);
}

#[test]
fn compat_syscall_without_callback_or_ud_handler_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu());
    let mut c = compat_entry(0x4000);
    assert!(compat_syscall(&mut c, &mut v, &s, &ROOTS).is_err());
}

#[test]
fn bounce_with_an_unwritable_stack_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu());
    v.traps[13] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    c.rsp = 0x8000_0000_0000_0000;
    assert!(bounce(&mut c, &mut v, &s, &ROOTS, 13, Some(0)).is_err());
}

const HANDLER: u64 = 0xFFFF_8000_0000_3000;
const KERNEL_SP: u64 = TOP - 0x100 + 8; // rounded down to TOP - 0x100

/// The entry context of a 64-bit SYSCALL at `rip - 2` in user mode.
fn user_entry(rip: u64) -> (GuestContext, Vcpu) {
    let mut c = compat_entry(rip);
    c.cs = u64::from(FLAT_RING3_CS64);
    c.rsp = 0x7FFF_F000;
    let mut v = vcpu();
    (v.user_mode, v.kernel_sp) = (true, KERNEL_SP);
    (c, v)
}

fn words(s: &crate::domain::test_stack::Stack, sp: u64, n: u64) -> Vec<u64> {
    (0..n).map(|i| word(s, sp + i * 8)).collect()
}

#[test]
fn user_syscall_goes_to_the_syscall_callback_on_the_kernel_stack() {
    let s = stack();
    let (mut c, mut v) = user_entry(0x40_1002);
    v.callbacks[CALLBACKTYPE_SYSCALL as usize] = (HANDLER, 0);
    user_syscall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert!(!v.user_mode);
    assert_eq!(*s.1.borrow(), [(false, ROOTS.kernel)], "kernel root loaded before the frame is written");
    assert_eq!((c.rip, c.cs, c.ss, c.rsp), (HANDLER, 0xE033, 0xE02B, TOP - 0x100 - 56));
    assert_eq!(c.rflags & FLAG_DF, 0);
    // RCX, R11, RIP, CS (RPL 3: from user mode), RFLAGS, RSP, SS.
    assert_eq!(words(&s, c.rsp, 7), [0x40_1002, 0x602, 0x40_1002, 0xE033, 0x602, 0x7FFF_F000, 0xE02B]);
}

#[test]
fn user_syscall_without_a_callback_is_ud_at_the_syscall_in_kernel_mode() {
    let s = stack();
    let (mut c, mut v) = user_entry(0x40_1002);
    v.traps[6] = TrapEntry { address: HANDLER, cs: 0xE033, flags: 0 };
    user_syscall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert!(!v.user_mode);
    assert_eq!(words(&s, c.rsp, 4)[2..], [0x40_1000, 0xE033]);
}

#[test]
fn user_mode_exception_bounces_on_the_kernel_stack_with_the_user_cs() {
    let s = stack();
    let (mut c, mut v) = user_entry(0x40_2000);
    v.traps[13] = TrapEntry { address: HANDLER, cs: 0xE033, flags: 0 };
    bounce(&mut c, &mut v, &s, &ROOTS, 13, Some(0x18)).unwrap();
    assert!(!v.user_mode);
    assert_eq!(c.rsp, TOP - 0x100 - 64);
    assert_eq!(words(&s, c.rsp, 8)[2..], [0x18, 0x40_2000, 0xE033, 0x602, 0x7FFF_F000, 0xE02B]);
}

#[test]
fn kernel_mode_exception_stays_on_its_stack_and_clears_the_cs_rpl() {
    let (s, mut v) = (stack(), vcpu());
    v.traps[13] = TrapEntry { address: HANDLER, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    c.cs = 0xE033;
    bounce(&mut c, &mut v, &s, &ROOTS, 13, None).unwrap();
    assert!(s.1.borrow().is_empty(), "no mode switch");
    assert_eq!(c.rsp, TOP - 16 - 56);
    assert_eq!(word(&s, c.rsp + 24), 0xE030);
}

#[test]
fn every_bounce_frame_is_written_in_one_guest_access() {
    for (vector, code, words_in_frame) in [(6, None, 7), (13, Some(0x18), 8)] {
        let (s, mut v) = (stack(), vcpu());
        v.traps[vector as usize] = TrapEntry { address: HANDLER, cs: 0xE033, flags: 0 };
        let mut c = compat_entry(0x4000);
        c.cs = 0xE033;
        bounce(&mut c, &mut v, &s, &ROOTS, vector, code).unwrap();
        assert_eq!(s.3.get(), 1, "vector {vector}: one write");
        assert_eq!(c.rsp, TOP - 16 - words_in_frame * 8);
    }
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[abi::traps::CALLBACKTYPE_FAILSAFE as usize] = (HANDLER, 0);
    let mut c = compat_entry(0x4000);
    failsafe(&mut c, &mut v, &s, &ROOTS, Selectors::default()).unwrap();
    assert_eq!(s.3.get(), 1, "failsafe: one write");
}

#[test]
fn failsafe_frame_carries_the_old_selectors() {
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[abi::traps::CALLBACKTYPE_FAILSAFE as usize] = (HANDLER, 0);
    let mut c = compat_entry(0x4000);
    let old = Selectors { ds: 0x2B, es: 0x33, fs: 0x3B, gs: 0x43 };
    failsafe(&mut c, &mut v, &s, &ROOTS, old).unwrap();
    assert_eq!(c.rip, HANDLER);
    assert_eq!(words(&s, c.rsp, 11)[2..7], [0x2B, 0x33, 0x3B, 0x43, 0x4000]);
}

#[test]
fn failsafe_without_a_callback_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu());
    let mut c = compat_entry(0x4000);
    assert!(failsafe(&mut c, &mut v, &s, &ROOTS, Selectors::default()).is_err());
}

#[test]
fn an_event_upcall_enters_the_event_callback_with_the_saved_mask_and_masks_events() {
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[CALLBACKTYPE_EVENT as usize] = (0xFFFF_8000_0000_5000, 0);
    let mut c = GuestContext { rip: 0x7000, cs: 0xE033, ss: 0xE02B, rsp: TOP - 8, rflags: 0x202, ..Default::default() };
    c.gpr[reg::RCX] = 0x11;
    c.gpr[reg::R11] = 0x22;
    event_upcall(&mut c, &mut v, &s, &ROOTS).unwrap();
    assert_eq!((c.rip, c.cs, c.ss), (0xFFFF_8000_0000_5000, 0xE033, 0xE02B));
    let sp = c.rsp;
    let frame: Vec<u64> = (0..7).map(|i| word(&s, sp + i * 8)).collect();
    // No error code; CS with RPL cleared (kernel mode), mask 0 in bits 32-39.
    assert_eq!(frame, [0x11, 0x22, 0x7000, 0xE030, 0x202, TOP - 8, 0xE02B]);
    assert_eq!(s.2.get(), 1, "evtchn_upcall_mask set on entry");
}

#[test]
fn a_bounce_frame_carries_the_upcall_mask_in_cs_and_if() {
    let (s, mut v) = (stack(), vcpu());
    s.2.set(1);
    v.traps[6] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = GuestContext { rip: 0x7000, cs: 0xE033, ss: 0xE02B, rsp: TOP - 8, rflags: 0x202, ..Default::default() };
    bounce(&mut c, &mut v, &s, &ROOTS, 6, None).unwrap();
    let sp = c.rsp;
    assert_eq!(word(&s, sp + 24), 0xE030 | 1 << 32, "saved mask in CS bits 32-39");
    assert_eq!(word(&s, sp + 32) & FLAG_IF, 0, "IF = !mask");
    assert_eq!(s.2.get(), 1, "flag bit 2 clear: the mask is left as it was");
    s.2.set(0);
    v.traps[6].flags = 4;
    let mut c = GuestContext { rip: 0x7000, cs: 0xE033, ss: 0xE02B, rsp: TOP - 8, rflags: 0x202, ..Default::default() };
    bounce(&mut c, &mut v, &s, &ROOTS, 6, None).unwrap();
    assert_eq!(word(&s, c.rsp + 32) & FLAG_IF, FLAG_IF);
    assert_eq!(s.2.get(), 1, "a trap gate with flag bit 2 masks events");
}

#[test]
fn an_event_upcall_without_an_event_callback_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu());
    let mut c = GuestContext { rip: 0x7000, cs: 0xE033, ss: 0xE02B, rsp: TOP - 8, ..Default::default() };
    assert!(event_upcall(&mut c, &mut v, &s, &ROOTS).is_err());
}
