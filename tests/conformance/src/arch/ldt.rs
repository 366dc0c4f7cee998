//! Probes for the LDT cases: segment loads through LDT selectors and
//! `lsl`, each with a fixed length so a fault can be skipped.

use super::priv_insn::guarded;

/// `mov fs, eax` (2 bytes, 8E E0: no operand-size prefix): the vector
/// raised (0 for none).
pub fn load_fs(sel: u16) -> u64 {
    // SAFETY: the hypervisor never uses FS; a refused selector faults
    // into the guest's handler, which skips the instruction.
    guarded(2, || unsafe { core::arch::asm!("mov fs, eax", in("eax") u32::from(sel), options(nostack)) }).1
}

/// The FS selector.
pub fn fs_selector() -> u16 {
    let v: u32;
    // SAFETY: reading a selector has no effect.
    unsafe { core::arch::asm!("xor eax, eax", "mov ax, fs", out("eax") v, options(nomem, nostack)) };
    v as u16
}

/// The GS selector.
pub fn gs_selector() -> u16 {
    let v: u32;
    // SAFETY: reading a selector has no effect.
    unsafe { core::arch::asm!("xor eax, eax", "mov ax, gs", out("eax") v, options(nomem, nostack)) };
    v as u16
}

/// `lsl` of `sel`: its segment limit, or `None` if it names no valid
/// descriptor (ZF clear).
pub fn lsl(sel: u16) -> Option<u32> {
    let (limit, ok): (u32, u8);
    // SAFETY: LSL only reads a descriptor and sets ZF; it never faults.
    unsafe {
        core::arch::asm!("xor eax, eax", "lsl eax, ecx", "setz dl", out("eax") limit, in("ecx") u32::from(sel), out("dl") ok, options(nomem, nostack))
    };
    (ok != 0).then_some(limit)
}
