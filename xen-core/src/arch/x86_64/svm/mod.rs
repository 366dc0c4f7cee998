//! AMD SVM hardware glue: detection and enabling. What the CPUID leaves
//! mean is decided by the pure [`crate::hvm::caps`]; here they are read,
//! and, when SVM is usable, EFER.SVME is set and the host save area that
//! VMRUN needs is given to the CPU (VM_HSAVE_PA).
//!
//! * [`vmrun`]: a vCPU's VMCB frame and VMRUN with the guest's GPRs.
//! * [`probe`]: `svm-probe`, the tiny guests run under nested paging at
//!   boot.
//! * [`pvh`]: PVH domains from boot modules (`type=pvh`), run under
//!   nested paging or shadow paging.
//! * [`shadow`]: shadow paging for a PVH domain (`paging=shadow`).

pub mod probe;
pub mod pvh;
pub mod shadow;
pub mod vmrun;

use super::cpu;
use super::paging::DirectMap;
use crate::hvm::caps::{SvmCaps, EXT1_ECX_SVM};
use crate::mm::FrameAllocator;
use abi::Mfn;

/// VM_CR MSR (SVM lock and disable bits).
pub const MSR_VM_CR: u32 = 0xC001_0114;
/// VM_HSAVE_PA MSR: physical address of the host save area.
pub const MSR_VM_HSAVE_PA: u32 = 0xC001_0117;
/// EFER.SVME: SVM instructions enabled.
pub const EFER_SVME: u64 = 1 << 12;

/// Reads the CPU's SVM features.
pub fn detect() -> SvmCaps {
    let max_ext = cpu::cpuid(0x8000_0000, 0).eax;
    let ext1_ecx = if max_ext >= 0x8000_0001 { cpu::cpuid(0x8000_0001, 0).ecx } else { 0 };
    let svm = ext1_ecx & EXT1_ECX_SVM != 0;
    let leaf_a = if svm && max_ext >= 0x8000_000A {
        let r = cpu::cpuid(0x8000_000A, 0);
        (r.eax, r.ebx, r.edx)
    } else {
        (0, 0, 0)
    };
    // VM_CR exists on every CPU that reports SVM.
    let vm_cr = if svm { cpu::rdmsr(MSR_VM_CR) } else { 0 };
    SvmCaps::decode(max_ext, ext1_ecx, leaf_a, vm_cr)
}

/// The CPU's SVM features once SVM is on with nested paging (set by
/// [`enable`]).
static READY: spin::Once<SvmCaps> = spin::Once::new();

/// SVM's features if it is on and has nested paging (what a PVH domain needs).
pub fn ready() -> Option<SvmCaps> {
    READY.get().copied()
}

/// Turns SVM on if it is usable: EFER.SVME, and a zeroed frame of the
/// hypervisor's as the host save area. Returns that frame.
pub fn enable(caps: &SvmCaps, frames: &mut FrameAllocator) -> Option<Mfn> {
    if !caps.usable() {
        return None;
    }
    let hsave = frames.alloc_zeroed(&mut DirectMap)?;
    let efer = cpu::rdmsr(cpu::MSR_EFER);
    // SAFETY: the CPU reports SVM and the firmware did not disable it, so
    // EFER.SVME is a valid bit; setting it only makes the SVM instructions
    // legal and changes nothing the hypervisor relies on. The host save
    // area is a zeroed frame that stays the hypervisor's for good.
    unsafe {
        cpu::wrmsr(cpu::MSR_EFER, efer | EFER_SVME);
        cpu::wrmsr(MSR_VM_HSAVE_PA, hsave.to_maddr());
    }
    if caps.npt {
        READY.call_once(|| *caps);
    }
    Some(hsave)
}

/// The boot log lines.
pub fn log(caps: &SvmCaps, hsave: Option<Mfn>) {
    log::info!("SVM: {caps}");
    if let Some(h) = hsave {
        let on = cpu::rdmsr(cpu::MSR_EFER) & EFER_SVME != 0;
        log::info!("SVM: EFER.SVME {}, VM_HSAVE_PA {:#x}", if on { "on" } else { "off" }, cpu::rdmsr(MSR_VM_HSAVE_PA));
        debug_assert_eq!(cpu::rdmsr(MSR_VM_HSAVE_PA), h.to_maddr());
    }
}
