//! What the CPU offers for SVM, decoded from CPUID (AMD APM vol. 3,
//! CPUID Fn8000_0001 and Fn8000_000A) and VM_CR: pure, so the boot log
//! line and the decision to use SVM are host-tested.

use core::fmt;

/// CPUID Fn8000_0001 ECX bit 2: SVM.
pub const EXT1_ECX_SVM: u32 = 1 << 2;
/// Fn8000_000A EDX bit 0: nested paging.
pub const SVM_EDX_NP: u32 = 1 << 0;
/// Fn8000_000A EDX bit 3: the next RIP is saved on #VMEXIT.
pub const SVM_EDX_NRIPS: u32 = 1 << 3;
/// Fn8000_000A EDX bit 7: decode assists.
pub const SVM_EDX_DECODE_ASSISTS: u32 = 1 << 7;
/// VM_CR (MSR C001_0114) bit 4: SVM disabled by the firmware.
pub const VM_CR_SVMDIS: u64 = 1 << 4;

/// The CPU's SVM features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SvmCaps {
    /// CPUID says SVM.
    pub svm: bool,
    /// The firmware locked SVM off (VM_CR.SVMDIS).
    pub disabled: bool,
    /// SVM revision (Fn8000_000A EAX[7:0]).
    pub revision: u8,
    /// Number of ASIDs (Fn8000_000A EBX).
    pub asids: u32,
    /// Nested paging.
    pub npt: bool,
    /// Next-RIP save.
    pub nrips: bool,
    /// Decode assists.
    pub decode_assists: bool,
}

impl SvmCaps {
    /// Decodes the CPUID leaves: `max_ext` is Fn8000_0000 EAX, `ext1_ecx`
    /// Fn8000_0001 ECX, `leaf_a` Fn8000_000A (EAX, EBX, EDX) if it exists,
    /// `vm_cr` the VM_CR MSR (read only when SVM is there).
    pub fn decode(max_ext: u32, ext1_ecx: u32, leaf_a: (u32, u32, u32), vm_cr: u64) -> SvmCaps {
        let svm = max_ext >= 0x8000_0001 && ext1_ecx & EXT1_ECX_SVM != 0;
        if !svm || max_ext < 0x8000_000A {
            return SvmCaps { svm, ..SvmCaps::default() };
        }
        let (eax, ebx, edx) = leaf_a;
        SvmCaps {
            svm,
            disabled: vm_cr & VM_CR_SVMDIS != 0,
            revision: eax as u8,
            asids: ebx,
            npt: edx & SVM_EDX_NP != 0,
            nrips: edx & SVM_EDX_NRIPS != 0,
            decode_assists: edx & SVM_EDX_DECODE_ASSISTS != 0,
        }
    }

    /// Whether guests can be run with SVM at all (the hypervisor needs at
    /// least one ASID besides the host's 0).
    pub const fn usable(&self) -> bool {
        self.svm && !self.disabled && self.asids >= 2
    }
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl fmt::Display for SvmCaps {
    /// The boot log line's body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.svm {
            return f.write_str("not available");
        }
        if self.disabled {
            return f.write_str("disabled by the firmware (VM_CR.SVMDIS)");
        }
        write!(
            f,
            "available (revision {}, {} ASIDs), NPT {}, NRIPS {}, decode assists {}",
            self.revision,
            self.asids,
            yn(self.npt),
            yn(self.nrips),
            yn(self.decode_assists)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn svm_with_nested_paging_is_usable_and_says_so() {
        let c = SvmCaps::decode(0x8000_0021, EXT1_ECX_SVM, (1, 16, SVM_EDX_NP | SVM_EDX_NRIPS), 0);
        assert!(c.usable() && c.npt && c.nrips && !c.decode_assists);
        assert_eq!(c.to_string(), "available (revision 1, 16 ASIDs), NPT yes, NRIPS yes, decode assists no");
    }

    #[test]
    fn no_svm_bit_or_no_svm_leaf_or_firmware_lock_is_not_usable() {
        let none = SvmCaps::decode(0x8000_0008, 0, (1, 16, SVM_EDX_NP), 0);
        assert!(!none.svm && !none.usable());
        assert_eq!(none.to_string(), "not available");
        let short = SvmCaps::decode(0x8000_0008, EXT1_ECX_SVM, (1, 16, SVM_EDX_NP), 0);
        assert!(short.svm && !short.usable() && !short.npt, "no Fn8000_000A: nothing is known");
        let locked = SvmCaps::decode(0x8000_000A, EXT1_ECX_SVM, (1, 16, SVM_EDX_NP), VM_CR_SVMDIS);
        assert!(!locked.usable());
        assert_eq!(locked.to_string(), "disabled by the firmware (VM_CR.SVMDIS)");
        let one_asid = SvmCaps::decode(0x8000_000A, EXT1_ECX_SVM, (1, 1, SVM_EDX_NP), 0);
        assert!(!one_asid.usable());
    }
}
