//! `EVTCHNOP_send`'s short path: from the SYSCALL entry's assembly
//! (`syscall_special`, which sends `event_channel_op` here) straight to
//! the send, with only the argument registers saved, and back; when the
//! send made an upcall due and nothing else is pending, the upcall frame
//! is built and the event callback entered in assembly too.
//!
//! [`xen_core_evtchn_send`] is the whole of the general path's send
//! ([`crate::hypercall`]'s `event_channel_op`, then the exit in
//! [`super::run`]) for the case it serves, in the same order: the port
//! read from its 4-byte struct, [`crate::event::EventChannels::send`]
//! (the 2-level bits in Xen's order), the kicks of the running caller
//! dropped and any other kick noted. Anything else it declines before
//! acting: another command, pending hypervisor work (the `check=` mode
//! included), an unreadable struct, a refused send (the general path
//! then gives Xen's errno and the refusal log line), or a send on the
//! domain's console-ring port (which the general path drains). Once it
//! has sent, work left for the exit (a kicked domain to wake, an upcall
//! the assembly does not deliver) takes the general exit, `after_entry`,
//! with RAX = 0 in the frame as the general path would have stored it.
//!
//! The upcall in assembly (`event_upcall_fast`) is
//! `domain::bounce::event_upcall` from kernel mode, for the send (a
//! SYSCALL hypercall is always made there) and for the `iret` short path
//! in [`super::syscall_fast`] when the mask the `iret` restored lets a
//! pending upcall in: the 7-word frame (RCX, R11, RIP, CS with the mask 0
//! in bits 32-39, RFLAGS with IF set, RSP, SS) written in one guest access
//! below the guest's stack rounded down to 16, after the general path's
//! checks (the hypervisor's range, guest space); then the callback on the
//! flat selectors with events masked, RAX and every other register as
//! the hypercall returns them. No callback, user mode, a stack that fails
//! a check, or a faulting write takes the general exit, which gives its
//! own answer (the same upcall, or the domain's crash).

use super::events::{current_upcall_is_due, events};
use super::exception::TrapFrame;
use super::gpr_save::save_gprs;
use super::run::state;
use crate::domain::vcpu::{Vcpu, GUEST_FLAGS_MASK};
use crate::hypercall::guest_mem::CheckedU32;
use crate::mm::MmHooks;
use abi::event_channel::EVTCHNOP_SEND;
use abi::DomId;
use core::mem::{offset_of, size_of};

/// [`xen_core_evtchn_send`]'s answers to the stub.
const SENT: u64 = 0;
/// Nothing done: the general path handles the hypercall.
const DECLINED: u64 = 1;
/// Sent; the exit has work (a kick, pending work): the general exit.
const SENT_SLOW_EXIT: u64 = 2;
/// Sent; an upcall is due (mask clear) and nothing else is pending.
const SENT_UPCALL: u64 = 3;

/// `EVTCHNOP_send` on the struct at `arg` by the running domain, when it
/// succeeds without the general path's extras (see the module docs).
#[no_mangle]
extern "C" fn xen_core_evtchn_send(arg: u64) -> u64 {
    let Some(hv) = state() else { return DECLINED };
    let me = DomId(hv.current as u16);
    let Some(port) = CheckedU32::new(arg).and_then(super::guest_small::read_u32) else { return DECLINED };
    if super::console_rings::is_ring_port(me, port) {
        return DECLINED;
    }
    let ev = events();
    if ev.send(&mut hv.mm, me, port).is_err() {
        return DECLINED;
    }
    ev.forget_kicks_of(me);
    if ev.kicked() {
        hv.mm.hooks.event_kicked();
    }
    if hv.mm.hooks.pending != 0 {
        SENT_SLOW_EXIT
    } else if current_upcall_is_due() {
        SENT_UPCALL
    } else {
        SENT
    }
}

/// The general exit of a hypercall a short path answered (a send, with
/// RAX 0, or an `iret` that met an upcall it could not enter): the
/// registers the guest gets are in the frame.
#[no_mangle]
extern "C" fn xen_core_fast_exit(frame: &mut TrapFrame) {
    super::run::answered_hypercall_exit(frame);
}

/// Where the event callback's address is in a [`Vcpu`].
const EVENT_CB: usize = offset_of!(Vcpu, callbacks)
    + abi::traps::CALLBACKTYPE_EVENT as usize * size_of::<(u64, u16)>()
    + offset_of!((u64, u16), 0);
const _: () = assert!(SENT == 0 && DECLINED == 1 && SENT_UPCALL == 3, "the stub tests these values");

// Entered from `syscall_special` with the hardware-like frame (RIP, CS,
// RFLAGS, RSP, SS) at RSP, RAX = event_channel_op, and RCX and R11 free
// (their guest values are the frame's RIP and RFLAGS). Every other
// register keeps the guest's value on every way out, as on Xen.
core::arch::global_asm!(
    r#"
    .section .text.guest_entry, "ax"
    .global evtchn_send_fast
evtchn_send_fast:
    cmp rdi, {send}
    jne syscall_general
    mov rcx, [rip + FAST_PENDING]
    cmp byte ptr [rcx], 0
    jne syscall_general
    // Seven saves (the number with them) keep the call's stack aligned.
    push rax
    push rdi
    push rsi
    push rdx
    push r8
    push r9
    push r10
    mov rdi, rsi
    call xen_core_evtchn_send
    pop r10
    pop r9
    pop r8
    pop rdx
    pop rsi
    pop rdi
    pop rcx
    mov r11, [rsp + 16]
    test eax, eax
    jnz 1f
    // Sent, nothing left: RAX 0, RFLAGS sanitised, RCX and R11 as SYSCALL
    // left them.
    mov rcx, r11
    and rcx, {flags_mask}
    or rcx, 0x202
    mov [rsp + 16], rcx
    mov rcx, [rsp]
    jmp trap_return_iretq
1:
    cmp eax, 1
    jne 2f
    mov eax, ecx
    jmp syscall_general
2:
    // Sent, RAX 0, RCX and R11 as SYSCALL left them (RIP, RFLAGS): the
    // upcall below, or the general exit.
    cmp eax, 3
    mov rcx, [rsp]
    mov eax, 0
    jne fast_general_exit

    // The upcall in assembly, shared with the `iret` short path
    // (`syscall_fast`). Entered by a jump with the hardware-like frame at
    // RSP holding the return the guest makes now (RIP, CS, RFLAGS, RSP,
    // SS) and every register the guest's as it gets them (RAX, RCX and
    // R11 included), when an upcall is due and nothing else is pending:
    // with a callback, in kernel mode and a stack the checks accept, this
    // is `bounce::event_upcall`. Anything else takes the general exit.
    .global event_upcall_fast
event_upcall_fast:
    push rsi
    push rdi
    push rdx
    // Three saves: RIP at [rsp + 24], CS 32, RFLAGS 40, RSP 48, SS 56.
    mov rsi, [rip + FAST_VCPU]
    test rsi, rsi
    jz .Leu_decline
    cmp byte ptr [rsi + {user_mode}], 0
    jne .Leu_decline
    cmp qword ptr [rsi + {event_cb}], 0
    je .Leu_decline
    // The new RSP (RDI): not in the hypervisor's range, the frame's 56
    // bytes in guest space.
    mov rdi, [rsp + 48]
    and rdi, -16
    sub rdi, 56
    mov rsi, rdi
    mov rdx, {hv_start}
    sub rsi, rdx
    mov rdx, {hv_span}
    cmp rsi, rdx
    jb .Leu_decline
    mov rsi, rdi
    add rsi, 55
    jc .Leu_decline
    shr rsi, 47
    jz 4f
    mov rsi, {hv_end}
    cmp rdi, rsi
    jb .Leu_decline
4:
    // RCX, R11, RIP, CS (RPL 0, mask 0), RFLAGS (IF set), RSP, SS, written
    // in one string move.
    mov rsi, [rsp + 40]
    or rsi, 0x200
    mov rdx, [rsp + 32]
    and rdx, -4
    push qword ptr [rsp + 56]
    push qword ptr [rsp + 56]
    push rsi
    push rdx
    push qword ptr [rsp + 56]
    push r11
    push rcx
    mov rsi, rsp
    mov ecx, 7
    cmp byte ptr [rip + SYSCALL_SMAP], 0
    jne 5f
    .global event_upcall_write_plain
event_upcall_write_plain:
    rep movsq
    jmp 6f
5:
    stac
    .global event_upcall_write_smap
event_upcall_write_smap:
    rep movsq
    clac
6:
    pop rcx
    lea rsp, [rsp + 48]
    // Committed: the callback on the flat selectors, events masked.
    sub rdi, 56
    mov rsi, [rip + FAST_VCPU]
    mov rdx, [rsi + {event_cb}]
    mov [rsp + 24], rdx
    mov qword ptr [rsp + 32], {cs}
    mov rdx, [rsp + 40]
    and rdx, {flags_kept}
    or rdx, 0x202
    mov [rsp + 40], rdx
    mov [rsp + 48], rdi
    mov qword ptr [rsp + 56], {ss}
    mov rsi, [rip + FAST_VCPU_INFO]
    mov byte ptr [rsi + 1], 1
    pop rdx
    pop rdi
    pop rsi
    jmp trap_return_iretq

    // A fault writing the frame: the general exit writes it again and
    // crashes the domain.
    .global event_upcall_fault_smap
event_upcall_fault_smap:
    clac
    .global event_upcall_fault_plain
event_upcall_fault_plain:
    pop rcx
    lea rsp, [rsp + 48]
.Leu_decline:
    pop rdx
    pop rdi
    pop rsi
    // The general exit, with the frame the general path builds from the
    // registers as they are.
    .global fast_general_exit
fast_general_exit:
    push 0
    push 0x100
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    call xen_core_fast_exit
    jmp trap_return
"#,
    send = const EVTCHNOP_SEND,
    flags_mask = const GUEST_FLAGS_MASK,
    flags_kept = const GUEST_FLAGS_MASK & !crate::domain::bounce::CLEARED_ON_BOUNCE,
    user_mode = const offset_of!(Vcpu, user_mode),
    event_cb = const EVENT_CB,
    hv_start = const abi::HYPERVISOR_VIRT_START,
    hv_end = const abi::HYPERVISOR_VIRT_END,
    hv_span = const abi::HYPERVISOR_VIRT_END + 64 - abi::HYPERVISOR_VIRT_START,
    cs = const abi::traps::FLAT_RING3_CS64 as u64,
    ss = const abi::traps::FLAT_RING3_SS64 as u64,
);

extern "C" {
    static event_upcall_write_plain: u8;
    static event_upcall_write_smap: u8;
    static event_upcall_fault_plain: u8;
    static event_upcall_fault_smap: u8;
}

/// The upcall frame write's instructions and where a fault of each
/// resumes, for [`super::entry::copy_fixup`].
pub(super) fn fixups() -> [(u64, u64); 2] {
    [
        (&raw const event_upcall_write_plain as u64, &raw const event_upcall_fault_plain as u64),
        (&raw const event_upcall_write_smap as u64, &raw const event_upcall_fault_smap as u64),
    ]
}
