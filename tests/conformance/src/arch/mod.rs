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

/// Issues hypercall `nr` and returns RAX.
pub fn hc(nr: u64, a: [u64; 5]) -> i64 {
    // SAFETY: the suite passes hostile values on purpose; the hypervisor
    // must validate them. Calls that write guest memory are given buffers
    // owned by the suite, and calls that change page tables only touch the
    // suite's own scratch frames and tables.
    unsafe { abi::raw::hypercall5(nr, a[0], a[1], a[2], a[3], a[4]) }
}

/// The runtime calls these by name.
#[no_mangle]
fn pv_main(si: &'static abi::start_info::StartInfo) -> ! {
    crate::run(si)
}

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
