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

fn vcpu() -> Vcpu {
    Vcpu::new(GuestContext::default())
}

#[test]
fn compat_syscall_bounces_to_the_syscall32_callback_with_df_cleared() {
    let (s, mut v) = (stack(), vcpu());
    v.callbacks[CALLBACKTYPE_SYSCALL32 as usize] = (0xFFFF_8000_0000_1000, 0);
    let mut c = compat_entry(0x4000);
    compat_syscall(&mut c, &v, &s).unwrap();
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
    compat_syscall(&mut c, &v, &s).unwrap();
    assert_eq!(c.rip, 0xFFFF_8000_0000_3000, "#UD handler, not the 64-bit callback");
}

#[test]
fn compat_syscall_without_a_callback_raises_ud_at_the_instruction_keeping_df() {
    let (s, mut v) = (stack(), vcpu());
    v.traps[6] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    compat_syscall(&mut c, &v, &s).unwrap();
    assert_eq!(c.rip, 0xFFFF_8000_0000_3000);
    assert_ne!(c.rflags & FLAG_DF, 0, "DF left alone for the #UD");
    // No error code: RCX, R11, RIP (rewound to the SYSCALL), CS, ...
    assert_eq!(word(&s, c.rsp + 16), 0x4000 - 2);
    assert_eq!(word(&s, c.rsp + 24), 0xE020);
}

#[test]
fn compat_syscall_without_callback_or_ud_handler_crashes_the_domain() {
    let (s, v) = (stack(), vcpu());
    let mut c = compat_entry(0x4000);
    assert!(compat_syscall(&mut c, &v, &s).is_err());
}

#[test]
fn bounce_with_an_unwritable_stack_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu());
    v.traps[13] = TrapEntry { address: 0xFFFF_8000_0000_3000, cs: 0xE033, flags: 0 };
    let mut c = compat_entry(0x4000);
    c.rsp = 0x8000_0000_0000_0000;
    assert!(bounce(&mut c, &v, &s, 13, Some(0)).is_err());
}
