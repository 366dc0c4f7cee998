//! The `iret` probe for the cases of an `iret` that meets a pending upcall
//! (`cases::evtchn::iret_upcall`): the `iret` hypercall made straight by
//! SYSCALL with a 9-word frame the caller chose, known values in every
//! argument register, and a target that records the registers it is
//! returned to with. The event callback is the send probe's
//! ([`super::upcall`]), which records its frame, live registers and RSP.

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// What RDI, RSI, RDX, R8, R9 and R10 hold at the `iret`.
pub const MAGIC: [u64; 6] = [
    0x0101_0202_0303_0404,
    0x0505_0606_0707_0808,
    0x1111_2222_3333_4444,
    0x5555_6666_7777_8888,
    0x9999_AAAA_BBBB_CCCC,
    0xDDDD_EEEE_FFFF_0123,
];

/// Where the 9-word frame sits when the `iret` is made.
#[repr(C, align(16))]
struct Area([AtomicU64; 16]);
#[no_mangle]
static IRETUP_AREA: Area = Area([const { AtomicU64::new(0) }; 16]);

/// The stack the `iret` returns to (its frame's RSP is inside), where an
/// upcall delivered on the way back writes its frame.
#[repr(C, align(16))]
struct Stack([AtomicU64; 256]);
static IRETUP_STACK: Stack = Stack([const { AtomicU64::new(0) }; 256]);

/// RAX, RCX, R11, RDI, RSI, RDX, R8, R9, R10 and RSP at the target.
#[no_mangle]
static IRETUP_AFTER: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
#[no_mangle]
static IRETUP_SAVED_RSP: AtomicU64 = AtomicU64::new(0);

core::arch::global_asm!(
    r#"
    .section .text.iretup_probe, "ax"
    // iretup_probe(): the callee-saved registers kept, then `iret` (23) by
    // SYSCALL with RSP at IRETUP_AREA, which the caller filled.
    .global iretup_probe
iretup_probe:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + IRETUP_SAVED_RSP], rsp
    lea rsp, [rip + IRETUP_AREA]
    mov rdi, {m0}
    mov rsi, {m1}
    mov rdx, {m2}
    mov r8, {m3}
    mov r9, {m4}
    mov r10, {m5}
    // RFLAGS at the SYSCALL: ZF and PF (and IF), 0x246.
    xor eax, eax
    mov eax, 23
    syscall
    .global iretup_probe_syscall_end
iretup_probe_syscall_end:
    ud2

    // The frame's RIP: records what the guest was returned with, then
    // back to iretup_probe's caller.
    .global iretup_probe_target
iretup_probe_target:
    mov [rip + IRETUP_AFTER], rax
    mov [rip + IRETUP_AFTER + 8], rcx
    mov [rip + IRETUP_AFTER + 16], r11
    mov [rip + IRETUP_AFTER + 24], rdi
    mov [rip + IRETUP_AFTER + 32], rsi
    mov [rip + IRETUP_AFTER + 40], rdx
    mov [rip + IRETUP_AFTER + 48], r8
    mov [rip + IRETUP_AFTER + 56], r9
    mov [rip + IRETUP_AFTER + 64], r10
    mov [rip + IRETUP_AFTER + 72], rsp
    cld
    mov rsp, [rip + IRETUP_SAVED_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
"#,
    m0 = const MAGIC[0],
    m1 = const MAGIC[1],
    m2 = const MAGIC[2],
    m3 = const MAGIC[3],
    m4 = const MAGIC[4],
    m5 = const MAGIC[5],
);

extern "C" {
    fn iretup_probe();
    static iretup_probe_target: u8;
    static iretup_probe_syscall_end: u8;
}

/// The address after the probe's SYSCALL (the RCX it leaves).
pub fn syscall_end() -> u64 {
    &raw const iretup_probe_syscall_end as u64
}

/// RFLAGS at the probe's SYSCALL (the R11 it leaves): ZF, PF, IF and the
/// fixed bit.
pub const SYSCALL_FLAGS: u64 = 0x246;

/// Where the probe's `iret` returns to in kernel mode.
pub fn target() -> u64 {
    &raw const iretup_probe_target as u64
}

/// The top of the stack the probe's frames return to.
pub fn stack_top() -> u64 {
    &raw const IRETUP_STACK as u64 + core::mem::size_of::<Stack>() as u64
}

/// What the target saw: RAX, RCX, R11, RDI, RSI, RDX, R8, R9, R10, RSP.
pub struct After(pub [u64; 10]);

/// `iret` with `frame` (RAX, R11, RCX, flags, RIP, CS, RFLAGS, RSP, SS);
/// its RIP must be [`target`] and its RSP inside the probe's stack, with
/// room below for an upcall frame.
pub fn iret_with(frame: [u64; 9]) -> After {
    for (k, w) in frame.iter().enumerate() {
        IRETUP_AREA.0[k].store(*w, SeqCst);
    }
    for w in &IRETUP_AFTER {
        w.store(0, SeqCst);
    }
    // SAFETY: the frame returns to iretup_probe_target (directly, or from the
    // event callback's own iret), which restores the callee-saved
    // registers and the stack iretup_probe saved; the upcall frame lands on
    // the probe's own stack.
    unsafe { iretup_probe() };
    After(core::array::from_fn(|k| IRETUP_AFTER[k].load(SeqCst)))
}
