//! A PVH domain's VM exits counted by kind, and the xen-core CPUID leaf
//! that reports them to the guest (`make modes`' per-operation exit
//! counts).
//!
//! The leaf is [`EXIT_COUNT_LEAF`] (0x400000F0, abi's
//! `XEN_CORE_EXIT_COUNT_LEAF`) with the kind in ECX. Xen
//! answers every leaf of its range above its last one with zeros, so a
//! guest tells the two apart by [`EXIT_COUNT_MAGIC`] in EAX; the count
//! comes as EBX (low half) and ECX (high half), the number of kinds in
//! EDX. A deliberate difference from Xen (abi docs): it reveals nothing
//! but the exits of the domain's own run (the host interrupts taken while
//! it ran among them).

use super::policy::Action;

pub use abi::hvm::{XEN_CORE_EXIT_COUNT_LEAF as EXIT_COUNT_LEAF, XEN_CORE_EXIT_COUNT_MAGIC as EXIT_COUNT_MAGIC};

/// Exit kinds, by the exit code that made them (the CPUID subleaf).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitKind {
    /// VMMCALL: a hypercall.
    Vmmcall = 0,
    /// CPUID.
    Cpuid = 1,
    /// RDMSR/WRMSR.
    Msr = 2,
    /// IN/OUT.
    Io = 3,
    /// A nested page fault (nested paging).
    Npf = 4,
    /// A #PF intercept (shadow paging).
    PageFault = 5,
    /// A CR0/CR3/CR4 access (shadow paging).
    Cr = 6,
    /// INVLPG (shadow paging).
    Invlpg = 7,
    /// A host interrupt or NMI (the watchdog's timer): not the guest's doing.
    Host = 8,
    /// Anything else (HLT, shutdown, malformed...).
    Other = 9,
}

/// Number of kinds.
pub const KINDS: usize = 10;

impl ExitKind {
    /// The kind of the exit `policy` turned into `action`.
    pub fn of(action: &Action) -> ExitKind {
        match action {
            Action::Hypercall { .. } => ExitKind::Vmmcall,
            Action::Cpuid { .. } => ExitKind::Cpuid,
            Action::Msr { .. } => ExitKind::Msr,
            Action::NullIo(_) => ExitKind::Io,
            Action::NestedFault { .. } => ExitKind::Npf,
            Action::ShadowFault { .. } => ExitKind::PageFault,
            Action::ShadowCr3 { .. } | Action::ShadowCr { .. } => ExitKind::Cr,
            Action::ShadowInvlpg { .. } => ExitKind::Invlpg,
            Action::HostInterrupt | Action::HostNmi => ExitKind::Host,
            _ => ExitKind::Other,
        }
    }
}

/// Exits so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCounts(pub [u64; KINDS]);

impl ExitCounts {
    /// Counts one exit.
    pub fn record(&mut self, kind: ExitKind) {
        self.0[kind as usize] += 1;
    }

    /// Exits of `kind`.
    pub fn get(&self, kind: ExitKind) -> u64 {
        self.0[kind as usize]
    }

    /// All exits.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// CPUID [`EXIT_COUNT_LEAF`] with subleaf `sub`: the count of kind
    /// `sub` (zeros for a kind that does not exist).
    pub fn leaf(&self, sub: u32) -> [u32; 4] {
        match self.0.get(sub as usize) {
            Some(&n) => [EXIT_COUNT_MAGIC, n as u32, (n >> 32) as u32, KINDS as u32],
            None => [0; 4],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_reports_each_kind_split_across_ebx_and_ecx_and_nothing_past_the_last() {
        let mut c = ExitCounts::default();
        c.0[ExitKind::Invlpg as usize] = 0x1_0000_0002;
        c.record(ExitKind::Cpuid);
        assert_eq!(c.leaf(7), [EXIT_COUNT_MAGIC, 2, 1, 10]);
        assert_eq!(c.leaf(1), [EXIT_COUNT_MAGIC, 1, 0, 10]);
        assert_eq!(c.leaf(10), [0; 4]);
        assert_eq!(c.total(), 0x1_0000_0003);
    }

    #[test]
    fn exits_are_kinded_by_what_made_them() {
        use crate::hvm::policy::CrashCause;
        assert_eq!(ExitKind::of(&Action::Hypercall { insn_len: 3 }), ExitKind::Vmmcall);
        assert_eq!(ExitKind::of(&Action::ShadowInvlpg { va: None }), ExitKind::Invlpg);
        assert_eq!(ExitKind::of(&Action::ShadowCr3 { gpr: None }), ExitKind::Cr);
        assert_eq!(ExitKind::of(&Action::ShadowFault { va: 0, error_code: 0 }), ExitKind::PageFault);
        assert_eq!(ExitKind::of(&Action::HostInterrupt), ExitKind::Host);
        assert_eq!(ExitKind::of(&Action::Crash(CrashCause::TripleFault)), ExitKind::Other);
    }
}
