//! The FPU at the hardware: CR0/CR4 set up at boot so x87, MMX and SSE
//! work in guests, and the FXSAVE/FXRSTOR/CR0.TS operations the eager
//! switch of [`crate::domain::fpu`] is made of.

use super::cpu;
use crate::domain::fpu::{leaks_fpu_pointers, FpuHardware, FxsaveArea, CR0_TS};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// CR0.MP: WAIT/FWAIT honour TS.
const CR0_MP: u64 = 1 << 1;
/// CR0.EM: x87 instructions raise #UD (emulation); must be clear.
const CR0_EM: u64 = 1 << 2;
/// CR0.NE: x87 errors raise #MF instead of the legacy IRQ 13.
const CR0_NE: u64 = 1 << 5;
/// CR0.AM: EFLAGS.AC enables alignment checks at CPL 3. Xen runs with it,
/// so a guest's `mov r, cr0` reads the same value as on Xen, and a guest
/// that sets AC gets #AC as it would there.
const CR0_AM: u64 = 1 << 18;
/// CR4.OSFXSR: FXSAVE/FXRSTOR cover XMM and SSE instructions are allowed.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT: unmasked SIMD exceptions raise #XM, not #UD.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// CPUID.1:EDX FXSR and SSE (architectural on x86_64; checked anyway).
const CPUID1_EDX_FXSR_SSE: u32 = (1 << 24) | (1 << 25);

/// The CPU keeps FIP/FDP/FOP across FXRSTOR unless an exception is
/// pending (see [`leaks_fpu_pointers`]).
static LEAKS_POINTERS: AtomicBool = AtomicBool::new(false);

/// Sets CR0 and CR4 as an OS that uses the FPU does (EM clear, MP and NE
/// set, TS clear; OSFXSR and OSXMMEXCPT set; AM as on Xen) and leaves the registers in
/// the init state. `false` if the CPU lacks FXSR or SSE.
pub fn init() -> bool {
    if cpu::cpuid(1, 0).edx & CPUID1_EDX_FXSR_SSE != CPUID1_EDX_FXSR_SSE {
        return false;
    }
    // SAFETY: the bits only change how FPU/SSE instructions behave, and
    // the hypervisor executes none but those of the switch.
    unsafe {
        cpu::set_cr0((cpu::cr0() & !(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE | CR0_AM);
        cpu::set_cr4(cpu::cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    }
    let v = cpu::cpuid(0, 0);
    let ext8 = (cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0008).then(|| cpu::cpuid(0x8000_0008, 0).ebx);
    LEAKS_POINTERS.store(leaks_fpu_pointers([v.ebx, v.edx, v.ecx], ext8), Relaxed);
    Fpu.restore(&FxsaveArea::init());
    true
}

/// Whether each restore scrubs the x87 error pointers first.
pub fn scrubs_pointers() -> bool {
    LEAKS_POINTERS.load(Relaxed)
}

/// The boot CPU's FPU.
pub struct Fpu;

impl FpuHardware for Fpu {
    fn save(&mut self, area: &mut FxsaveArea) {
        // SAFETY: the area is 512 bytes, 16-byte aligned (its type says
        // so), and TS is clear (the caller's order), so FXSAVE64 only
        // stores into it.
        unsafe { asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
    }
    fn restore(&mut self, area: &FxsaveArea) {
        if LEAKS_POINTERS.load(Relaxed) && area.needs_pointer_scrub() {
            // SAFETY: TS is clear (the caller's order); FNCLEX clears any
            // pending exception so FILD cannot raise one, FFREE empties
            // ST(7) so the load cannot overflow the stack, and FILD reads
            // 4 bytes of the area. It leaves FIP/FDP/FOP pointing at the
            // hypervisor, and FXRSTOR below replaces every register.
            unsafe {
                asm!("fnclex", "ffree st(7)", "fild dword ptr [{}]", in(reg) area.0.as_ptr(), options(nostack, readonly))
            };
        }
        // SAFETY: as for `save`; the image is the init image or one FXSAVE
        // stored, so MXCSR has no reserved bit set and FXRSTOR cannot #GP.
        unsafe { asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack, readonly)) };
    }
    fn set_ts(&mut self, ts: bool) {
        let cr0 = cpu::cr0();
        let want = if ts { cr0 | CR0_TS } else { cr0 & !CR0_TS };
        if want != cr0 {
            // SAFETY: TS only makes FPU/SSE instructions raise #NM, and the
            // hypervisor executes none while TS is set.
            unsafe { cpu::set_cr0(want) };
        }
    }
}
