//! Stores into memory the guest maps read-only, for the writable-page-table
//! cases: each with a fixed encoding length so a page fault can be
//! skipped. Each returns what it left in a register (if anything) and the
//! vector raised (0 for none).

use super::priv_insn::guarded;

/// `mov [rdi], rax` (48 89 07).
pub fn mov64(va: u64, v: u64) -> u64 {
    // SAFETY: `va` is a read-only page-table mapping of the suite's own: the
    // store is emulated by the hypervisor or faults into the skipping handler.
    guarded(3, || unsafe { core::arch::asm!("mov [rdi], rax", in("rdi") va, in("rax") v, options(nostack)) }).1
}

/// `mov [rdi + 4], rax` (48 89 47 04): misaligned by 4.
pub fn mov64_at_4(va: u64, v: u64) -> u64 {
    // SAFETY: as for `mov64`.
    guarded(4, || unsafe { core::arch::asm!("mov [rdi + 4], rax", in("rdi") va, in("rax") v, options(nostack)) }).1
}

/// `mov [rdi + 4], eax` (89 47 04): the upper half of the entry at `va`.
pub fn mov32_upper(va: u64, v: u32) -> u64 {
    // SAFETY: as for `mov64`.
    guarded(3, || unsafe { core::arch::asm!("mov [rdi + 4], eax", in("rdi") va, in("eax") v, options(nostack)) }).1
}

/// `xchg [rdi], rax` (48 87 07): RAX afterwards.
pub fn xchg64(va: u64, v: u64) -> (u64, u64) {
    guarded(3, || {
        let mut r = v;
        // SAFETY: as for `mov64`.
        unsafe { core::arch::asm!("xchg [rdi], rax", in("rdi") va, inout("rax") r, options(nostack)) };
        r
    })
}

/// `lock cmpxchg [rdi], rcx` (F0 48 0F B1 0F) with RAX = `expect`: RAX
/// afterwards and ZF.
pub fn cmpxchg64(va: u64, expect: u64, v: u64) -> ((u64, bool), u64) {
    guarded(5, || {
        let mut rax = expect;
        let zf: u8;
        // SAFETY: as for `mov64`; a skipped fault leaves ZF as it was, and
        // the caller looks at the vector first.
        unsafe {
            core::arch::asm!(
                "xor edx, edx",
                "lock cmpxchg [rdi], rcx",
                "setz dl",
                in("rdi") va, in("rcx") v, inout("rax") rax, out("dl") zf, options(nostack)
            )
        };
        (rax, zf != 0)
    })
}

/// `lock btr qword [rdi], 1` (F0 48 0F BA 37 01): clears RW; CF afterwards.
pub fn btr1(va: u64) -> (bool, u64) {
    guarded(6, || {
        let cf: u8;
        // SAFETY: as for `mov64`.
        unsafe {
            core::arch::asm!("xor edx, edx", "lock btr qword ptr [rdi], 1", "setc dl", in("rdi") va, out("dl") cf, options(nostack))
        };
        cf != 0
    })
}

/// `lock and byte [rdi], 0xfd` (F0 80 27 FD): Linux's `clear_bit` of RW.
pub fn and_byte_not_rw(va: u64) -> u64 {
    // SAFETY: as for `mov64`.
    guarded(4, || unsafe { core::arch::asm!("lock and byte ptr [rdi], 0xfd", in("rdi") va, options(nostack)) }).1
}
