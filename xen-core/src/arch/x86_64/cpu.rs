//! Privileged CPU instructions: control registers, MSRs, CPUID, port I/O.

use core::arch::asm;

/// EFER MSR number.
pub const MSR_EFER: u32 = 0xC000_0080;
/// EFER.NXE: the NX bit in page-table entries is honoured.
pub const EFER_NXE: u64 = 1 << 11;
/// CR4.SMEP.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP.
pub const CR4_SMAP: u64 = 1 << 21;
/// CR4.PGE.
pub const CR4_PGE: u64 = 1 << 7;

/// Result of CPUID.
#[derive(Clone, Copy, Debug)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Executes CPUID for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    Cpuid { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx }
}

/// Reads an MSR.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only architectural MSRs known to exist are read by callers.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes an MSR.
///
/// # Safety
/// The write must keep the CPU in a state the hypervisor expects.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees the value is valid for this MSR.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack)) };
}

/// Reads CR0.
pub fn cr0() -> u64 {
    let v;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Loads CR0.
///
/// # Safety
/// Paging and protection must stay on, and any FPU bit changed must match
/// what the hypervisor executes next.
pub unsafe fn set_cr0(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov cr0, {}", in(reg) value, options(nostack)) };
}

/// Reads CR2 (the last page-fault address).
pub fn cr2() -> u64 {
    let v;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack)) };
    v
}

/// Reads CR3.
pub fn cr3() -> u64 {
    let v;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack)) };
    v
}

/// Loads CR3.
///
/// # Safety
/// `value` must point at a page-table tree that maps the running code,
/// stack and data at their current addresses.
pub unsafe fn set_cr3(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov cr3, {}", in(reg) value, options(nostack)) };
}

/// Reads CR4.
pub fn cr4() -> u64 {
    let v;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack)) };
    v
}

/// Loads CR4.
///
/// # Safety
/// Every feature enabled must be supported and compatible with the current
/// mappings (e.g. SMAP only once no supervisor code touches user pages).
pub unsafe fn set_cr4(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov cr4, {}", in(reg) value, options(nostack)) };
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The port must belong to a device whose state the write cannot corrupt.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack)) };
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: interrupts are disabled first, so HLT stops the CPU until NMI/reset.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Reads `size` (1, 2 or 4) bytes from an I/O port.
///
/// # Safety
/// The port must belong to a device whose state the read cannot corrupt.
pub unsafe fn port_in(port: u16, size: u8) -> u32 {
    let v: u32;
    // SAFETY: guaranteed by the caller.
    unsafe {
        match size {
            1 => asm!("in al, dx", in("dx") port, out("eax") v, options(nomem, nostack)),
            2 => asm!("in ax, dx", in("dx") port, out("eax") v, options(nomem, nostack)),
            _ => asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack)),
        }
    }
    v
}

/// Writes `size` (1, 2 or 4) bytes to an I/O port.
///
/// # Safety
/// The port must belong to a device whose state the write cannot corrupt.
pub unsafe fn port_out(port: u16, size: u8, value: u32) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match size {
            1 => asm!("out dx, al", in("dx") port, in("al") value as u8, options(nomem, nostack)),
            2 => asm!("out dx, ax", in("dx") port, in("ax") value as u16, options(nomem, nostack)),
            _ => asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack)),
        }
    }
}

/// Reads the TSC.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
