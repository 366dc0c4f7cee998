//! The state a PVH guest starts in (Xen's `docs/misc/pvh.pandoc`), as a
//! VMCB save area, and the consistency checks VMRUN applies to a VMCB
//! (AMD APM vol. 2, §15.5.1 "Canonicalization and Consistency Checks"),
//! so that a state the hardware would refuse with VMEXIT_INVALID is caught
//! on the host.
//!
//! PVH entry: 32-bit protected mode, paging off; CS a flat 32-bit
//! read/execute segment, DS/ES (and here SS, FS, GS) flat 32-bit
//! read/write data; TR a 32-bit TSS with base 0 and limit 0x67; CR0 only
//! PE (and ET, which reads as 1); CR4 clear; IF, TF and VM clear; EBX the
//! guest-physical address of the `hvm_start_info`. The OS sets up its own
//! stack, GDT and IDT.

use super::vmcb::{intercept, VmcbControl, VmcbSave, VmcbSeg};

/// CR0.PE.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.ET (reads as 1).
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NW.
pub const CR0_NW: u64 = 1 << 29;
/// CR0.CD.
pub const CR0_CD: u64 = 1 << 30;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.SVME (must be set in the guest's EFER).
pub const EFER_SVME: u64 = 1 << 12;
/// RFLAGS bit 1, always set.
pub const RFLAGS_FIXED: u64 = 1 << 1;
/// The power-on PAT.
pub const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// Attributes (VMCB packing: descriptor bits 40–47 in 0–7, 52–55 in 8–11).
pub mod attrib {
    /// Present, code, execute/read, accessed; 32-bit (D), 4 KiB granular.
    pub const CODE32: u16 = 0xC9B;
    /// Present, data, read/write, accessed; 32-bit (B), 4 KiB granular.
    pub const DATA32: u16 = 0xC93;
    /// Present, 32-bit busy TSS.
    pub const TSS32_BUSY: u16 = 0x08B;
    /// Long-mode code (L) bit.
    pub const L: u16 = 1 << 9;
    /// Default-size (D/B) bit.
    pub const DB: u16 = 1 << 10;
}

const fn flat(selector: u16, attrib: u16) -> VmcbSeg {
    VmcbSeg { selector, attrib, limit: 0xFFFF_FFFF, base: 0 }
}

/// Sets `save` to the PVH entry state at guest-physical `entry`; returns
/// the value for RBX (the start info's guest-physical address), which is
/// not part of the VMCB.
pub fn pvh_entry(save: &mut VmcbSave, entry: u32, start_info: u32) -> u64 {
    save.cs = flat(0x08, attrib::CODE32);
    for s in [&mut save.ds, &mut save.es, &mut save.ss, &mut save.fs, &mut save.gs] {
        *s = flat(0x10, attrib::DATA32);
    }
    save.tr = VmcbSeg { selector: 0x18, attrib: attrib::TSS32_BUSY, limit: 0x67, base: 0 };
    save.ldtr = VmcbSeg::default();
    save.gdtr = VmcbSeg::default();
    save.idtr = VmcbSeg::default();
    save.cpl = 0;
    save.efer = EFER_SVME;
    save.cr0 = CR0_PE | CR0_ET;
    save.cr3 = 0;
    save.cr4 = 0;
    save.rflags = RFLAGS_FIXED;
    save.rip = u64::from(entry);
    save.rsp = 0;
    save.rax = 0;
    save.dr6 = 0xFFFF_0FF0;
    save.dr7 = 0x400;
    save.g_pat = PAT_RESET;
    u64::from(start_info)
}

/// Why VMRUN would refuse a VMCB (VMEXIT_INVALID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// EFER.SVME clear in the guest.
    SvmeClear,
    /// CR0.CD clear with CR0.NW set.
    NwWithoutCd,
    /// CR0 bits 63:32 set.
    Cr0High,
    /// DR6 or DR7 bits 63:32 set.
    DrHigh,
    /// EFER.LME and CR0.PG without CR4.PAE, or without CR0.PE.
    LongModeInconsistent,
    /// In long mode, CS with both L and D set.
    CsLAndD,
    /// The VMRUN intercept is clear.
    NoVmrunIntercept,
    /// ASID 0 (the host's).
    AsidZero,
}

/// The consistency checks of §15.5.1 that a hypervisor can get wrong.
pub fn vmrun_check(control: &VmcbControl, save: &VmcbSave) -> Result<(), Invalid> {
    if save.efer & EFER_SVME == 0 {
        return Err(Invalid::SvmeClear);
    }
    if save.cr0 & CR0_CD == 0 && save.cr0 & CR0_NW != 0 {
        return Err(Invalid::NwWithoutCd);
    }
    if save.cr0 >> 32 != 0 {
        return Err(Invalid::Cr0High);
    }
    if save.dr6 >> 32 != 0 || save.dr7 >> 32 != 0 {
        return Err(Invalid::DrHigh);
    }
    let long = save.efer & EFER_LME != 0 && save.cr0 & CR0_PG != 0;
    if long && (save.cr4 & CR4_PAE == 0 || save.cr0 & CR0_PE == 0) {
        return Err(Invalid::LongModeInconsistent);
    }
    if long && save.cr4 & CR4_PAE != 0 && save.cs.attrib & attrib::L != 0 && save.cs.attrib & attrib::DB != 0 {
        return Err(Invalid::CsLAndD);
    }
    if !control.is_intercepted(intercept::VMRUN) {
        return Err(Invalid::NoVmrunIntercept);
    }
    if control.asid == 0 {
        return Err(Invalid::AsidZero);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hvm::policy::Paging;

    fn ready() -> (VmcbControl, VmcbSave, u64) {
        let mut c = VmcbControl::zeroed();
        c.set_pvh_intercepts(Paging::Nested);
        c.asid = 1;
        let mut s = VmcbSave::zeroed();
        let rbx = pvh_entry(&mut s, 0x10_0000, 0x6000);
        (c, s, rbx)
    }

    #[test]
    fn the_pvh_entry_state_is_what_xens_boot_abi_promises() {
        let (_, s, rbx) = ready();
        assert_eq!(rbx, 0x6000, "EBX: the start info");
        assert_eq!(s.rip, 0x10_0000);
        assert_eq!(s.cr0 & (CR0_PE | CR0_PG), CR0_PE, "protected mode, paging off");
        assert_eq!(s.cr4, 0);
        assert_eq!(s.rflags & ((1 << 17) | (1 << 9) | (1 << 8)), 0, "VM, IF, TF clear");
        // CS: present code segment, execute/read, 32-bit, flat.
        assert_eq!((s.cs.base, s.cs.limit), (0, 0xFFFF_FFFF));
        assert_eq!(s.cs.attrib & 0x1A, 0x1A, "S and code, readable");
        assert!(s.cs.attrib & attrib::DB != 0 && s.cs.attrib & attrib::L == 0);
        for d in [s.ds, s.es] {
            assert_eq!((d.base, d.limit, d.attrib & 0x1A), (0, 0xFFFF_FFFF, 0x12), "flat writable data");
        }
        assert_eq!((s.tr.base, s.tr.limit, s.tr.attrib & 0x1F), (0, 0x67, 0x0B), "32-bit TSS");
        assert_eq!(s.cpl, 0);
    }

    #[test]
    fn the_pvh_entry_state_passes_vmruns_checks() {
        let (c, s, _) = ready();
        assert_eq!(vmrun_check(&c, &s), Ok(()));
    }

    #[test]
    fn states_vmrun_refuses_are_caught() {
        let (c, s, _) = ready();
        let bad = |f: &dyn Fn(&mut VmcbControl, &mut VmcbSave)| {
            let (mut c, mut s) = (c, s);
            f(&mut c, &mut s);
            vmrun_check(&c, &s)
        };
        assert_eq!(bad(&|_, s| s.efer = 0), Err(Invalid::SvmeClear));
        assert_eq!(bad(&|_, s| s.cr0 |= CR0_NW), Err(Invalid::NwWithoutCd));
        assert_eq!(bad(&|_, s| s.cr0 |= 1 << 32), Err(Invalid::Cr0High));
        assert_eq!(bad(&|_, s| s.dr7 |= 1 << 40), Err(Invalid::DrHigh));
        assert_eq!(
            bad(&|_, s| {
                s.efer |= EFER_LME;
                s.cr0 |= CR0_PG;
            }),
            Err(Invalid::LongModeInconsistent)
        );
        assert_eq!(
            bad(&|_, s| {
                s.efer |= EFER_LME;
                s.cr0 |= CR0_PG;
                s.cr4 |= CR4_PAE;
                s.cs.attrib |= attrib::L;
            }),
            Err(Invalid::CsLAndD)
        );
        assert_eq!(bad(&|c, _| c.intercepts[4] = 0), Err(Invalid::NoVmrunIntercept));
        assert_eq!(bad(&|c, _| c.asid = 0), Err(Invalid::AsidZero));
    }
}
