//! The SYSCALL entry's short paths, in assembly before the general
//! register save: a hypercall number with no handler (-ENOSYS) and the
//! `iret` hypercall to the flat selectors, in kernel mode or to user mode.
//!
//! `syscall_entry` (in [`super::entry`]) tests one bit of
//! [`SYSCALL_SPECIAL`] for the number in RAX; only those numbers come
//! here. Each path makes the general path's checks
//! ([`super::run::syscall_entry`], [`crate::hypercall::implemented`],
//! [`super::fast_paths::iret`], [`crate::domain::iret::iret_flat`]) and
//! leaves for it with the frame and every register as SYSCALL left them
//! when anything is unusual: pending hypervisor work, an upcall pending,
//! an unknown `vcpu_info`, a refusal the log would show, a frame outside
//! guest space or faulting, a frame for other selectors or a
//! non-canonical RIP, a return to user mode without a user root. The
//! general path then gives its own answer (the same return, a fault
//! bounced to the guest, or the domain's crash).

use super::run::state;
use crate::domain::vcpu::{Vcpu, GUEST_FLAGS_MASK};
use core::mem::offset_of;
use core::ptr::addr_of_mut;

/// Bit `n` set: hypercall `n` (below 64) takes [`syscall_special`]: `iret`,
/// and every number without a handler. Numbers from 64 up are tested
/// before this word is.
#[no_mangle]
static SYSCALL_SPECIAL: u64 = SPECIAL;
const SPECIAL: u64 = {
    let mut bits = !0u64;
    let mut k = 0;
    while k < crate::hypercall::IMPLEMENTED.len() {
        bits &= !(1 << crate::hypercall::IMPLEMENTED[k].0);
        k += 1;
    }
    bits | 1 << abi::hypercall::HypercallNr::IRET.0
};
// Every handled number is below 64 (the shift above would not compile
// otherwise); the null hypercall and `event_channel_op` are not special.
const _: () = assert!(SPECIAL & (1 << 17 | 1 << 32) == 0 && SPECIAL & (1 << 23 | 1 << 63) == 1 << 23 | 1 << 63);

/// Nonzero when a refusal's debug line is never printed (the log level is
/// below debug, fixed at boot): only then is -ENOSYS answered here, since
/// the refusal log has nothing to do (its noted rule is read only by a
/// line).
#[no_mangle]
static mut SYSCALL_QUIET: u8 = 0;
/// Nonzero when guest accesses need STAC/CLAC.
#[no_mangle]
static mut SYSCALL_SMAP: u8 = 0;

/// Called once the logger and the SMAP setting are final.
pub(super) fn init() {
    let quiet = log::max_level() < log::LevelFilter::Debug;
    // SAFETY: boot code, before any guest runs: nothing reads these yet.
    unsafe {
        *addr_of_mut!(SYSCALL_QUIET) = u8::from(quiet);
        *addr_of_mut!(SYSCALL_SMAP) = u8::from(super::entry::smap());
    }
}

/// The running domain's user root as a machine address, 0 if it has none
/// (the `iret` to user mode then takes the general path).
#[no_mangle]
extern "C" fn xen_core_fast_user_root() -> u64 {
    state().map_or(0, |hv| hv.mm.domains[hv.current].user_root.map_or(0, |m| m.to_maddr()))
}

// Entered from `syscall_entry` with the hardware-like frame (RIP, CS,
// RFLAGS, RSP, SS) at RSP, the hypercall number in RAX, and RCX and R11
// free (their guest values are the frame's RIP and RFLAGS). Leaves either
// by `trap_return_iretq` with the frame rewritten, or for the general
// path (`xen_core_syscall`, which tests the number again) with RCX
// restored and nothing else changed.
core::arch::global_asm!(
    r#"
    .section .text.guest_entry, "ax"
    .global syscall_special
syscall_special:
    cmp rax, 23
    je .Lsf_iret
    // -ENOSYS: nothing pending, no upcall pending, no line to log.
    cmp byte ptr [rip + SYSCALL_QUIET], 0
    je .Lsf_general
    mov rcx, [rip + FAST_PENDING]
    cmp byte ptr [rcx], 0
    jne .Lsf_general
    mov rcx, [rip + FAST_VCPU_INFO]
    test rcx, rcx
    jz .Lsf_general
    cmp byte ptr [rcx], 0
    jne .Lsf_general
    mov rcx, [rsp + 16]
    and rcx, {flags_mask}
    or rcx, 0x202
    mov [rsp + 16], rcx
    mov rcx, [rsp]
    mov rax, -38
    jmp trap_return_iretq

.Lsf_iret:
    mov rcx, [rip + FAST_PENDING]
    cmp byte ptr [rcx], 0
    jne .Lsf_general
    mov rcx, [rip + FAST_VCPU_INFO]
    test rcx, rcx
    jz .Lsf_general
    cmp byte ptr [rcx], 0
    jne .Lsf_general
    push rsi
    push rdi
    // The 9-word frame at the guest's RSP: in guest space, no wrap.
    mov rsi, [rsp + 40]
    mov rax, rsi
    add rax, 71
    jc .Lsf_pop2
    shr rax, 47
    jz 1f
    mov rax, {hv_end}
    cmp rsi, rax
    jb .Lsf_pop2
1:
    sub rsp, 72
    mov rdi, rsp
    mov ecx, 9
    cmp byte ptr [rip + SYSCALL_SMAP], 0
    jne 2f
    .global syscall_iret_read_plain
syscall_iret_read_plain:
    rep movsq
    jmp 3f
2:
    stac
    .global syscall_iret_read_smap
syscall_iret_read_smap:
    rep movsq
    clac
3:
    // Words: RAX 0, R11 8, RCX 16, flags 24, RIP 32, CS 40, RFLAGS 48,
    // RSP 56, SS 64; then RDI 72, RSI 80, and the hardware frame at 88.
    movzx eax, word ptr [rsp + 40]
    or eax, 3
    cmp eax, {cs}
    jne .Lsf_decline
    movzx eax, word ptr [rsp + 64]
    or eax, 3
    cmp eax, {ss}
    jne .Lsf_decline
    mov rax, [rsp + 32]
    mov rcx, rax
    shl rcx, 16
    sar rcx, 16
    cmp rcx, rax
    jne .Lsf_decline
    test byte ptr [rsp + 40], 3
    jnz .Lsf_user
.Lsf_commit:
    // RFLAGS sanitised, the upcall mask from the frame's IF.
    mov rax, [rsp + 48]
    mov rcx, [rip + FAST_VCPU_INFO]
    test eax, 0x200
    setz byte ptr [rcx + 1]
    and rax, {flags_mask}
    or rax, 0x202
    mov [rsp + 104], rax
    mov rcx, [rsp + 32]
    mov [rsp + 88], rcx
    mov qword ptr [rsp + 96], {cs}
    mov rcx, [rsp + 56]
    mov [rsp + 112], rcx
    mov qword ptr [rsp + 120], {ss}
    // VGCF_in_syscall (flags bit 8): RCX = RIP, R11 = RFLAGS.
    test byte ptr [rsp + 25], 1
    jz 4f
    mov r11, rax
    mov rcx, [rsp + 32]
    jmp 5f
4:
    mov r11, [rsp + 8]
    mov rcx, [rsp + 16]
5:
    mov rax, [rsp]
    add rsp, 72
    pop rdi
    pop rsi
    jmp trap_return_iretq

.Lsf_user:
    // To user mode: the user root (none: the general path's answer),
    // then Xen's toggle: the root, SWAPGS, the user SYSCALL entry.
    push rdx
    push r8
    push r9
    push r10
    call xen_core_fast_user_root
    test rax, rax
    jz .Lsf_user_decline
    mov cr3, rax
    swapgs
    mov rax, [rip + FAST_VCPU]
    mov byte ptr [rax + {user_mode}], 1
    mov ecx, 0xC0000082
    lea rax, [rip + user_syscall_entry]
    mov rdx, rax
    shr rdx, 32
    wrmsr
    pop r10
    pop r9
    pop r8
    pop rdx
    jmp .Lsf_commit
.Lsf_user_decline:
    pop r10
    pop r9
    pop r8
    pop rdx
    jmp .Lsf_decline

    // A fault reading the frame: the general path reads it again and
    // crashes the domain.
    .global syscall_iret_fault_smap
syscall_iret_fault_smap:
    clac
    .global syscall_iret_fault_plain
syscall_iret_fault_plain:
.Lsf_decline:
    add rsp, 72
.Lsf_pop2:
    pop rdi
    pop rsi
    // RAX served as scratch: the number again.
    mov eax, 23
.Lsf_general:
    mov rcx, [rsp]
    push 0
    push 0x100
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
    mov rdi, rsp
    call xen_core_syscall
    jmp trap_return
"#,
    flags_mask = const GUEST_FLAGS_MASK,
    hv_end = const abi::HYPERVISOR_VIRT_END,
    cs = const abi::traps::FLAT_RING3_CS64 as u64,
    ss = const abi::traps::FLAT_RING3_SS64 as u64,
    user_mode = const offset_of!(Vcpu, user_mode),
);

extern "C" {
    static syscall_iret_read_plain: u8;
    static syscall_iret_read_smap: u8;
    static syscall_iret_fault_plain: u8;
    static syscall_iret_fault_smap: u8;
}

/// The frame read's instructions and where a fault of each resumes, for
/// [`super::entry::copy_fixup`].
pub(super) fn fixups() -> [(u64, u64); 2] {
    [
        (&raw const syscall_iret_read_plain as u64, &raw const syscall_iret_fault_plain as u64),
        (&raw const syscall_iret_read_smap as u64, &raw const syscall_iret_fault_smap as u64),
    ]
}
