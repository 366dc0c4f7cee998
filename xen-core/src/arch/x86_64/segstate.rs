//! The hardware side of a vCPU's data segments and FS/GS bases
//! ([`crate::domain::guest_segs`] decides; this reads and loads): saved on
//! every deschedule, loaded on every switch to a domain, loaded at once by
//! `set_segment_base`, and the GS swap and root load of a guest
//! kernel↔user switch.
//!
//! The hypervisor itself never uses DS, ES, FS or GS (it addresses its
//! data RIP-relative and never executes SWAPGS on entry), so the guest's
//! values stay live in the registers while it is handled, and only a
//! domain switch or a mode switch has to touch them.

use super::cpu;
use crate::domain::guest_segs::{hardware_bases, record_live, HwBases, SegLoad};
use crate::domain::vcpu::{Selectors, Vcpu};
use core::arch::asm;

const MSR_FS_BASE: u32 = 0xC000_0100;
const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;

fn read_selectors() -> Selectors {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment selectors has no side effects.
    unsafe {
        asm!(
            "mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
            out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs,
            options(nomem, nostack, preserves_flags)
        );
    }
    Selectors { ds, es, fs, gs }
}

fn read_bases() -> HwBases {
    HwBases { fs: cpu::rdmsr(MSR_FS_BASE), gs: cpu::rdmsr(MSR_GS_BASE), shadow_gs: cpu::rdmsr(MSR_KERNEL_GS_BASE) }
}

fn write_bases(b: HwBases) {
    // SAFETY: the hypervisor never uses FS or GS, and the values are
    // canonical (set_segment_base refuses others; values read back from
    // the hardware are canonical by construction).
    unsafe {
        cpu::wrmsr(MSR_FS_BASE, b.fs);
        cpu::wrmsr(MSR_GS_BASE, b.gs);
        cpu::wrmsr(MSR_KERNEL_GS_BASE, b.shadow_gs);
    }
}

/// Records the live selectors and bases of the vCPU that stops running.
pub fn save(v: &mut Vcpu) {
    record_live(v, read_selectors(), read_bases());
}

/// Loads `sel` (checked by [`crate::domain::guest_segs::restore_selectors`])
/// and then `v`'s bases for its mode; the selector loads come first since
/// loading FS or GS replaces their base.
pub fn load(v: &Vcpu, sel: Selectors) {
    // SAFETY: every selector is null or a present DPL 3 data or readable
    // code descriptor of the GDT just loaded, so no load faults in ring 0;
    // the hypervisor does not use these registers.
    unsafe {
        asm!(
            "mov ds, {0:x}", "mov es, {1:x}", "mov fs, {2:x}", "mov gs, {3:x}",
            in(reg) sel.ds, in(reg) sel.es, in(reg) sel.fs, in(reg) sel.gs,
            options(nostack, preserves_flags)
        );
    }
    write_bases(hardware_bases(v));
}

/// Carries out a `set_segment_base` decision.
pub fn apply(load: SegLoad) {
    // SAFETY: bases are canonical (checked), the GS selector is null or
    // loadable (checked); the hypervisor does not use FS or GS.
    unsafe {
        match load {
            SegLoad::Fs(b) => cpu::wrmsr(MSR_FS_BASE, b),
            SegLoad::ActiveGs(b) => cpu::wrmsr(MSR_GS_BASE, b),
            SegLoad::ShadowGs(b) => cpu::wrmsr(MSR_KERNEL_GS_BASE, b),
            SegLoad::UserGsSelector { selector, base } => {
                let kernel = cpu::rdmsr(MSR_GS_BASE);
                if !super::entry::load_gs(selector) {
                    log::warn!("set_segment_base: GS selector {selector:#x} refused by the CPU (descriptor tables not reloaded yet); GS is null");
                }
                cpu::wrmsr(MSR_GS_BASE, kernel);
                cpu::wrmsr(MSR_KERNEL_GS_BASE, base);
            }
        }
    }
}

/// The hardware half of Xen's `toggle_guest_mode`: the new mode's root,
/// SWAPGS, and the SYSCALL entry for the new mode. A CR3 load is the
/// whole TLB answer, as on Xen: user L1 mappings are global and mapped
/// alike in both roots, kernel-only ones are not global and go.
pub fn toggle(to_user: bool, root: u64) {
    // SAFETY: `root` is a validated L4 of the running domain with the
    // hypervisor's slots (checked by the caller's mode rules); SWAPGS
    // only exchanges two base registers the hypervisor does not use.
    unsafe {
        cpu::set_cr3(root);
        asm!("swapgs", options(nomem, nostack, preserves_flags));
    }
    super::entry::route_syscall(to_user);
}
