//! The short paths of an exception round trip: a #BP or #UD raised in
//! guest kernel mode, bounced straight to the guest's handler by its IDT
//! stub in assembly (`fast_bounce_entry`), and the `iret` hypercall back
//! to the flat selectors ([`iret`]).
//!
//! Each makes the same checks as the general path
//! ([`super::run::guest_entry`], [`crate::hypercall::iret_hypercall`]) and
//! hands anything else to it with nothing changed, so a hostile stack
//! pointer or frame gets the same answer either way. What they leave out
//! is the general path's bookkeeping: the full register save, the
//! `Action` through memory, the domain lookups, and the descriptor tables
//! for a return that cannot need them.

use super::exception::TrapFrame;
use super::gpr_save::save_gprs;
use super::hooks::ArchGuest;
use super::run::{d_mut, Hypervisor};
use crate::domain::iret::iret_flat;
use crate::domain::vcpu::{GuestContext, TrapEntry, Vcpu};
use crate::hypercall::Action;
use core::mem::{offset_of, size_of};
use core::ptr::{addr_of, addr_of_mut};

/// The running vCPU, for the bounce fast path; null while none runs or
/// while its `vcpu_info` is unknown (the path then always declines).
#[no_mangle]
static mut FAST_VCPU: *const Vcpu = core::ptr::null();
/// Its `vcpu_info` in the direct map (upcall pending at byte 0, mask at 1).
#[no_mangle]
static mut FAST_VCPU_INFO: *mut u8 = core::ptr::null_mut();
/// The hypervisor's `PENDING_*` byte; until it is known, a nonzero byte,
/// so the path declines.
#[no_mangle]
static mut FAST_PENDING: *const u8 = &NOT_YET;
static NOT_YET: u8 = 1;
/// [`super::entry::fast_copy_routines`]: the word copy to the guest and
/// the one-word read from it.
#[no_mangle]
static mut FAST_WORDS_TO_GUEST: u64 = 0;
#[no_mangle]
static mut FAST_READ_U64: u64 = 0;

const _: () = assert!(size_of::<TrapEntry>() == 16, "the stub indexes the trap table by vector << 4");

/// Points the fast path at the running vCPU `v` (or none) and its
/// `vcpu_info` at machine address `vcpu_info` (0: unknown).
pub(super) fn follow(v: Option<&Vcpu>, vcpu_info: u64) {
    let (vcpu, info) = match v {
        Some(v) if vcpu_info != 0 => (v as *const Vcpu, (super::paging::DIRECT_MAP_BASE + vcpu_info) as *mut u8),
        _ => (core::ptr::null(), core::ptr::null_mut()),
    };
    // SAFETY: one CPU, hypervisor entries never nest: nothing reads these
    // while they change. The vCPU lives in the static domain table, whose
    // slots are filled once at boot, so the pointer stays valid.
    unsafe {
        *addr_of_mut!(FAST_VCPU) = vcpu;
        *addr_of_mut!(FAST_VCPU_INFO) = info;
    }
}

/// Called once the hypervisor state is in its final place.
pub(super) fn init(hv: &Hypervisor) {
    let (words, read) = super::entry::fast_copy_routines();
    // SAFETY: as in `follow`; the state is static from now on.
    unsafe {
        *addr_of_mut!(FAST_WORDS_TO_GUEST) = words;
        *addr_of_mut!(FAST_READ_U64) = read;
        *addr_of_mut!(FAST_PENDING) = addr_of!(hv.mm.hooks.pending);
    }
    super::syscall_fast::init();
}

// #BP and #UD from their IDT stubs, with vector and error code pushed.
// From guest kernel mode, with no pending work, no upcall pending, a
// handler in the trap table and a #UD that is neither `vmcall` nor the
// forced-emulation prefix, this is the whole bounce of
// `domain::bounce::bounce`: the 7-word frame (RCX, R11, RIP, CS with the
// saved upcall mask in bits 32-39, RFLAGS with IF = !mask, RSP, SS) built
// on the hypervisor stack, checked against the hypervisor's range and the
// guest's address space and copied in one guest access below the stack
// rounded down to 16 bytes; then the handler on the flat selectors, and
// the mask set if the entry asks for it. Anything else, a faulting
// instruction read or frame write included, restores the registers and
// leaves for `exception_common` with the frame untouched, and the general
// path gives its answer (the same bounce, or the domain's crash).
core::arch::global_asm!(
    r#"
    .section .text.guest_entry, "ax"
    .global fast_bounce_entry
fast_bounce_entry:
    test byte ptr [rsp + 24], 3
    jz exception_common
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    // 8 saves: vector at [rsp + 64], then error code, RIP 80, CS 88,
    // RFLAGS 96, RSP 104, SS 112; the guest's RCX at [rsp + 48].
    mov rax, [rip + FAST_PENDING]
    cmp byte ptr [rax], 0
    jne 8f
    mov rax, [rip + FAST_VCPU]
    test rax, rax
    jz 8f
    mov rsi, [rip + FAST_VCPU_INFO]
    movzx edx, word ptr [rsi]
    test dl, dl
    jnz 8f
    cmp byte ptr [rax + {user_mode}], 0
    jne 8f
    cmp byte ptr [rsp + 64], 6
    jne 2f
    // #UD: its first bytes, if the guest can read them.
    mov rsi, [rsp + 80]
    mov rcx, rsi
    add rcx, 7
    jc 8f
    shr rcx, 47
    jz 1f
    mov rcx, {hv_end}
    cmp rsi, rcx
    jb 8f
1:
    sub rsp, 8
    mov rdi, rsp
    call [rip + FAST_READ_U64]
    pop rcx
    test eax, eax
    jnz 8f
    mov esi, ecx
    and esi, 0xFFFFFF
    cmp esi, 0xC1010F
    je 7f
    mov rsi, 0xFFFFFFFFFF
    and rcx, rsi
    mov rsi, {forced}
    cmp rcx, rsi
    je 8f
    mov rax, [rip + FAST_VCPU]
2:
    // The trap-table entry: its handler (R9) and flags (R10).
    mov rdi, [rsp + 64]
    shl rdi, 4
    add rdi, rax
    mov r9, [rdi + {traps} + {address}]
    test r9, r9
    jz 8f
    movzx r10d, byte ptr [rdi + {traps} + {flags}]
    // The new RSP (RCX): not in the hypervisor's range, and the frame's
    // 56 bytes in guest space.
    mov rcx, [rsp + 104]
    and rcx, -16
    sub rcx, 56
    mov rax, rcx
    mov rsi, {hv_start}
    sub rax, rsi
    mov rsi, {hv_span}
    cmp rax, rsi
    jb 8f
    mov rax, rcx
    add rax, 55
    jc 8f
    shr rax, 47
    jz 3f
    mov rax, {hv_end}
    cmp rcx, rax
    jb 8f
3:
    // RFLAGS with IF = !mask (R8), CS with RPL 0 and the mask (RAX).
    movzx eax, dh
    mov r8, [rsp + 96]
    or r8, 0x200
    test eax, eax
    jz 4f
    and r8, -0x201
4:
    shl rax, 32
    mov rsi, [rsp + 88]
    and rsi, -4
    or rax, rsi
    push qword ptr [rsp + 112]
    push qword ptr [rsp + 112]
    push r8
    push rax
    push qword ptr [rsp + 112]
    push r11
    push qword ptr [rsp + 96]
    mov rdi, rcx
    mov rsi, rsp
    mov edx, 7
    cld
    call [rip + FAST_WORDS_TO_GUEST]
    lea rsp, [rsp + 56]
    test eax, eax
    jnz 8f
    // Committed: the handler on the flat selectors.
    sub rdi, 56
    mov [rsp + 80], r9
    mov qword ptr [rsp + 88], {cs}
    and r8, {flags_kept}
    or r8, 0x202
    mov [rsp + 96], r8
    mov [rsp + 104], rdi
    mov qword ptr [rsp + 112], {ss}
    test r10d, 4
    jz 5f
    mov rax, [rip + FAST_VCPU_INFO]
    mov byte ptr [rax + 1], 1
5:
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    add rsp, 16
    jmp trap_return_iretq
8:
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    jmp exception_common
7:
    // `vmcall` in guest kernel mode: the extension entry, without reading
    // the bytes again (`xen_core_vmcall`).
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    call xen_core_vmcall
    jmp trap_return
"#,
    user_mode = const offset_of!(Vcpu, user_mode),
    traps = const offset_of!(Vcpu, traps),
    address = const offset_of!(TrapEntry, address),
    flags = const offset_of!(TrapEntry, flags),
    hv_start = const abi::HYPERVISOR_VIRT_START,
    hv_end = const abi::HYPERVISOR_VIRT_END,
    hv_span = const abi::HYPERVISOR_VIRT_END + 64 - abi::HYPERVISOR_VIRT_START,
    forced = const u64::from_le_bytes([0x0F, 0x0B, b'x', b'e', b'n', 0, 0, 0]),
    cs = const abi::traps::FLAT_RING3_CS64 as u64,
    ss = const abi::traps::FLAT_RING3_SS64 as u64,
    flags_kept = const crate::domain::vcpu::GUEST_FLAGS_MASK & !crate::domain::bounce::CLEARED_ON_BOUNCE,
);

/// A #UD at `0F 01 C1` (`vmcall`) in guest kernel mode, seen by the
/// bounce stub: the extension hypercall if the domain has it, else the
/// general #UD path.
#[no_mangle]
extern "C" fn xen_core_vmcall(frame: &mut TrapFrame) {
    super::run::vmcall_entry(frame);
}

/// `iret` by domain `i`: the frame read in one guest access, then the
/// flat-selector return restored at once, or any other frame by
/// [`crate::hypercall::iret_words`]. An unreadable frame crashes the
/// domain, as there.
#[inline(always)]
pub(super) fn iret(hv: &Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    let mut buf = core::mem::MaybeUninit::uninit();
    let Some(w) = super::entry::read_words_from_guest::<9>(ctx.rsp, &mut buf) else {
        return Action::Crash(&"iret frame unreadable");
    };
    let d = d_mut(i);
    let dm = &hv.mm.domains[i];
    if iret_flat(ctx, &mut d.vcpu, &ArchGuest, w, || dm.user_root.map_or(0, |m| m.to_maddr())) {
        return Action::Continue;
    }
    crate::hypercall::iret_words(ctx, &mut d.vcpu, &ArchGuest, &*hv.mm.mem, dm, w)
}
