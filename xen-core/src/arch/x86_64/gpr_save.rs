//! The general-register save and restore that every full guest entry
//! shares, as assembly text for the `global_asm!` stubs (`idt`,
//! `syscall_fast`, `evtchn_fast`, `fast_paths`): one definition, spliced
//! into each stub as a template string, since a GNU-as `.macro` in one
//! `global_asm!` block is not reliably seen by another.
//!
//! [`save_gprs!`] pushes R15 first and RAX last, so with the vector and
//! error code already pushed above them the stack pointer then points at a
//! [`TrapFrame`]: RAX at offset 0, RBX 8, RCX 16, RDX 24, RSI 32, RDI 40,
//! RBP 48, R8 56 … R15 112, the vector 120, the error code 128, then the
//! hardware frame (RIP 136, CS, RFLAGS, RSP, SS). [`restore_gprs!`] pops
//! them back in the opposite order, leaving the vector at RSP. The checks
//! below fail the build if `TrapFrame`'s field order ever stops matching.

use super::exception::TrapFrame;
use core::mem::offset_of;

/// The 15 pushes that turn "vector and error code pushed" into a
/// [`TrapFrame`] at RSP (see the module docs for the layout).
macro_rules! save_gprs {
    () => {
        "
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
"
    };
}
pub(super) use save_gprs;

/// The 15 pops that undo [`save_gprs!`], from a [`TrapFrame`] at RSP.
macro_rules! restore_gprs {
    () => {
        "
    pop rax
    pop rbx
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    pop rbp
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
"
    };
}
pub(super) use restore_gprs;

// The frame the pushes build, word by word (the last push lowest).
const _: () = {
    let order = [
        offset_of!(TrapFrame, rax),
        offset_of!(TrapFrame, rbx),
        offset_of!(TrapFrame, rcx),
        offset_of!(TrapFrame, rdx),
        offset_of!(TrapFrame, rsi),
        offset_of!(TrapFrame, rdi),
        offset_of!(TrapFrame, rbp),
        offset_of!(TrapFrame, r8),
        offset_of!(TrapFrame, r9),
        offset_of!(TrapFrame, r10),
        offset_of!(TrapFrame, r11),
        offset_of!(TrapFrame, r12),
        offset_of!(TrapFrame, r13),
        offset_of!(TrapFrame, r14),
        offset_of!(TrapFrame, r15),
        offset_of!(TrapFrame, vector),
        offset_of!(TrapFrame, error_code),
        offset_of!(TrapFrame, rip),
    ];
    let mut k = 0;
    while k < order.len() {
        assert!(order[k] == k * 8, "TrapFrame's fields must follow save_gprs!'s pushes");
        k += 1;
    }
};
