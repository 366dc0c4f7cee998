//! A #PF intercepted from a shadow-paged PVH guest: what the arch layer
//! does with the shadow model's decision ([`crate::shadow::Outcome`]).
//! Pure.
//!
//! * Fixed: retry the instruction; an event the fault interrupted
//!   (EXITINTINFO) is delivered again, as Xen does.
//! * A guest fault: inject #PF with the hardware's error code, CR2 = the
//!   address.
//! * A write to a shadowed guest page table: emulate it.
//! * A guest entry naming a guest frame its p2m does not map (past its
//!   memory, a huge frame number, the legacy hole), or a p2m refusal:
//!   crash the domain with a log line. Xen would send such an access to
//!   its device model; a PVH domain here has none, and the nested-paging
//!   path crashes the domain for the same access (an NPF outside the p2m),
//!   so both modes behave alike. Nothing is ever mapped for it: shadow
//!   entries are made from p2m entries only.
//! * While the guest's paging is off it runs on the identity map of its
//!   p2m, so any #PF there is an access outside its RAM: crash it.

use crate::shadow::fault::CrashReason;
use crate::shadow::{Outcome, WriteTarget};
use abi::Gfn;

/// #PF as EVENTINJ: vector 14, exception (type 3), error code valid, valid;
/// the error code in bits 63:32.
pub const fn inject_pf(error_code: u32) -> u64 {
    14 | (3 << 8) | (1 << 11) | (1 << 31) | ((error_code as u64) << 32)
}

/// EXITINTINFO's valid bit: an event was being delivered at the exit.
pub const EXIT_INT_INFO_VALID: u64 = 1 << 31;

/// What to do with the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfAction {
    /// Resume; re-deliver an interrupted event.
    Retry,
    /// Inject #PF with this error code, CR2 = the faulting address.
    Reflect(u32),
    /// Emulate the write at RIP into this page.
    Emulate(WriteTarget),
    /// Crash the domain.
    Crash(PfCrash),
}

/// Why a #PF crashes the domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfCrash {
    /// Its page tables name a guest frame outside its p2m.
    NotInP2m(Gfn),
    /// The p2m refuses the access (read-only, no-exec).
    P2mDenied(Gfn),
    /// An access with its paging off to an address outside its RAM.
    Unpaged(u64),
    /// The shadow model's own reason.
    Shadow(CrashReason),
}

/// The action for the shadow model's `outcome`.
pub const fn action(outcome: Outcome) -> PfAction {
    match outcome {
        Outcome::Fixed => PfAction::Retry,
        Outcome::GuestFault { error_code } => PfAction::Reflect(error_code),
        Outcome::EmulateWrite(t) => PfAction::Emulate(t),
        Outcome::NoP2m(g) => PfAction::Crash(PfCrash::NotInP2m(g)),
        Outcome::P2mDenied(g) => PfAction::Crash(PfCrash::P2mDenied(g)),
        Outcome::Crash(r) => PfAction::Crash(PfCrash::Shadow(r)),
    }
}

/// The action for a #PF taken with the guest's paging off (on the
/// identity map): always a crash, `va` being its guest-physical address.
pub const fn unpaged(va: u64) -> PfAction {
    PfAction::Crash(PfCrash::Unpaged(va))
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::Mfn;

    #[test]
    fn a_page_fault_injection_carries_vector_14_and_the_error_code() {
        let e = inject_pf(0x7);
        assert_eq!(e & 0xFF, 14);
        assert_eq!((e >> 8) & 7, 3, "exception");
        assert!(e & (1 << 11) != 0 && e & (1 << 31) != 0, "error code valid, event valid");
        assert_eq!(e >> 32, 7);
    }

    #[test]
    fn guest_frames_outside_the_p2m_crash_the_domain_and_guest_faults_go_back_to_it() {
        assert_eq!(action(Outcome::Fixed), PfAction::Retry);
        assert_eq!(action(Outcome::GuestFault { error_code: 6 }), PfAction::Reflect(6));
        let t = WriteTarget { gfn: Gfn(3), mfn: Mfn(0x300) };
        assert_eq!(action(Outcome::EmulateWrite(t)), PfAction::Emulate(t));
        assert_eq!(action(Outcome::NoP2m(Gfn(1 << 39))), PfAction::Crash(PfCrash::NotInP2m(Gfn(1 << 39))));
        assert_eq!(action(Outcome::P2mDenied(Gfn(5))), PfAction::Crash(PfCrash::P2mDenied(Gfn(5))));
        assert_eq!(action(Outcome::Crash(CrashReason::NoRoot)), PfAction::Crash(PfCrash::Shadow(CrashReason::NoRoot)));
        assert_eq!(unpaged(0xA0000), PfAction::Crash(PfCrash::Unpaged(0xA0000)));
    }
}
