//! The CPUID policy a PV domain sees through forced-emulation CPUID
//! (fact sheet §5.5). Pure: the host's answers come from a function, so
//! the policy is tested on the host with recorded values.
//!
//! As in Xen 4.17, a feature is shown only if the host has it and Xen's
//! featureset marks it available to all guests by default ("A" in
//! `cpufeatureset.h`). Features a PV kernel cannot use are hidden: it runs
//! in ring 3 on page tables the hypervisor owns, so PSE, PGE, PCID, SMEP,
//! SMAP, UMIP, PKU, 1 GiB pages, VMX/SVM, MONITOR, MPX and LA57 are gone.
//! On top of the masks:
//!
//! * HYPERVISOR is always set; x2APIC is hidden (Xen's default policy).
//! * SEP is hidden on AMD and Hygon, which have no SYSENTER in long mode
//!   (Xen clears it from its own view of such a host).
//! * MTRR is shown to the privileged domain only, as Xen shows it to the
//!   hardware domain.
//! * OSXSAVE is clear. Xen sets it for a kernel-mode forced CPUID only when
//!   Xen itself runs with CR4.OSXSAVE and XSAVE is in the policy; xen-core
//!   does not enable OSXSAVE or manage guests' XCR0, so by the same rule it
//!   stays clear (a documented difference: Xen on the same host sets it).
//! * The XSAVE leaf offers x87, SSE and AVX state (AVX-512 state when
//!   AVX-512F is shown), never MPX or PKRU state, and its sizes follow.
//! * The linear-address width is at most 48 bits, since LA57 is hidden.
//! * The highest extended leaf stays the host's. Xen 4.17 raises it to
//!   0x80000021 to describe its own LFENCE setup; xen-core does not (a
//!   documented difference).
//!
//! Leaves this module does not know pass the host's answer through; leaves
//! above the highest basic or extended leaf read as zero.

/// Xen's basic leaves stop at the XSAVE leaf.
const MAX_BASIC: u32 = 0xD;

/// A mask of the listed bit numbers.
const fn bits(list: &[u8]) -> u32 {
    let mut m = 0;
    let mut i = 0;
    while i < list.len() {
        m |= 1 << list[i];
        i += 1;
    }
    m
}

/// Leaf 1 EDX: FPU DE TSC MSR PAE MCE CX8 APIC SEP MCA CMOV PAT CLFLUSH
/// ACPI MMX FXSR SSE SSE2 SS HTT.
const L1_EDX: u32 = bits(&[0, 2, 4, 5, 6, 7, 8, 9, 11, 14, 15, 16, 19, 22, 23, 24, 25, 26, 27, 28]);
const L1_EDX_SEP: u32 = 1 << 11;
const L1_EDX_MTRR: u32 = 1 << 12;
/// Leaf 1 ECX: SSE3 PCLMULQDQ SSSE3 FMA CX16 SSE4.1 SSE4.2 MOVBE POPCNT
/// AES XSAVE AVX F16C RDRAND (HYPERVISOR is set separately).
const L1_ECX: u32 = bits(&[0, 1, 9, 12, 13, 19, 20, 22, 23, 25, 26, 28, 29, 30]);
const L1_ECX_XSAVE: u32 = 1 << 26;
const L1_ECX_AVX: u32 = 1 << 28;
const L1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 7.0 EBX: BMI1 AVX2 BMI2 ERMS RTM AVX512F/DQ RDSEED ADX AVX512_IFMA
/// CLFLUSHOPT CLWB AVX512PF/ER/CD SHA AVX512BW/VL. Not FSGSBASE (bit 0),
/// which Xen offers: xen-core does not let a guest set CR4.FSGSBASE
/// ([`crate::emulate::cr::CR4_GUEST_MASK`]), so `rdfsbase` would raise
/// #UD in a guest that believed CPUID (Linux does, at its first fork).
const L7_EBX: u32 = bits(&[3, 5, 8, 9, 11, 16, 17, 18, 19, 21, 23, 24, 26, 27, 28, 29, 30, 31]);
const L7_EBX_AVX512F: u32 = 1 << 16;
/// Leaf 7.0 ECX: PREFETCHWT1 AVX512_VBMI AVX512_VBMI2 GFNI VAES VPCLMULQDQ
/// AVX512_VNNI AVX512_BITALG AVX512_VPOPCNTDQ RDPID CLDEMOTE.
const L7_ECX: u32 = bits(&[0, 1, 6, 8, 9, 10, 11, 12, 14, 22, 25]);
/// Leaf 7.0 EDX: AVX512_4VNNIW AVX512_4FMAPS MD_CLEAR IBRSB STIBP SSBD.
const L7_EDX: u32 = bits(&[2, 3, 10, 26, 27, 31]);
/// Leaf 7.1 EAX: AVX512_BF16.
const L7_1_EAX: u32 = bits(&[5]);
/// Leaf 7.2 EDX: INTEL_PSFD.
const L7_2_EDX: u32 = bits(&[0]);
/// Leaf 0xD.1 EAX: XSAVEOPT XSAVEC XGETBV1 (not XSAVES: no supervisor state).
const LD_1_EAX: u32 = bits(&[0, 1, 2]);
/// Leaf 0x80000001 EDX: SYSCALL NX MMXEXT FFXSR RDTSCP LM 3DNOWEXT 3DNOW.
const E1_EDX: u32 = bits(&[11, 20, 22, 25, 27, 29, 30, 31]);
/// The bits of leaf 0x80000001 EDX that AMD duplicates from leaf 1 EDX.
const E1_EDX_COMMON: u32 = 0x0183_F3FF;
/// Leaf 0x80000001 ECX: LAHF_LM CMP_LEGACY ABM SSE4A MISALIGNSSE
/// 3DNOWPREFETCH XOP FMA4 TBM DBEXT.
const E1_ECX: u32 = bits(&[0, 1, 5, 6, 7, 8, 11, 16, 21, 26]);
/// Leaf 0x80000008 EBX: CLZERO RSTR_FP_ERR_PTRS IBPB SSB_NO BTC_NO IBPB_RET.
const E8_EBX: u32 = bits(&[0, 2, 12, 26, 29, 30]);

/// XCR0 components offered: x87 and SSE always, AVX's upper halves with
/// AVX, the three AVX-512 components with AVX-512F.
const XCR0_BASE: u32 = 0b11;
const XCR0_YMM: u32 = 1 << 2;
const XCR0_AVX512: u32 = 0b111 << 5;

/// "AuthenticAMD" and "HygonGenuine" (EBX of leaf 0): no SYSENTER in long
/// mode, and leaf 0x80000001 EDX repeats leaf 1 EDX.
fn amd_like(host: &impl Fn(u32, u32) -> [u32; 4]) -> bool {
    matches!(host(0, 0)[1], 0x6874_7541 | 0x6F67_7948)
}

/// The answer a PV domain gets for CPUID `leaf`/`sub`, from the host's
/// answers `host(leaf, sub)`. `privileged`: the domain is domain 0.
/// The Xen leaves (0x40000000+) are answered before this policy.
pub fn pv_cpuid(leaf: u32, sub: u32, privileged: bool, host: impl Fn(u32, u32) -> [u32; 4]) -> [u32; 4] {
    let max_basic = host(0, 0)[0].min(MAX_BASIC);
    let max_extended = host(0x8000_0000, 0)[0];
    if leaf < 0x8000_0000 && leaf > max_basic || leaf >= 0x8000_0000 && leaf > max_extended {
        return [0; 4];
    }
    let [a, b, c, d] = host(leaf, sub);
    match leaf {
        0 => [max_basic, b, c, d],
        1 => [a, b, (c & L1_ECX) | L1_ECX_HYPERVISOR, d & leaf1_edx(privileged, &host)],
        // MONITOR is hidden, and so is its leaf; thermal and power
        // management, performance monitoring and DCA belong to Xen.
        5 | 6 | 9 | 0xA => [0; 4],
        7 => match sub {
            0 => [a, b & L7_EBX, c & L7_ECX, d & L7_EDX],
            1 => [a & L7_1_EAX, 0, 0, 0],
            2 => [0, 0, 0, d & L7_2_EDX],
            _ => [0; 4],
        },
        0xD => xsave_leaf(sub, [a, b, c, d], &host),
        0x8000_0000 => [max_extended, b, c, d],
        0x8000_0001 => {
            let common = if amd_like(&host) { E1_EDX_COMMON & leaf1_edx(privileged, &host) } else { 0 };
            [a, b, c & E1_ECX, d & (E1_EDX | common)]
        }
        // No invariant TSC or power reporting; no SVM.
        0x8000_0007 | 0x8000_000A => [0; 4],
        0x8000_0008 => {
            // Linear-address width (bits 15:8) at most 48: LA57 is hidden.
            let linear = ((a >> 8) & 0xFF).min(48);
            [(a & !0xFF00) | (linear << 8), b & E8_EBX, c, d]
        }
        _ => [a, b, c, d],
    }
}

/// The leaf 1 EDX mask for this domain and host.
fn leaf1_edx(privileged: bool, host: &impl Fn(u32, u32) -> [u32; 4]) -> u32 {
    let mut m = L1_EDX;
    if amd_like(host) {
        m &= !L1_EDX_SEP;
    }
    if privileged {
        m |= L1_EDX_MTRR;
    }
    m
}

/// The XCR0 components a PV domain may enable on this host.
fn xcr0_offered(host: &impl Fn(u32, u32) -> [u32; 4]) -> u32 {
    let l1 = host(1, 0)[2];
    if l1 & L1_ECX_XSAVE == 0 {
        return 0;
    }
    let mut m = XCR0_BASE;
    if l1 & L1_ECX_AVX != 0 {
        m |= XCR0_YMM;
        if host(7, 0)[1] & L7_EBX_AVX512F != 0 {
            m |= XCR0_AVX512;
        }
    }
    m & host(0xD, 0)[0]
}

/// Leaf 0xD: the offered components, and the save-area size that covers
/// them all (ECX of sub-leaf 0).
fn xsave_leaf(sub: u32, [a, b, _, _]: [u32; 4], host: &impl Fn(u32, u32) -> [u32; 4]) -> [u32; 4] {
    let offered = xcr0_offered(host);
    if offered == 0 {
        return [0; 4];
    }
    match sub {
        0 => {
            // The legacy area and header (576 bytes), then each component
            // at its fixed offset.
            let size = (2..32)
                .filter(|i| offered & (1 << i) != 0)
                .map(|i| {
                    let [len, off, _, _] = host(0xD, i);
                    off + len
                })
                .fold(576, u32::max);
            [offered, b, size, 0]
        }
        1 => [a & LD_1_EAX, b, 0, 0],
        i if i < 32 && offered & (1 << i) != 0 => host(0xD, i),
        _ => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's CPU as QEMU TCG `-cpu max` models it (AMD vendor),
    /// recorded by the conformance suite on a build that passed CPUID
    /// through.
    fn qemu_max(leaf: u32, sub: u32) -> [u32; 4] {
        let amd = [0x6874_7541, 0x444D_4163, 0x6974_6E65];
        match (leaf, sub) {
            (0, _) => [13, amd[0], amd[1], amd[2]],
            (1, _) => [0x60FB1, 0x800, 0xF6D8_320B, 0x0FCB_FBFD],
            (6, _) => [4, 0, 0, 0],
            (7, 0) => [0, 0x01D8_43A9, 0x8001_020C, 0],
            (0xD, 0) => [0x21F, 576, 2696, 0],
            (0xD, 1) => [0xF, 576, 0, 0],
            (0xD, 2) => [256, 576, 0, 0],
            (0xD, 3) => [64, 960, 0, 0],
            (0xD, 4) => [64, 1024, 0, 0],
            (0xD, 9) => [8, 2688, 0, 0],
            (0x8000_0000, _) => [0x8000_000A, amd[0], amd[1], amd[2]],
            (0x8000_0001, _) => [0x60FB1, 0, 0x75, 0xEDD3_FBFD],
            (0x8000_0008, _) => [0x3928, 0, 0, 0],
            (0x8000_000A, _) => [1, 0x10, 0, 0xFF],
            _ => [0; 4],
        }
    }

    fn dom0(leaf: u32, sub: u32) -> [u32; 4] {
        pv_cpuid(leaf, sub, true, qemu_max)
    }

    /// Xen 4.17's answers to domain 0 on the same QEMU, from
    /// `make conformance-xen`.
    #[test]
    fn leaf_1_matches_xen_on_the_same_host_except_osxsave() {
        let [a, b, c, d] = dom0(1, 0);
        assert_eq!((a, b), (0x60FB1, 0x800));
        assert_eq!(c, 0xFED8_3203 & !(1 << 27), "Xen's ECX without OSXSAVE; MONITOR hidden");
        assert_eq!(d, 0x0FC9_D3F5, "PSE, PGE, PSE36 and (AMD) SEP hidden, MTRR shown to domain 0");
    }

    #[test]
    fn leaf_7_hides_supervisor_and_paging_features_like_xen_and_fsgsbase() {
        // Xen's EBX is 0x0188_0329: it offers FSGSBASE (bit 0) too.
        assert_eq!(dom0(7, 0), [0, 0x0188_0328, 0x200, 0], "SMEP, MPX, SMAP, UMIP, PKU, LA57, PKS hidden");
        assert_eq!(dom0(7, 1), [0; 4]);
    }

    #[test]
    fn extended_leaves_match_xen_except_the_highest_leaf() {
        assert_eq!(dom0(0x8000_0001, 0), [0x60FB1, 0, 97, 0xE9D1_DBF5]);
        assert_eq!(dom0(0x8000_0000, 0)[0], 0x8000_000A, "Xen says 0x80000021; see the module docs");
        assert_eq!(dom0(0x8000_0007, 0), [0; 4]);
        assert_eq!(dom0(0x8000_0008, 0), [0x3028, 0, 0, 0], "48-bit linear addresses without LA57");
        assert_eq!(dom0(0x8000_000A, 0), [0; 4], "no SVM");
    }

    #[test]
    fn xsave_leaf_offers_x87_sse_and_avx_state_only_like_xen() {
        assert_eq!(dom0(0xD, 0), [7, 576, 832, 0]);
        assert_eq!(dom0(0xD, 1), [7, 576, 0, 0], "XSAVES hidden");
        assert_eq!(dom0(0xD, 2), [256, 576, 0, 0]);
        assert_eq!(dom0(0xD, 3), [0; 4], "MPX state hidden");
        assert_eq!(dom0(0xD, 9), [0; 4], "PKRU state hidden");
    }

    #[test]
    fn basic_leaves_stop_at_the_xsave_leaf_and_thermal_leaf_6_is_empty() {
        assert_eq!(dom0(0, 0)[0], 13);
        assert_eq!(dom0(6, 0), [0; 4]);
        assert_eq!(dom0(0xE, 0), [0; 4]);
        let big = |l: u32, s: u32| if l == 0 { [0x1F, 0, 0, 0] } else { qemu_max(l, s) };
        assert_eq!(pv_cpuid(0, 0, true, big)[0], 0xD);
        assert_eq!(pv_cpuid(0x1F, 0, true, big), [0; 4]);
        assert_eq!(dom0(0x8000_0010, 0), [0; 4], "above the highest extended leaf");
    }

    #[test]
    fn mtrr_is_for_domain_0_only_and_sep_is_hidden_only_on_amd() {
        let domu = pv_cpuid(1, 0, false, qemu_max)[3];
        assert_eq!(domu & L1_EDX_MTRR, 0);
        assert_eq!(pv_cpuid(0x8000_0001, 0, false, qemu_max)[3] & L1_EDX_MTRR, 0);
        let intel = |l: u32, s: u32| match l {
            0 => [13, 0x756E_6547, 0x6C65_746E, 0x4965_6E69],
            _ => qemu_max(l, s),
        };
        assert_ne!(pv_cpuid(1, 0, false, intel)[3] & L1_EDX_SEP, 0);
        assert_eq!(pv_cpuid(0x8000_0001, 0, false, intel)[3] & E1_EDX_COMMON, 0, "Intel repeats nothing of leaf 1");
    }

    #[test]
    fn the_hypervisor_bit_is_set_even_when_the_host_lacks_it() {
        let bare = |l: u32, s: u32| if l == 1 { [0, 0, 0, 0] } else { qemu_max(l, s) };
        assert_eq!(pv_cpuid(1, 0, true, bare)[2], L1_ECX_HYPERVISOR);
        assert_eq!(pv_cpuid(0xD, 0, true, bare), [0; 4], "no XSAVE, no XSAVE leaf");
    }
}
