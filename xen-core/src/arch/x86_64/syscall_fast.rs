//! The SYSCALL entry's short paths, in assembly before the general
//! register save: a hypercall number with no handler (-ENOSYS), the
//! `iret` hypercall to the flat selectors, in kernel mode or to user mode,
//! and a SYSCALL in guest user mode into the kernel's syscall callback
//! (`user_syscall_fast`, the whole of [`crate::domain::bounce::user_syscall`]
//! when a callback is registered).
//!
//! `syscall_entry` (in [`super::entry`]) tests one bit of
//! [`SYSCALL_SPECIAL`] for the number in RAX; only those numbers come
//! here. Each path makes the general path's checks
//! ([`super::run::syscall_entry`], [`crate::hypercall::implemented`],
//! [`super::fast_paths::iret`], [`crate::domain::iret::iret_flat`]) and
//! leaves for it with the frame and every register as SYSCALL left them
//! when anything is unusual: pending hypervisor work, an upcall pending
//! (for -ENOSYS and the user SYSCALL), an unknown `vcpu_info`, a refusal
//! the log would show, a frame outside guest space or faulting, a frame
//! for other selectors or a non-canonical RIP, a return to user mode
//! without a user root. The general path then gives its own answer (the
//! same return, a fault bounced to the guest, or the domain's crash).
//!
//! The `iret` restores the upcall mask from the frame's IF as Xen's
//! `do_iret` does; an upcall pending that this unmasks is then due on the
//! way out, as at Xen's exit (`test_guest_events`): once the return is
//! restored, a kernel-mode return enters the event callback in assembly
//! (`event_upcall_fast`, the send path's frame writer in
//! [`super::evtchn_fast`]), and a return to user mode, or anything that
//! writer declines, takes the general exit with the restored registers,
//! which delivers the upcall (or crashes the domain) as after the general
//! path's `iret`.

use super::gpr_save::save_gprs;
use super::run::state;
use crate::domain::vcpu::{Vcpu, GUEST_FLAGS_MASK};
use core::mem::offset_of;
use core::ptr::addr_of_mut;

/// Bit `n` set: hypercall `n` (below 64) takes [`syscall_special`]: `iret`,
/// `event_channel_op` (for `EVTCHNOP_send`'s short path, in
/// [`super::evtchn_fast`]) and every number without a handler. Numbers
/// from 64 up are tested before this word is.
#[no_mangle]
static SYSCALL_SPECIAL: u64 = SPECIAL;
const SPECIAL: u64 = {
    let mut bits = !0u64;
    let mut k = 0;
    while k < crate::hypercall::IMPLEMENTED.len() {
        bits &= !(1 << crate::hypercall::IMPLEMENTED[k].0);
        k += 1;
    }
    bits | 1 << abi::hypercall::HypercallNr::IRET.0 | 1 << abi::hypercall::HypercallNr::EVENT_CHANNEL_OP.0
};
// Every handled number is below 64 (the shift above would not compile
// otherwise); the null hypercall is not special, the stub's numbers are.
const _: () = assert!(SPECIAL & 1 << 17 == 0 && SPECIAL & (1 << 23 | 1 << 32 | 1 << 63) == 1 << 23 | 1 << 32 | 1 << 63);

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

/// The running domain's kernel root, 0 if it has none (the user SYSCALL
/// then takes the general path).
#[no_mangle]
extern "C" fn xen_core_fast_kernel_root() -> u64 {
    state().map_or(0, |hv| hv.mm.domains[hv.current].kernel_root.map_or(0, |m| m.to_maddr()))
}

/// Where the syscall callback's address and flags are in a [`Vcpu`].
const SYSCALL_CB: usize =
    offset_of!(Vcpu, callbacks) + abi::traps::CALLBACKTYPE_SYSCALL as usize * core::mem::size_of::<(u64, u16)>();
const CB_ADDRESS: usize = SYSCALL_CB + offset_of!((u64, u16), 0);
const CB_FLAGS: usize = SYSCALL_CB + offset_of!((u64, u16), 1);
const _: () = assert!(abi::traps::CALLBACKF_MASK_EVENTS == 1, "the stub tests bit 0 of the flags");
/// The handler's RFLAGS as the general path leaves them: the bounce's
/// clears, DF cleared (the PV SYSCALL mask), then the exit's sanitising.
const USER_SYSCALL_FLAGS: u64 = GUEST_FLAGS_MASK & !crate::domain::bounce::CLEARED_ON_BOUNCE & !(1 << 10);

// Entered from `syscall_entry` with the hardware-like frame (RIP, CS,
// RFLAGS, RSP, SS) at RSP, the hypercall number in RAX, and RCX and R11
// free (their guest values are the frame's RIP and RFLAGS). Leaves either
// by `trap_return_iretq` with the frame rewritten, or for the general
// path (`xen_core_syscall`, which tests the number again) with RCX
// restored and nothing else changed.
core::arch::global_asm!(
    r#"
    // The rest of the flat `iret` once its mask is set (RAX the frame's
    // RFLAGS): RCX and R11 from the frame or, with VGCF_in_syscall (flags
    // bit 8), RIP and the sanitised RFLAGS; for a return that meets an
    // upcall (`upcall` 1) the SYSCALL's RCX and R11 instead (the hardware
    // frame's RIP and RFLAGS before the rewrite: Xen's rule, see
    // `domain::iret`). Then the hardware frame rewritten from the guest's,
    // RAX from it, RDI and RSI restored.
    .macro SF_IRET_RESTORE upcall
    and rax, {flags_mask}
    or rax, 0x202
    test byte ptr [rsp + 25], 1
    jz 4f
    .if \upcall
    mov r11, [rsp + 104]
    mov rcx, [rsp + 88]
    .else
    mov r11, rax
    mov rcx, [rsp + 32]
    .endif
    jmp 5f
4:
    mov r11, [rsp + 8]
    mov rcx, [rsp + 16]
5:
    mov [rsp + 104], rax
    mov rax, [rsp + 32]
    mov [rsp + 88], rax
    mov qword ptr [rsp + 96], {cs}
    mov rax, [rsp + 56]
    mov [rsp + 112], rax
    mov qword ptr [rsp + 120], {ss}
    mov rax, [rsp]
    add rsp, 72
    pop rdi
    pop rsi
    .endm

    .section .text.guest_entry, "ax"
    .global syscall_special
syscall_special:
    cmp rax, 23
    je .Lsf_iret
    cmp rax, 32
    je evtchn_send_fast
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
    // R11 (free: the guest's is in the frame) holds the vcpu_info.
    mov r11, [rip + FAST_VCPU_INFO]
    test r11, r11
    jz .Lsf_iret_general
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
    jz .Lsf_commit
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
    mov r11, [rip + FAST_VCPU_INFO]
    pop r10
    pop r9
    pop r8
    pop rdx
.Lsf_commit:
    // The upcall mask from the frame's IF (Xen's do_iret). An upcall then
    // due (IF set, upcall_pending) is entered on the way out, as Xen's
    // exit does: by `event_upcall_fast` (in `evtchn_fast`) from kernel
    // mode, by the general exit it hands a return to user mode to.
    mov rax, [rsp + 48]
    test eax, 0x200
    setz byte ptr [r11 + 1]
    jz 6f
    cmp byte ptr [r11], 0
    jne .Lsf_commit_upcall
6:
    SF_IRET_RESTORE 0
    jmp trap_return_iretq
.Lsf_commit_upcall:
    SF_IRET_RESTORE 1
    jmp event_upcall_fast
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
.Lsf_iret_general:
    // RAX and R11 served as scratch: the number and RFLAGS again.
    mov eax, 23
    mov r11, [rsp + 16]
.Lsf_general:
    // Also `evtchn_send_fast`'s way to the general path (RCX and R11 as
    // there).
    .global syscall_general
syscall_general:
    mov rcx, [rsp]
    push 0
    push 0x100
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    call xen_core_syscall
    jmp trap_return

    // SYSCALL in guest user mode, from `user_syscall_entry` with the
    // hardware-like frame at RSP and every register the guest's (RCX =
    // RIP, R11 = RFLAGS). With nothing pending, no upcall pending, a
    // syscall callback, a kernel root and a kernel stack that takes the
    // 7-word frame, this is `bounce::user_syscall`: the toggle to kernel
    // mode (root, SWAPGS, the kernel SYSCALL entry), the frame (RCX, R11,
    // RIP, CS 0xE033 with the saved mask in bits 32-39, RFLAGS with IF =
    // !mask, RSP, SS) in one guest access below `kernel_sp` rounded down
    // to 16, the callback on the flat selectors with DF cleared, and the
    // mask set if the callback asks for it. A faulting frame write
    // toggles back first; every decline leaves with the frame and the
    // registers as they came, for `xen_core_cstar`.
    .global user_syscall_fast
user_syscall_fast:
    push rax
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    // The hardware frame at [rsp + 56]: RIP, CS 64, RFLAGS 72, RSP 80, SS 88.
    mov rax, [rip + FAST_PENDING]
    cmp byte ptr [rax], 0
    jne .Lus_decline
    mov rsi, [rip + FAST_VCPU_INFO]
    test rsi, rsi
    jz .Lus_decline
    cmp byte ptr [rsi], 0
    jne .Lus_decline
    mov rdi, [rip + FAST_VCPU]
    cmp qword ptr [rdi + {cb_address}], 0
    je .Lus_decline
    call xen_core_fast_kernel_root
    test rax, rax
    jz .Lus_decline
    mov r9, rax
    mov rsi, [rip + FAST_VCPU_INFO]
    mov rdi, [rip + FAST_VCPU]
    // The new RSP (R8): not in the hypervisor's range, the frame in guest
    // space.
    mov r8, [rdi + {kernel_sp}]
    and r8, -16
    sub r8, 56
    mov rax, r8
    mov rdx, {hv_start}
    sub rax, rdx
    mov rdx, {hv_span}
    cmp rax, rdx
    jb .Lus_decline
    mov rax, r8
    add rax, 55
    jc .Lus_decline
    shr rax, 47
    jz 1f
    mov rax, {hv_end}
    cmp r8, rax
    jb .Lus_decline
1:
    // The frame on our stack: RFLAGS with IF = !mask (RAX), CS with the
    // mask (RDX).
    movzx edx, byte ptr [rsi + 1]
    mov rax, [rsp + 72]
    or rax, 0x200
    test edx, edx
    jz 2f
    and rax, -0x201
2:
    shl rdx, 32
    or rdx, {cs}
    push qword ptr [rsp + 88]
    push qword ptr [rsp + 88]
    push rax
    push rdx
    push qword ptr [rsp + 88]
    push qword ptr [rsp + 112]
    push qword ptr [rsp + 104]
    // Kernel mode: the old root kept (R10) in case the write faults.
    mov r10, cr3
    mov byte ptr [rdi + {user_mode}], 0
    mov cr3, r9
    swapgs
    mov ecx, 0xC0000082
    mov rax, [rip + KERNEL_LSTAR]
    mov rdx, rax
    shr rdx, 32
    wrmsr
    mov rdi, r8
    mov rsi, rsp
    mov edx, 7
    call [rip + FAST_WORDS_TO_GUEST]
    lea rsp, [rsp + 56]
    test eax, eax
    jnz .Lus_untoggle
    // Committed: the callback on the flat selectors.
    mov rdi, [rip + FAST_VCPU]
    mov rax, [rdi + {cb_address}]
    mov rcx, [rsp + 56]
    mov r11, [rsp + 72]
    mov [rsp + 56], rax
    mov qword ptr [rsp + 64], {cs}
    mov rax, r11
    and rax, {us_flags}
    or rax, 0x202
    mov [rsp + 72], rax
    mov [rsp + 80], r8
    mov qword ptr [rsp + 88], {ss}
    test byte ptr [rdi + {cb_flags}], 1
    jz 3f
    mov rax, [rip + FAST_VCPU_INFO]
    mov byte ptr [rax + 1], 1
3:
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    jmp trap_return_iretq
.Lus_untoggle:
    mov rdi, [rip + FAST_VCPU]
    mov byte ptr [rdi + {user_mode}], 1
    mov cr3, r10
    swapgs
    mov ecx, 0xC0000082
    lea rax, [rip + user_syscall_entry]
    mov rdx, rax
    shr rdx, 32
    wrmsr
.Lus_decline:
    mov rcx, [rsp + 56]
    mov r11, [rsp + 72]
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    push 0
    push 0x102
    jmp cstar_common
    .purgem SF_IRET_RESTORE
"#,
    cb_address = const CB_ADDRESS,
    cb_flags = const CB_FLAGS,
    kernel_sp = const offset_of!(Vcpu, kernel_sp),
    hv_start = const abi::HYPERVISOR_VIRT_START,
    hv_span = const abi::HYPERVISOR_VIRT_END + 64 - abi::HYPERVISOR_VIRT_START,
    us_flags = const USER_SYSCALL_FLAGS,
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
