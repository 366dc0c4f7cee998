//! What a PVH guest's CPUID and MSR accesses get. Pure: the arch layer
//! reads the host CPUID and performs the decision.
//!
//! CPUID: the Xen leaves 0x40000000–0x40000002 as for a PV guest (leaf 2
//! names MSR 0x40000000 as the hypercall-page MSR) and Xen's HVM leaf
//! 0x40000004 (the vCPU id in EBX, the domain id in ECX, and
//! `XEN_HVM_CPUID_UPCALL_VECTOR`, as Xen 4.17 sets them; no APIC
//! virtualization bits: there is no local APIC model), leaf 0 naming it as
//! the last, leaf 3 (time) zeros; the host's leaves
//! otherwise with the hypervisor bit set and SVM hidden (no nested
//! virtualization), as Xen's default HVM policy has it.
//!
//! MSRs: the permission map lets the guest reach the ones the VMCB holds
//! (FS/GS bases, KernelGSbase, the SYSCALL and SYSENTER MSRs) without an
//! exit. Of the intercepted ones, EFER is emulated (SVME kept set under the
//! guest, hidden from it; only SCE, LME and NXE may be written, LMA is the
//! hardware's), PAT reads and writes the VMCB's guest PAT, and a write of
//! the hypercall-page MSR asks for the page. Every other MSR is #GP, as
//! Xen gives an HVM guest for an MSR outside its policy.

use crate::domain::emulate::xen_leaf;

/// The hypercall-page MSR (CPUID leaf 0x40000002 EBX).
pub const MSR_HYPERCALL_PAGE: u32 = 0x4000_0000;
/// EFER.
pub const MSR_EFER: u32 = 0xC000_0080;
/// PAT.
pub const MSR_PAT: u32 = 0x277;
/// EFER bits a guest may write: SCE, LME, NXE (LMA is read-only).
pub const EFER_GUEST_WRITABLE: u64 = (1 << 0) | (1 << 8) | (1 << 11);
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.SVME.
const EFER_SVME: u64 = 1 << 12;

/// The MSRs passed through (VMLOAD/VMSAVE and VMCB state): FS_BASE,
/// GS_BASE, KERNEL_GS_BASE, STAR, LSTAR, CSTAR, SFMASK, SYSENTER_CS/ESP/EIP.
pub const PASSTHROUGH_MSRS: [u32; 10] =
    [0xC000_0100, 0xC000_0101, 0xC000_0102, 0xC000_0081, 0xC000_0082, 0xC000_0083, 0xC000_0084, 0x174, 0x175, 0x176];

/// The bit of the 8 KiB MSR permission map that intercepts reads of
/// `msr` (the write bit is the next one), or `None` for an MSR outside the
/// map's three ranges (always intercepted).
pub const fn msrpm_read_bit(msr: u32) -> Option<u32> {
    let (base, at) = match msr {
        0..=0x1FFF => (0, 0),
        0xC000_0000..=0xC000_1FFF => (0xC000_0000, 0x800),
        0xC001_0000..=0xC001_1FFF => (0xC001_0000, 0x1000),
        _ => return None,
    };
    Some(at * 8 + (msr - base) * 2)
}

/// CPUID leaf 1 ECX: the hypervisor bit.
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// CPUID leaf 0x80000001 ECX: SVM.
const EXT1_ECX_SVM: u32 = 1 << 2;

/// Leaf 0x40000004 EAX: the vCPU id is in EBX (`XEN_HVM_CPUID_VCPU_ID_PRESENT`).
pub const HVM_CPUID_VCPU_ID_PRESENT: u32 = 1 << 3;
/// Leaf 0x40000004 EAX: the domain id is in ECX (`XEN_HVM_CPUID_DOMID_PRESENT`).
pub const HVM_CPUID_DOMID_PRESENT: u32 = 1 << 4;
/// Leaf 0x40000004 EAX: `HVMOP_set_evtchn_upcall_vector` is there
/// (`XEN_HVM_CPUID_UPCALL_VECTOR`).
pub const HVM_CPUID_UPCALL_VECTOR: u32 = 1 << 6;

/// The CPUID a PVH guest of domain `domid` sees for `leaf`, given the
/// host's answer.
pub fn cpuid(leaf: u32, host: [u32; 4], version: (u32, u32), domid: u16) -> [u32; 4] {
    match leaf {
        0x4000_0000 => {
            let mut r = xen_leaf(leaf, version).unwrap_or_default();
            r[0] = 0x4000_0004;
            return r;
        }
        0x4000_0004 => {
            let flags = HVM_CPUID_VCPU_ID_PRESENT | HVM_CPUID_DOMID_PRESENT | HVM_CPUID_UPCALL_VECTOR;
            return [flags, 0, u32::from(domid), 0];
        }
        _ => {}
    }
    if let Some(x) = xen_leaf(leaf, version) {
        return x;
    }
    let mut r = host;
    match leaf {
        0x4000_0000..=0x4000_FFFF => r = [0; 4],
        1 => r[2] |= LEAF1_ECX_HYPERVISOR,
        0x8000_0001 => r[2] &= !EXT1_ECX_SVM,
        0x8000_000A => r = [0; 4],
        _ => {}
    }
    r
}

/// What an intercepted RDMSR/WRMSR does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrAction {
    /// RDMSR: this value in EDX:EAX.
    Read(u64),
    /// WRMSR of EFER: the VMCB's new EFER.
    SetEfer(u64),
    /// WRMSR of PAT: the VMCB's new guest PAT.
    SetPat(u64),
    /// WRMSR of the hypercall-page MSR: fill the page at this guest frame.
    HypercallPage(u64),
    /// Inject #GP.
    Fault,
}

/// Whether a PAT value is valid: every byte a memory type (0, 1, 4–7).
const fn pat_ok(v: u64) -> bool {
    let mut i = 0;
    while i < 8 {
        if matches!((v >> (8 * i)) & 0xFF, 2 | 3 | 8..) {
            return false;
        }
        i += 1;
    }
    true
}

/// The decision for an access to `msr` (a write of `value` when `write`),
/// with the VMCB's `efer` and `g_pat` now.
pub fn msr(msr: u32, write: bool, value: u64, efer: u64, g_pat: u64) -> MsrAction {
    match (msr, write) {
        (MSR_EFER, false) => MsrAction::Read(efer & !EFER_SVME),
        (MSR_EFER, true) => {
            if value & !(EFER_GUEST_WRITABLE | EFER_LMA) != 0 {
                return MsrAction::Fault;
            }
            MsrAction::SetEfer((value & EFER_GUEST_WRITABLE) | (efer & EFER_LMA) | EFER_SVME)
        }
        (MSR_PAT, false) => MsrAction::Read(g_pat),
        (MSR_PAT, true) if pat_ok(value) => MsrAction::SetPat(value),
        // Bits 11:0 pick the page of the hypercall area: one page only.
        (MSR_HYPERCALL_PAGE, true) if value & 0xFFF == 0 => MsrAction::HypercallPage(value >> 12),
        _ => MsrAction::Fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_sees_xen_leaves_a_hypervisor_bit_and_no_svm() {
        let l = cpuid(0x4000_0002, [9; 4], (4, 17), 3);
        assert_eq!((l[0], l[1]), (1, MSR_HYPERCALL_PAGE), "one page through MSR 0x40000000");
        assert_eq!(cpuid(0x4000_0000, [0; 4], (4, 17), 3)[1], 0x566E_6558, "XenV");
        assert_eq!(cpuid(0x4000_0005, [9; 4], (4, 17), 3), [0; 4]);
        assert_eq!(cpuid(0x4000_0003, [9; 4], (4, 17), 3), [0; 4]);
        assert_ne!(cpuid(1, [0; 4], (4, 17), 3)[2] & (1 << 31), 0);
        assert_eq!(cpuid(0x8000_0001, [0, 0, !0, 0], (4, 17), 3)[2] & (1 << 2), 0);
        assert_eq!(cpuid(0x8000_000A, [1; 4], (4, 17), 3), [0; 4]);
        assert_eq!(cpuid(0, [7, 8, 9, 10], (4, 17), 3), [7, 8, 9, 10]);
    }

    #[test]
    fn the_hvm_leaf_names_the_vcpu_the_domain_and_the_per_vcpu_upcall_vector() {
        assert_eq!(cpuid(0x4000_0000, [0; 4], (4, 17), 3)[0], 0x4000_0004, "leaf 4 is the last");
        let l = cpuid(0x4000_0004, [9; 4], (4, 17), 3);
        assert_eq!(l[0] & (1 << 6), 1 << 6, "XEN_HVM_CPUID_UPCALL_VECTOR");
        assert_eq!(l[0] & 3, 0, "no APIC virtualization: no local APIC model");
        assert_eq!((l[1], l[2]), (0, 3), "vCPU 0 of domain 3");
    }

    #[test]
    fn the_msr_map_bits_follow_the_apm_layout() {
        assert_eq!(msrpm_read_bit(0), Some(0));
        assert_eq!(msrpm_read_bit(0x176), Some(0x176 * 2));
        assert_eq!(msrpm_read_bit(0xC000_0080), Some(0x800 * 8 + 0x100));
        assert_eq!(msrpm_read_bit(0xC001_0000), Some(0x1000 * 8));
        assert_eq!(msrpm_read_bit(MSR_HYPERCALL_PAGE), None);
    }

    #[test]
    fn efer_keeps_svme_under_the_guest_and_refuses_reserved_bits() {
        let svme = 1 << 12;
        assert_eq!(msr(MSR_EFER, false, 0, svme | 0x500, 0), MsrAction::Read(0x500));
        assert_eq!(msr(MSR_EFER, true, 0x901, svme, 0), MsrAction::SetEfer(0x901 | svme));
        assert_eq!(msr(MSR_EFER, true, 0x100, svme | EFER_LMA, 0), MsrAction::SetEfer(0x100 | EFER_LMA | svme));
        assert_eq!(msr(MSR_EFER, true, svme, svme, 0), MsrAction::Fault, "the guest cannot set SVME");
        assert_eq!(msr(MSR_EFER, true, 1 << 20, svme, 0), MsrAction::Fault);
    }

    #[test]
    fn the_hypercall_page_msr_takes_page_zero_only_and_other_msrs_fault() {
        assert_eq!(msr(MSR_HYPERCALL_PAGE, true, 0x10_5000, 0, 0), MsrAction::HypercallPage(0x105));
        assert_eq!(msr(MSR_HYPERCALL_PAGE, true, 0x10_5001, 0, 0), MsrAction::Fault);
        assert_eq!(msr(MSR_HYPERCALL_PAGE, false, 0, 0, 0), MsrAction::Fault);
        assert_eq!(msr(MSR_PAT, true, 0x0007_0406_0007_0406, 0, 0), MsrAction::SetPat(0x0007_0406_0007_0406));
        assert_eq!(msr(MSR_PAT, true, 0x02, 0, 0), MsrAction::Fault);
        assert_eq!(msr(0x1B, false, 0, 0, 0), MsrAction::Fault, "APIC base: no local APIC model");
    }
}
