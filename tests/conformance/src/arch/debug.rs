//! Probes for the debug cases: a watched word, and single steps over a
//! plain and an emulated instruction.

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// The word the breakpoint cases watch (8-byte aligned).
pub static WATCHED: AtomicU64 = AtomicU64::new(0);

/// The watched word's address.
pub fn watched() -> u64 {
    &WATCHED as *const AtomicU64 as u64
}

/// Writes the watched word.
pub fn write_watched(v: u64) {
    WATCHED.store(v, SeqCst);
}

/// Reads the watched word.
pub fn read_watched() -> u64 {
    WATCHED.load(SeqCst)
}

/// Sets TF with `popfq` and runs one `nop` under it: the single-step #DB
/// comes after the `nop`. Returns the address it should report (the
/// instruction after the `nop`). The #DB handler clears TF.
pub fn step_nop() -> u64 {
    let after: u64;
    // SAFETY: only RFLAGS.TF changes; the guest's #DB handler clears it.
    unsafe {
        core::arch::asm!(
            "lea {a}, [rip + 2f]",
            "pushfq",
            "or qword ptr [rsp], 0x100",
            "popfq",
            "nop",
            "2:",
            "nop",
            a = out(reg) after,
        );
    }
    after
}

/// As [`step_nop`], over an `rdmsr` of `msr` (emulated by the hypervisor):
/// the #DB must come after it, as the hardware would raise it.
pub fn step_rdmsr(msr: u32) -> u64 {
    let after: u64;
    // SAFETY: as `step_nop`; a guest kernel's rdmsr of a readable MSR is
    // emulated and only writes EDX:EAX.
    unsafe {
        core::arch::asm!(
            "lea {a}, [rip + 2f]",
            "pushfq",
            "or qword ptr [rsp], 0x100",
            "popfq",
            "rdmsr",
            "2:",
            "nop",
            a = out(reg) after,
            in("ecx") msr,
            out("eax") _,
            out("edx") _,
        );
    }
    after
}

/// A function an instruction breakpoint is put on.
#[inline(never)]
pub fn bp_target() -> u64 {
    core::hint::black_box(0x5EED)
}

/// `bp_target`'s address.
pub fn bp_target_addr() -> u64 {
    bp_target as *const () as u64
}
