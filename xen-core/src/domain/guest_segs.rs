//! A vCPU's data segments (DS, ES, FS, GS selectors) and its FS and GS
//! bases (platform fact sheet §1.5), as pure decisions: what the hardware
//! holds in each guest mode, what is saved when a vCPU is descheduled and
//! loaded when it runs again, and what `set_segment_base` loads.
//!
//! The hypervisor never uses these registers itself, so while a vCPU runs
//! the hardware is the truth (the guest changes it behind our back by
//! loading selectors) and the [`Vcpu`] fields are a cache, read back on
//! every deschedule. Without that, one domain would run with another's
//! selectors and bases.
//!
//! | guest mode | FS.base | GS.base        | KERNEL_GS_BASE (shadow) |
//! |------------|---------|----------------|-------------------------|
//! | kernel     | fs_base | gs_base_kernel | gs_base_user            |
//! | user       | fs_base | gs_base_user   | gs_base_kernel          |

use super::segments::GdtView;
use super::vcpu::{Selectors, Vcpu};
use crate::hypercall::canonical;
use abi::Errno;

/// `set_segment_base` sub-ops.
pub const SEGBASE_FS: u64 = 0;
/// See [`SEGBASE_FS`].
pub const SEGBASE_GS_USER: u64 = 1;
/// See [`SEGBASE_FS`].
pub const SEGBASE_GS_KERNEL: u64 = 2;
/// See [`SEGBASE_FS`].
pub const SEGBASE_GS_USER_SEL: u64 = 3;

/// The three base registers as the hardware holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HwBases {
    /// FS.base.
    pub fs: u64,
    /// GS.base (the active one).
    pub gs: u64,
    /// KERNEL_GS_BASE (what SWAPGS would make active).
    pub shadow_gs: u64,
}

/// What the hardware must hold while `v` runs in its current mode.
pub const fn hardware_bases(v: &Vcpu) -> HwBases {
    if v.user_mode {
        HwBases { fs: v.fs_base, gs: v.gs_base_user, shadow_gs: v.gs_base_kernel }
    } else {
        HwBases { fs: v.fs_base, gs: v.gs_base_kernel, shadow_gs: v.gs_base_user }
    }
}

/// Records what the hardware held when `v` stopped running.
pub fn record_live(v: &mut Vcpu, selectors: Selectors, live: HwBases) {
    v.selectors = selectors;
    v.fs_base = live.fs;
    if v.user_mode {
        (v.gs_base_user, v.gs_base_kernel) = (live.gs, live.shadow_gs);
    } else {
        (v.gs_base_kernel, v.gs_base_user) = (live.gs, live.shadow_gs);
    }
}

const READABLE_OR_WRITABLE: u64 = 1 << 41;
const CODE: u64 = 1 << 43;
const CODE_OR_DATA: u64 = 1 << 44;
const PRESENT: u64 = 1 << 47;

/// Whether the hypervisor, in ring 0, can load `selector` into DS, ES, FS
/// or GS without a fault *and* the guest (ring 3) could have loaded it:
/// null, or a present DPL 3 data or readable code segment of the GDT or
/// LDT the domain runs with (an LDT page not mapped yet holds only null
/// descriptors). Refuses the hypervisor's DPL 0 and system descriptors.
pub fn data_selector_loadable<F: Fn(usize) -> u64>(selector: u16, gdt: &GdtView<F>) -> bool {
    if selector & !3 == 0 {
        return true;
    }
    let Some(d) = gdt.descriptor(selector) else { return false };
    let dpl3 = (d >> 45) & 3 == 3;
    let kind_ok = d & CODE_OR_DATA != 0 && (d & CODE == 0 || d & READABLE_OR_WRITABLE != 0);
    kind_ok && dpl3 && d & PRESENT != 0
}

/// The selectors to load for `v`, and whether any saved one could not be
/// loaded (it becomes null and the failsafe callback is due, as on Xen).
pub fn restore_selectors<F: Fn(usize) -> u64>(v: &Vcpu, gdt: &GdtView<F>) -> (Selectors, bool) {
    let s = v.selectors;
    let mut failed = false;
    let mut pick = |sel: u16| {
        if data_selector_loadable(sel, gdt) {
            sel
        } else {
            failed = true;
            0
        }
    };
    let load = Selectors { ds: pick(s.ds), es: pick(s.es), fs: pick(s.fs), gs: pick(s.gs) };
    (load, failed)
}

/// The 32-bit base of a segment descriptor.
pub const fn descriptor_base(d: u64) -> u64 {
    ((d >> 16) & 0xFF_FFFF) | ((d >> 56) << 24)
}

/// What a `set_segment_base` (always made in guest kernel mode) loads
/// into the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegLoad {
    /// FS.base.
    Fs(u64),
    /// The active GS base (the kernel's).
    ActiveGs(u64),
    /// The shadow GS base (the user's, active after the switch to user).
    ShadowGs(u64),
    /// The GS selector, with the user GS base it gives put in the shadow
    /// register and the active (kernel) GS base kept.
    UserGsSelector {
        /// Selector loaded into GS.
        selector: u16,
        /// The base the load gives (0 for null).
        base: u64,
    },
}

/// `set_segment_base(which, base)` by `v` in kernel mode: updates the
/// cached state and says what to load.
///
/// # Errors
/// `EINVAL` for a non-canonical base of sub-ops 0–2 or an unknown sub-op.
/// Sub-op 3 never fails: a selector the guest could not load becomes the
/// null selector, as Xen's faulting load does.
pub fn set_segment_base<F: Fn(usize) -> u64>(
    v: &mut Vcpu,
    which: u64,
    base: u64,
    gdt: &GdtView<F>,
) -> Result<SegLoad, Errno> {
    match which {
        SEGBASE_FS..=SEGBASE_GS_KERNEL if !canonical(base) => Err(Errno::EINVAL),
        SEGBASE_FS => {
            v.fs_base = base;
            Ok(SegLoad::Fs(base))
        }
        SEGBASE_GS_USER => {
            v.gs_base_user = base;
            Ok(SegLoad::ShadowGs(base))
        }
        SEGBASE_GS_KERNEL => {
            v.gs_base_kernel = base;
            Ok(SegLoad::ActiveGs(base))
        }
        SEGBASE_GS_USER_SEL => {
            let raw = base as u16;
            // RPL 3 for a non-null selector, as Xen forces it.
            let sel = if raw > 3 { raw | 3 } else { raw };
            let (selector, base) = if sel & !3 == 0 {
                (sel, 0)
            } else if data_selector_loadable(sel, gdt) {
                (sel, gdt.descriptor(sel).map_or(0, descriptor_base))
            } else {
                (0, 0)
            };
            v.selectors.gs = selector;
            v.gs_base_user = base;
            Ok(SegLoad::UserGsSelector { selector, base })
        }
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
#[path = "guest_segs_tests.rs"]
mod tests;
