//! Raw hypercalls with arbitrary (hostile) arguments, and forced-emulation
//! CPUID with a sub-leaf: the suite's only `unsafe` code.

/// CPUID `leaf`/`sub` through Xen's forced-emulation prefix
/// (`ud2; .ascii "xen"; cpuid`), as (EAX, EBX, ECX, EDX).
pub fn xen_cpuid_sub(leaf: u32, sub: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: the prefix makes the hypervisor emulate CPUID, which only
    // writes the four registers; RBX is saved and restored around it.
    unsafe {
        core::arch::asm!(
            "mov {tmp:r}, rbx",
            "ud2",
            ".ascii \"xen\"",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) b,
            inlateout("eax") leaf => a,
            inlateout("ecx") sub => c,
            lateout("edx") d,
        );
    }
    [a, b, c, d]
}

pub mod debug;
pub mod iret_upcall;
pub mod ldt;
pub mod priv_insn;
pub mod stores;
pub mod upcall;

/// Issues hypercall `nr` and returns RAX.
pub fn hc(nr: u64, a: [u64; 5]) -> i64 {
    // SAFETY: the suite passes hostile values on purpose; the hypervisor
    // must validate them. Calls that write guest memory are given buffers
    // owned by the suite, and calls that change page tables only touch the
    // suite's own scratch frames and tables.
    unsafe { abi::raw::hypercall5(nr, a[0], a[1], a[2], a[3], a[4]) }
}

/// guest-kernel's trap stubs call this by name.
#[no_mangle]
fn pv_page_fault() -> bool {
    false
}

core::arch::global_asm!(
    r#"
    .section .text.iret_probe, "ax"
    // iret_probe(cs, ss, rip): returns through the `iret` hypercall with
    // that CS, SS and RIP (0: the resume label below) and this RSP.
    .global iret_probe
iret_probe:
    lea rax, [rip + iret_probe_resume]
    test rdx, rdx
    cmovz rdx, rax
    mov rax, rsp
    push rsi
    push rax
    push 0x202
    push rdi
    push rdx
    push 0
    jmp hypercall_page + 23 * 32
    .global iret_probe_resume
iret_probe_resume:
    ret
"#
);

extern "C" {
    fn iret_probe(cs: u64, ss: u64, rip: u64);
    static iret_probe_resume: u8;
}

/// Returns through `iret` to `cs:rip` on stack `ss` (RIP 0: straight back
/// here) and reports `(vector << 16) | error code` of the fault that
/// raised, or 0 if none did.
pub fn iret_to(cs: u64, ss: u64, rip: u64) -> i64 {
    use core::sync::atomic::Ordering::SeqCst;
    use guest_kernel::arch::x86_64::traps::{LAST_ERROR, LAST_FAULT, RECOVER_AT};
    LAST_FAULT.store(0, SeqCst);
    LAST_ERROR.store(0, SeqCst);
    RECOVER_AT.store(&raw const iret_probe_resume as u64, SeqCst);
    // SAFETY: the probe returns to its caller, either straight through the
    // iret or through the #GP handler, which resumes at the label with
    // this RSP; it clobbers only caller-saved registers.
    unsafe { iret_probe(cs, ss, rip) };
    RECOVER_AT.store(0, SeqCst);
    ((LAST_FAULT.load(SeqCst) << 16) | LAST_ERROR.load(SeqCst)) as i64
}

/// What [`compat_syscall_probe`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompatSyscall {
    /// `(vector << 16) | error code` of the fault raised, or 0.
    pub fault: i64,
    /// The fault's RIP.
    pub fault_rip: u64,
    /// Whether the callback ran; then the frame it got:
    pub callback: bool,
    /// Frame RIP, CS and RFLAGS, and the callback's live RFLAGS.
    pub rip: u64,
    #[allow(missing_docs)]
    pub cs: u64,
    #[allow(missing_docs)]
    pub rflags: u64,
    #[allow(missing_docs)]
    pub live_rflags: u64,
}

#[no_mangle]
static COMPAT_SAVED_RSP: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
#[no_mangle]
static COMPAT_CB: [core::sync::atomic::AtomicU64; 5] = [const { core::sync::atomic::AtomicU64::new(0) }; 5];

core::arch::global_asm!(
    r#"
    .section .text.compat_probe, "ax"
    // compat_probe(rip, rsp): iret to 0xE020:rip on stack 0xE02B:rsp;
    // comes back at compat_resume (through the #UD handler or the
    // callback below) with every callee-saved register restored.
    .global compat_probe
compat_probe:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + COMPAT_SAVED_RSP], rsp
    push 0xE02B
    push rsi
    push 0x202
    push 0xE020
    push rdi
    push 0
    jmp hypercall_page + 23 * 32
    .global compat_resume
compat_resume:
    mov rsp, [rip + COMPAT_SAVED_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // A SYSCALL callback: frame RCX, R11, RIP, CS, RFLAGS, RSP, SS.
    .global compat_callback
compat_callback:
    pushfq
    pop rax
    mov [rip + COMPAT_CB + 32], rax
    mov rax, [rsp + 16]
    mov [rip + COMPAT_CB + 8], rax
    mov rax, [rsp + 24]
    mov [rip + COMPAT_CB + 16], rax
    mov rax, [rsp + 32]
    mov [rip + COMPAT_CB + 24], rax
    mov qword ptr [rip + COMPAT_CB], 1
    cld
    jmp compat_resume

    // 32-bit code, run from a low alias of this page.
    .balign 4096
    .code32
    .global compat_code
compat_code:
    syscall
    ud2
    .global compat_code_df
compat_code_df:
    std
    syscall
    ud2
    .code64
    .balign 4096
"#
);

extern "C" {
    fn compat_probe(rip: u64, rsp: u64);
    static compat_resume: u8;
    static compat_callback: u8;
    static compat_code: u8;
    static compat_code_df: u8;
}

/// The page holding the 32-bit code (`syscall; ud2` at offset 0, `std;
/// syscall; ud2` at offset 4), to be mapped below 4 GiB.
pub fn compat_code_page() -> u64 {
    let (a, b) = (&raw const compat_code as u64, &raw const compat_code_df as u64);
    debug_assert_eq!(b - a, 4);
    a
}

/// The SYSCALL callback to register.
pub fn compat_callback_address() -> u64 {
    &raw const compat_callback as u64
}

/// Runs the 32-bit code at `rip` (below 4 GiB) with stack `rsp` and
/// reports how it came back.
pub fn compat_syscall_probe(rip: u64, rsp: u64) -> CompatSyscall {
    use core::sync::atomic::Ordering::SeqCst;
    use guest_kernel::arch::x86_64::traps::{LAST_ERROR, LAST_FAULT, LAST_RIP, RECOVER_AT};
    for w in &COMPAT_CB {
        w.store(0, SeqCst);
    }
    LAST_FAULT.store(0, SeqCst);
    LAST_ERROR.store(0, SeqCst);
    LAST_RIP.store(0, SeqCst);
    RECOVER_AT.store(&raw const compat_resume as u64, SeqCst);
    // SAFETY: the probe comes back through compat_resume, either from the
    // #UD handler (RECOVER_AT) or from the callback, with the callee-saved
    // registers it pushed; the caller mapped code and stack at rip/rsp.
    unsafe { compat_probe(rip, rsp) };
    RECOVER_AT.store(0, SeqCst);
    let cb = |i: usize| COMPAT_CB[i].load(SeqCst);
    CompatSyscall {
        fault: ((LAST_FAULT.load(SeqCst) << 16) | LAST_ERROR.load(SeqCst)) as i64,
        fault_rip: LAST_RIP.load(SeqCst),
        callback: cb(0) != 0,
        rip: cb(1),
        cs: cb(2),
        rflags: cb(3),
        live_rflags: cb(4),
    }
}

/// `mov rax, cr0` (0F 20 C0, 3 bytes): emulated for a PV kernel.
pub fn read_cr0() -> u64 {
    let v: u64;
    // SAFETY: the hypervisor emulates the read (or #GP is skipped by the
    // caller's SKIP_ON_FAULT); only RAX changes.
    unsafe { core::arch::asm!("mov rax, cr0", out("rax") v, options(nomem, nostack)) };
    v
}

/// `mov cr0, rax` (0F 22 C0, 3 bytes): emulated; only TS may change.
pub fn write_cr0(v: u64) {
    // SAFETY: the hypervisor emulates it or raises #GP, which the caller
    // skips; at most the virtual TS changes.
    unsafe { core::arch::asm!("mov cr0, rax", in("rax") v, options(nomem, nostack)) };
}

/// CLTS (0F 06, 2 bytes): emulated as `fpu_taskswitch(0)`.
pub fn clts() {
    // SAFETY: clears the virtual TS only.
    unsafe { core::arch::asm!("clts", options(nomem, nostack)) };
}

/// What [`user_probe`] saw: the syscall callback's frame, or the fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserRun {
    /// Whether the syscall callback ran; then:
    pub callback: bool,
    /// RAX at the callback (what the user code loaded).
    pub rax: u64,
    /// The callback's RSP (the frame's address).
    pub sp: u64,
    /// Frame RCX, RIP, CS, RSP, SS.
    pub rcx: u64,
    #[allow(missing_docs)]
    pub rip: u64,
    #[allow(missing_docs)]
    pub cs: u64,
    #[allow(missing_docs)]
    pub rsp: u64,
    #[allow(missing_docs)]
    pub ss: u64,
    /// `%gs:0` read in the callback (the kernel GS base is active again).
    pub kernel_gs_word: u64,
    /// `(vector << 16) | error code` of a fault taken instead, or 0; its
    /// RIP, CS and frame address.
    pub fault: i64,
    #[allow(missing_docs)]
    pub fault_rip: u64,
    #[allow(missing_docs)]
    pub fault_cs: u64,
    #[allow(missing_docs)]
    pub fault_frame: u64,
}

#[repr(C, align(16))]
struct KernelStack([u8; 8192]);

static mut USER_KSTACK: KernelStack = KernelStack([0; 8192]);
#[no_mangle]
static USER_SAVED_RSP: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
#[no_mangle]
static USER_CB: [core::sync::atomic::AtomicU64; 9] = [const { core::sync::atomic::AtomicU64::new(0) }; 9];

/// The top of the stack to give `stack_switch` for user-mode entries.
pub fn user_kernel_stack_top() -> u64 {
    core::ptr::addr_of_mut!(USER_KSTACK) as u64 + 8192
}

core::arch::global_asm!(
    r#"
    .section .text.user_probe, "ax"
    // user_probe(rip, rsp): iret to guest user mode at 0xE033:rip on
    // 0xE02B:rsp; comes back at user_probe_resume (from the #UD handler
    // or the syscall callback) with the callee-saved registers restored.
    .global user_probe
user_probe:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + USER_SAVED_RSP], rsp
    push 0xE02B
    push rsi
    push 0x202
    push 0xE033
    push rdi
    push 0
    jmp hypercall_page + 23 * 32
    .global user_probe_resume
user_probe_resume:
    mov rsp, [rip + USER_SAVED_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // The syscall callback: frame RCX, R11, RIP, CS, RFLAGS, RSP, SS.
    .global user_callback
user_callback:
    mov [rip + USER_CB + 8], rax
    mov [rip + USER_CB + 16], rsp
    mov rax, [rsp]
    mov [rip + USER_CB + 24], rax
    mov rax, [rsp + 16]
    mov [rip + USER_CB + 32], rax
    mov rax, [rsp + 24]
    mov [rip + USER_CB + 40], rax
    mov rax, [rsp + 40]
    mov [rip + USER_CB + 48], rax
    mov rax, [rsp + 48]
    mov [rip + USER_CB + 56], rax
    mov rax, gs:[0]
    mov [rip + USER_CB + 64], rax
    mov qword ptr [rip + USER_CB], 1
    jmp user_probe_resume
"#
);

extern "C" {
    fn user_probe(rip: u64, rsp: u64);
    static user_probe_resume: u8;
    static user_callback: u8;
}

/// The syscall callback to register for [`user_probe`].
pub fn user_callback_address() -> u64 {
    &raw const user_callback as u64
}

/// Runs user code at `rip` on stack `rsp` (user root, callback and
/// `stack_switch` set by the caller) and reports how it came back.
pub fn user_run(rip: u64, rsp: u64) -> UserRun {
    use core::sync::atomic::Ordering::SeqCst;
    use guest_kernel::arch::x86_64::traps::{LAST_CS, LAST_ERROR, LAST_FAULT, LAST_FRAME, LAST_RIP, RECOVER_AT};
    for w in &USER_CB {
        w.store(0, SeqCst);
    }
    for w in [&LAST_FAULT, &LAST_ERROR, &LAST_RIP, &LAST_CS, &LAST_FRAME] {
        w.store(0, SeqCst);
    }
    RECOVER_AT.store(&raw const user_probe_resume as u64, SeqCst);
    // SAFETY: the probe comes back through user_probe_resume, from the
    // trap handler (RECOVER_AT) or the callback, with the callee-saved
    // registers it pushed; the caller mapped code and stack at rip/rsp.
    unsafe { user_probe(rip, rsp) };
    RECOVER_AT.store(0, SeqCst);
    let cb = |i: usize| USER_CB[i].load(SeqCst);
    UserRun {
        callback: cb(0) != 0,
        rax: cb(1),
        sp: cb(2),
        rcx: cb(3),
        rip: cb(4),
        cs: cb(5),
        rsp: cb(6),
        ss: cb(7),
        kernel_gs_word: cb(8),
        fault: ((LAST_FAULT.load(SeqCst) << 16) | LAST_ERROR.load(SeqCst)) as i64,
        fault_rip: LAST_RIP.load(SeqCst),
        fault_cs: LAST_CS.load(SeqCst),
        fault_frame: LAST_FRAME.load(SeqCst),
    }
}

/// `%fs:0` as the guest kernel reads it.
pub fn fs_word() -> u64 {
    let f: u64;
    // SAFETY: the caller set the FS base to readable memory.
    unsafe { core::arch::asm!("mov {}, fs:[0]", out(reg) f, options(nostack, readonly)) };
    f
}

/// `%fs:0` and `%gs:0` as the guest kernel reads them.
pub fn fs_gs_words() -> (u64, u64) {
    let (f, g): (u64, u64);
    // SAFETY: the caller set both bases to readable memory.
    unsafe {
        core::arch::asm!("mov {}, fs:[0]", "mov {}, gs:[0]", out(reg) f, out(reg) g, options(nostack, readonly));
    }
    (f, g)
}

/// The time-stamp counter (for the time cases' pvclock arithmetic).
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed (CR4.TSD clear) and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
