//! Which MSRs a PV guest kernel may read and write, and what it sees
//! (fact sheet §5.3, Xen 4.17's msr.c and the PV emulator's table, with
//! `msr_relaxed` off). One row per MSR in [`rule`]; anything not listed
//! faults (#GP), as on Xen.

use super::SegBase;

/// MSR numbers.
pub mod msr {
    /// IA32_TSC.
    pub const TSC: u32 = 0x10;
    /// IA32_PLATFORM_ID (Intel).
    pub const PLATFORM_ID: u32 = 0x17;
    /// IA32_APIC_BASE.
    pub const APIC_BASE: u32 = 0x1B;
    /// IA32_FEATURE_CONTROL.
    pub const FEATURE_CONTROL: u32 = 0x3A;
    /// IA32_BIOS_SIGN_ID / microcode revision.
    pub const UCODE_REV: u32 = 0x8B;
    /// MISC_FEATURES_ENABLES (CPUID faulting).
    pub const MISC_FEATURES_ENABLES: u32 = 0x140;
    /// SYSENTER_CS.
    pub const SYSENTER_CS: u32 = 0x174;
    /// SYSENTER_ESP.
    pub const SYSENTER_ESP: u32 = 0x175;
    /// SYSENTER_EIP.
    pub const SYSENTER_EIP: u32 = 0x176;
    /// IA32_MCG_CAP.
    pub const MCG_CAP: u32 = 0x179;
    /// IA32_MCG_STATUS.
    pub const MCG_STATUS: u32 = 0x17A;
    /// IA32_MCG_CTL.
    pub const MCG_CTL: u32 = 0x17B;
    /// IA32_MC0_CTL2 (Intel CMCI), one per bank up to bank 31.
    pub const MC0_CTL2: u32 = 0x280;
    /// IA32_MC0_CTL: each bank has CTL, STATUS, ADDR, MISC, up to bank 31.
    pub const MC0_CTL: u32 = 0x400;
    /// IA32_MCG_EXT_CTL (local machine checks).
    pub const MCG_EXT_CTL: u32 = 0x4D0;
    /// IA32_PERF_STATUS (Intel).
    pub const PERF_STATUS: u32 = 0x198;
    /// IA32_PERF_CTL (Intel).
    pub const PERF_CTL: u32 = 0x199;
    /// IA32_THERM_STATUS (Intel).
    pub const THERM_STATUS: u32 = 0x19C;
    /// IA32_MISC_ENABLE.
    pub const MISC_ENABLE: u32 = 0x1A0;
    /// IA32_PAT.
    pub const PAT: u32 = 0x277;
    /// IA32_PERF_CAPABILITIES.
    pub const PERF_CAPABILITIES: u32 = 0x345;
    /// EFER.
    pub const EFER: u32 = 0xC000_0080;
    /// STAR.
    pub const STAR: u32 = 0xC000_0081;
    /// LSTAR.
    pub const LSTAR: u32 = 0xC000_0082;
    /// CSTAR.
    pub const CSTAR: u32 = 0xC000_0083;
    /// SFMASK.
    pub const SFMASK: u32 = 0xC000_0084;
    /// FS_BASE.
    pub const FS_BASE: u32 = 0xC000_0100;
    /// GS_BASE.
    pub const GS_BASE: u32 = 0xC000_0101;
    /// KERNEL_GS_BASE (the shadow GS base).
    pub const SHADOW_GS_BASE: u32 = 0xC000_0102;
    /// TSC_AUX.
    pub const TSC_AUX: u32 = 0xC000_0103;
}

/// Xen's fixed PAT (an ABI: PTE cache bits index it): WB, WT, UC-, UC, WC,
/// WP, UC, UC.
pub const XEN_PAT: u64 = 0x0000_0501_0007_0406;
/// EFER bits a guest sees of the host's: SCE, LME, LMA, NXE.
pub const EFER_VISIBLE: u64 = (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11);
/// APIC_BASE: the architectural base with the enable bit, plus BSP on vCPU 0.
pub const APIC_BASE_AP: u64 = 0xFEE0_0800;
/// See [`APIC_BASE_AP`].
pub const APIC_BASE_BSP: u64 = 0xFEE0_0900;
/// MISC_ENABLE bits hidden from the guest: PERF_AVAIL (7), MONITOR (18).
pub const MISC_ENABLE_HIDDEN: u64 = (1 << 7) | (1 << 18);
/// MISC_ENABLE bits always shown: BTS_UNAVAIL (11), PEBS_UNAVAIL (12),
/// XTPR_DISABLE (23).
pub const MISC_ENABLE_FORCED: u64 = (1 << 11) | (1 << 12) | (1 << 23);

/// Machine-check banks a guest sees (Xen's virtual MCE: bank 0 for the
/// old-CPU quirk, bank 1 for the errors it would forward).
pub const GUEST_MC_BANKS: u64 = 2;
/// MCG_CAP on an AMD host: the bank count only.
pub const MCG_CAP_AMD: u64 = GUEST_MC_BANKS;
/// MCG_CAP on an Intel host: also TES_P (11), SER_P (24) and CMCI_P (10).
pub const MCG_CAP_INTEL: u64 = GUEST_MC_BANKS | (1 << 11) | (1 << 24) | (1 << 10);

/// What a read returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// A fixed value.
    Fixed(u64),
    /// The host EFER masked to [`EFER_VISIBLE`].
    Efer,
    /// [`APIC_BASE_BSP`] on vCPU 0, else [`APIC_BASE_AP`].
    ApicBase,
    /// The host MISC_ENABLE (Intel only) adjusted as Xen does.
    MiscEnable,
    /// The TSC.
    Tsc,
    /// A segment base of the vCPU.
    Base(SegBase),
    /// The vCPU's virtual TSC_AUX.
    TscAux,
    /// [`MCG_CAP_INTEL`] or [`MCG_CAP_AMD`], by the CPU vendor.
    McgCap,
    /// The vCPU's virtual MCG_STATUS.
    McgStatus,
    /// #GP.
    Fault,
}

/// What a write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Accepted and dropped.
    Ignore,
    /// Accepted only if equal to what a read returns (EFER), else #GP.
    OnlyCurrent,
    /// Accepted only if zero (MISC_FEATURES_ENABLES without CPUID
    /// faulting offered), else #GP.
    OnlyZero,
    /// Loads a segment base; a non-canonical value is #GP.
    Base(SegBase),
    /// The virtual TSC_AUX; upper 32 bits set is #GP.
    TscAux,
    /// The virtual MCG_STATUS, any value.
    McgStatus,
    /// #GP.
    Fault,
}

/// The policy row for `msr`: (read, write).
pub fn rule(msr: u32) -> (Read, Write) {
    use msr::*;
    match msr {
        FS_BASE => (Read::Base(SegBase::Fs), Write::Base(SegBase::Fs)),
        GS_BASE => (Read::Base(SegBase::GsKernel), Write::Base(SegBase::GsKernel)),
        SHADOW_GS_BASE => (Read::Base(SegBase::GsUser), Write::Base(SegBase::GsUser)),
        APIC_BASE => (Read::ApicBase, Write::Fault),
        EFER => (Read::Efer, Write::OnlyCurrent),
        TSC => (Read::Tsc, Write::Fault),
        PAT => (Read::Fixed(XEN_PAT), Write::Fault),
        MISC_ENABLE => (Read::MiscEnable, Write::Ignore),
        PERF_CAPABILITIES | PERF_STATUS | PERF_CTL | THERM_STATUS => (Read::Fixed(0), Write::Fault),
        // LOCK set, no VMX/LMCE offered.
        FEATURE_CONTROL => (Read::Fixed(1), Write::Fault),
        MISC_FEATURES_ENABLES => (Read::Fixed(0), Write::OnlyZero),
        TSC_AUX => (Read::TscAux, Write::TscAux),
        // Xen's virtual MCE (vmce.c), which Linux's machine-check setup
        // needs: its MCG_STATUS read may not fault ("MCA architectural
        // violation"). No MCG_CTL_P (MCG_CTL reads 0, writes dropped), no
        // LMCE (MCG_EXT_CTL faults); writes to MCG_CAP are dropped (Xen
        // 4.17 accepts them: the conformance suite shows it).
        MCG_CAP => (Read::McgCap, Write::Ignore),
        MCG_STATUS => (Read::McgStatus, Write::McgStatus),
        MCG_CTL => (Read::Fixed(0), Write::Ignore),
        MCG_EXT_CTL => (Read::Fault, Write::Fault),
        // Banks: CTL reads all ones and ignores writes; STATUS, ADDR and
        // MISC hold no error, and only 0 may be written (as on hardware).
        // Registers of banks beyond the two, and the CTL2 range, read 0
        // and drop writes, as Xen's "not handled" answer does.
        MC0_CTL..=0x47F if u64::from((msr - MC0_CTL) / 4) < GUEST_MC_BANKS => match msr & 3 {
            0 => (Read::Fixed(u64::MAX), Write::Ignore),
            _ => (Read::Fixed(0), Write::OnlyZero),
        },
        MC0_CTL..=0x47F | MC0_CTL2..=0x29F => (Read::Fixed(0), Write::Ignore),
        // SYSCALL/SYSENTER setup is Xen's: reads and writes fault (Linux's
        // PV wrmsr wrapper never issues these).
        STAR | LSTAR | CSTAR | SFMASK | SYSENTER_CS | SYSENTER_ESP | SYSENTER_EIP => (Read::Fault, Write::Fault),
        _ => (Read::Fault, Write::Fault),
    }
}

/// Whether a failing read of `msr` by a guest without a #GP handler yet is
/// "faked" as 0 (Xen does this for host-readable MSRs outside its own
/// 0x4000xxxx range; xen-core does not probe the host and fakes them all).
pub fn fake_read_without_handler(msr: u32) -> bool {
    msr >> 16 != 0x4000
}

#[cfg(test)]
mod tests {
    use super::msr::*;
    use super::*;

    #[test]
    fn every_row_of_the_policy_is_what_xen_does() {
        let rows: &[(u32, Read, Write)] = &[
            (FS_BASE, Read::Base(SegBase::Fs), Write::Base(SegBase::Fs)),
            (GS_BASE, Read::Base(SegBase::GsKernel), Write::Base(SegBase::GsKernel)),
            (SHADOW_GS_BASE, Read::Base(SegBase::GsUser), Write::Base(SegBase::GsUser)),
            (APIC_BASE, Read::ApicBase, Write::Fault),
            (EFER, Read::Efer, Write::OnlyCurrent),
            (TSC, Read::Tsc, Write::Fault),
            (PAT, Read::Fixed(0x0000_0501_0007_0406), Write::Fault),
            (MISC_ENABLE, Read::MiscEnable, Write::Ignore),
            (PERF_CAPABILITIES, Read::Fixed(0), Write::Fault),
            (PERF_STATUS, Read::Fixed(0), Write::Fault),
            (PERF_CTL, Read::Fixed(0), Write::Fault),
            (THERM_STATUS, Read::Fixed(0), Write::Fault),
            (FEATURE_CONTROL, Read::Fixed(1), Write::Fault),
            (MISC_FEATURES_ENABLES, Read::Fixed(0), Write::OnlyZero),
            (TSC_AUX, Read::TscAux, Write::TscAux),
            (STAR, Read::Fault, Write::Fault),
            (LSTAR, Read::Fault, Write::Fault),
            (CSTAR, Read::Fault, Write::Fault),
            (SFMASK, Read::Fault, Write::Fault),
            (SYSENTER_CS, Read::Fault, Write::Fault),
            (SYSENTER_ESP, Read::Fault, Write::Fault),
            (SYSENTER_EIP, Read::Fault, Write::Fault),
            (PLATFORM_ID, Read::Fault, Write::Fault),
            (UCODE_REV, Read::Fault, Write::Fault),
            (0x800, Read::Fault, Write::Fault), // x2APIC
            (0x6A2, Read::Fault, Write::Fault), // CET
            (0x4000_0000, Read::Fault, Write::Fault),
            (MCG_CAP, Read::McgCap, Write::Ignore),
            (MCG_STATUS, Read::McgStatus, Write::McgStatus),
            (MCG_CTL, Read::Fixed(0), Write::Ignore),
            (MCG_EXT_CTL, Read::Fault, Write::Fault),
            (0x400, Read::Fixed(u64::MAX), Write::Ignore),
            (0x401, Read::Fixed(0), Write::OnlyZero),
            (0x406, Read::Fixed(0), Write::OnlyZero),
            (0x407, Read::Fixed(0), Write::OnlyZero),
            (0x408, Read::Fixed(0), Write::Ignore),
            (0x47F, Read::Fixed(0), Write::Ignore),
            (0x480, Read::Fault, Write::Fault),
            (0x280, Read::Fixed(0), Write::Ignore),
            (0x29F, Read::Fixed(0), Write::Ignore),
        ];
        for &(m, r, w) in rows {
            assert_eq!(rule(m), (r, w), "MSR {m:#x}");
        }
    }

    #[test]
    fn fixed_values_match_the_fact_sheet() {
        assert_eq!(XEN_PAT.to_le_bytes()[..6], [0x06, 0x04, 0x07, 0x00, 0x01, 0x05], "WB WT UC- UC WC WP");
        assert_eq!(EFER_VISIBLE, 0xD01);
        assert_eq!(MISC_ENABLE_FORCED, 0x80_1800);
    }

    #[test]
    fn only_reads_outside_xens_own_msrs_are_faked_without_a_handler() {
        assert!(fake_read_without_handler(0x1A0));
        assert!(!fake_read_without_handler(0x4000_0000));
        assert!(!fake_read_without_handler(0x4000_0200));
    }
}
