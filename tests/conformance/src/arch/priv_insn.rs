//! Privileged instructions executed by the suite's guest kernel, each with
//! a fixed encoding length so the #GP/#UD handler can skip it
//! (`traps::SKIP_ON_FAULT`). Each returns what the instruction left and
//! the vector it raised (0 for none).

use core::sync::atomic::Ordering::SeqCst;
use guest_kernel::arch::x86_64::traps;

/// Runs `f` with a fault of `len` bytes skipped; returns its value and the
/// vector raised (0 for none).
pub fn guarded<T>(len: u64, f: impl FnOnce() -> T) -> (T, u64) {
    traps::LAST_FAULT.store(0, SeqCst);
    traps::SKIP_ON_FAULT.store(len, SeqCst);
    let v = f();
    traps::SKIP_ON_FAULT.store(0, SeqCst);
    (v, traps::LAST_FAULT.swap(0, SeqCst))
}

/// `rdmsr` (2 bytes): EDX:EAX (0 if it faulted) and the vector.
pub fn rdmsr(msr: u32) -> (u64, u64) {
    guarded(2, || {
        let (lo, hi): (u32, u32);
        // SAFETY: a guest kernel's rdmsr only traps to the hypervisor.
        unsafe {
            core::arch::asm!("xor eax, eax", "xor edx, edx", "rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi)
        };
        (u64::from(hi) << 32) | u64::from(lo)
    })
}

/// `wrmsr` (2 bytes): the vector raised.
pub fn wrmsr(msr: u32, v: u64) -> u64 {
    // SAFETY: as for rdmsr; the suite writes only MSRs it restores.
    guarded(2, || unsafe { core::arch::asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32) }).1
}

macro_rules! mov_from {
    ($name:ident, $insn:literal) => {
        /// Reads the register (3 bytes, RAX): value (0 if it faulted) and vector.
        pub fn $name() -> (u64, u64) {
            guarded(3, || {
                let v: u64;
                // SAFETY: reading a control/debug register only traps.
                unsafe { core::arch::asm!("xor eax, eax", $insn, out("rax") v) };
                v
            })
        }
    };
}

macro_rules! mov_to {
    ($name:ident, $insn:literal) => {
        /// Writes the register (3 bytes, RAX): the vector raised.
        pub fn $name(v: u64) -> u64 {
            // SAFETY: the hypervisor emulates or refuses the write.
            guarded(3, || unsafe { core::arch::asm!($insn, in("rax") v) }).1
        }
    };
}

mov_from!(read_cr0, "mov rax, cr0");
mov_from!(read_cr2, "mov rax, cr2");
mov_from!(read_cr4, "mov rax, cr4");
mov_from!(read_dr0, "mov rax, dr0");
mov_from!(read_dr4, "mov rax, dr4");
mov_from!(read_dr6, "mov rax, dr6");
mov_from!(read_dr7, "mov rax, dr7");
mov_to!(write_cr0, "mov cr0, rax");
mov_to!(write_cr2, "mov cr2, rax");
mov_to!(write_cr4, "mov cr4, rax");
mov_to!(write_dr0, "mov dr0, rax");
mov_to!(write_dr7, "mov dr7, rax");

/// `mov rax, cr8` (4 bytes with REX.R): value and vector.
pub fn read_cr8() -> (u64, u64) {
    guarded(4, || {
        let v: u64;
        // SAFETY: as for the other moves.
        unsafe { core::arch::asm!("xor eax, eax", "mov rax, cr8", out("rax") v) };
        v
    })
}

/// `clts` (2 bytes): the vector.
pub fn clts() -> u64 {
    // SAFETY: clts only changes the (virtual) TS.
    guarded(2, || unsafe { core::arch::asm!("clts") }).1
}

/// `cli`, `sti` (1 byte each), `wbinvd` (2), `hlt` (1), `invd` (2):
/// the vector.
pub fn simple(which: &str) -> u64 {
    // SAFETY: each traps to the hypervisor from a PV guest kernel, which
    // emulates (no-op) or refuses it.
    unsafe {
        match which {
            "cli" => guarded(1, || core::arch::asm!("cli")).1,
            "sti" => guarded(1, || core::arch::asm!("sti")).1,
            "wbinvd" => guarded(2, || core::arch::asm!("wbinvd")).1,
            "hlt" => guarded(1, || core::arch::asm!("hlt")).1,
            _ => guarded(2, || core::arch::asm!("invd")).1,
        }
    }
}

/// `in eax, dx` / `in al, dx` (1 byte): the value (RAX preset to
/// 0x5a5a5a5a) and the vector.
pub fn inp(port: u16, size: u8) -> (u64, u64) {
    guarded(1, || {
        let v: u64;
        // SAFETY: port I/O traps to the hypervisor, which decides.
        unsafe {
            if size == 4 {
                core::arch::asm!("mov eax, 0x5a5a5a5a", "in eax, dx", in("dx") port, out("rax") v);
            } else {
                core::arch::asm!("mov eax, 0x5a5a5a5a", "in al, dx", in("dx") port, out("rax") v);
            }
        }
        v
    })
}

/// `out dx, eax` / `out dx, al` (1 byte): the vector.
pub fn outp(port: u16, size: u8, v: u32) -> u64 {
    // SAFETY: as for `inp`.
    guarded(1, || unsafe {
        if size == 4 {
            core::arch::asm!("out dx, eax", in("dx") port, in("eax") v);
        } else {
            core::arch::asm!("out dx, al", in("dx") port, in("al") v as u8);
        }
    })
    .1
}

/// A load from `va` (`mov rax, [rdi]`, 3 bytes) that may page-fault: the
/// vector raised (0 for none).
pub fn load(va: u64) -> u64 {
    // SAFETY: a read; a fault on it is skipped by the suite's handler.
    guarded(3, || unsafe {
        core::arch::asm!(".byte 0x48, 0x8b, 0x07", in("rdi") va, out("rax") _, options(nostack, readonly))
    })
    .1
}
