//! What the hypervisor does with each SVM exit of a PVH guest, per paging
//! mode. Pure: the arch layer performs the [`Action`].
//!
//! Intercepts by mode: both modes intercept VMMCALL, CPUID, MSR (through
//! the permission map), I/O, HLT, INTR, NMI and shutdown; shadow paging
//! adds #PF, CR0/CR3/CR4 reads and writes and INVLPG, and has no nested
//! page faults. An exit
//! that is not intercepted in the domain's mode cannot be the guest's
//! doing on a correct CPU: the domain is crashed with its code logged,
//! never the hypervisor.
//!
//! I/O: a PVH guest has no device model. As on Xen, a port no one claims
//! is a null device: reads return all ones, writes are dropped.
//!
//! Without decode assists (QEMU's TCG SVM has none) CR3-write and INVLPG
//! exits do not name their operand: the instruction at RIP is decoded.

use super::exit::{Exit, IoExit, NpfError};
use crate::p2m::P2m;
use abi::Gfn;

/// How a domain's memory is virtualized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// Nested paging: the hardware walks the guest's tables and the NPT.
    Nested,
    /// Shadow paging: the hardware walks shadows the hypervisor keeps.
    Shadow,
}

/// Why a domain is crashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashCause {
    /// The guest triple-faulted (Xen crashes the domain unless the
    /// toolstack set `HVM_PARAM_TRIPLE_FAULT_REASON`).
    TripleFault,
    /// VMRUN refused the guest state.
    InvalidState,
    /// An exit not intercepted in this mode, or unknown.
    UnexpectedExit(u64),
    /// Exit information no correct CPU gives.
    Malformed(u64),
    /// A nested fault on a guest frame the p2m does not map.
    Unmapped(Gfn),
    /// A write the p2m forbids (a read-only grant).
    ReadOnly(Gfn),
    /// An instruction fetch the p2m forbids.
    NoExecute(Gfn),
    /// A reserved bit in the nested tables: they are the hypervisor's, so
    /// this is its bug, contained to the domain.
    NestedTableCorrupt(Gfn),
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A hypercall (VMMCALL: number in RAX, arguments as for PV); then skip
    /// `insn_len` bytes.
    Hypercall {
        /// Length of VMMCALL.
        insn_len: u8,
    },
    /// Emulate CPUID through the domain's CPUID policy.
    Cpuid {
        /// Length of CPUID.
        insn_len: u8,
    },
    /// Emulate RDMSR/WRMSR through the HVM MSR policy (#GP if refused).
    Msr {
        /// WRMSR.
        write: bool,
        /// Length of the instruction.
        insn_len: u8,
    },
    /// The null device: reads all ones, writes dropped; resume at
    /// `io.next_rip`.
    NullIo(IoExit),
    /// HLT: block the vCPU until an event is pending, then skip it.
    Block {
        /// Length of HLT.
        insn_len: u8,
    },
    /// Nothing for the guest: the host takes the interrupt once GIF is set.
    HostInterrupt,
    /// Nothing for the guest: the host takes the NMI.
    HostNmi,
    /// The guest's interrupt window opened: a held upcall can be
    /// injected at the next VMRUN.
    InterruptWindow,
    /// Classify the nested fault against the p2m ([`npf_action`]).
    NestedFault {
        /// Guest-physical address.
        gpa: u64,
        /// Error bits.
        error: NpfError,
    },
    /// Hand the #PF to the shadow model.
    ShadowFault {
        /// The faulting address.
        va: u64,
        /// The error code.
        error_code: u32,
    },
    /// Hand the new CR3 to the shadow model (`None`: decode the
    /// instruction for its register).
    ShadowCr3 {
        /// The source register.
        gpr: Option<u8>,
    },
    /// A CR0/CR3/CR4 read or CR0/CR4 write in shadow mode: done on the
    /// guest's own copy ([`super::shadow_cr`]), `None`: decode it.
    ShadowCr {
        /// The control register.
        cr: u8,
        /// A write.
        write: bool,
        /// The general-purpose register.
        gpr: Option<u8>,
    },
    /// Hand the INVLPG to the shadow model (`None`: decode it).
    ShadowInvlpg {
        /// The address.
        va: Option<u64>,
    },
    /// The nested fault was a stale nested TLB entry: flush the domain's
    /// ASID and retry.
    FlushAndRetry,
    /// Crash the domain with a log line.
    Crash(CrashCause),
}

/// The action for `exit` of a domain paged by `paging`.
pub fn policy(exit: &Exit, paging: Paging) -> Action {
    let shadow = paging == Paging::Shadow;
    match *exit {
        Exit::Vmmcall => Action::Hypercall { insn_len: 3 },
        Exit::Cpuid => Action::Cpuid { insn_len: 2 },
        Exit::Msr { write } => Action::Msr { write, insn_len: 2 },
        Exit::Io(io) => Action::NullIo(io),
        Exit::Hlt => Action::Block { insn_len: 1 },
        Exit::Intr => Action::HostInterrupt,
        Exit::Vintr => Action::InterruptWindow,
        Exit::Nmi => Action::HostNmi,
        Exit::Shutdown => Action::Crash(CrashCause::TripleFault),
        Exit::Invalid => Action::Crash(CrashCause::InvalidState),
        Exit::Npf { gpa, error } if !shadow => Action::NestedFault { gpa, error },
        Exit::PageFault { error_code, cr2 } if shadow => Action::ShadowFault { va: cr2, error_code },
        Exit::Cr3Write { gpr } if shadow => Action::ShadowCr3 { gpr },
        Exit::Invlpg { linear } if shadow => Action::ShadowInvlpg { va: linear },
        Exit::CrAccess { cr, write, gpr } if shadow => Action::ShadowCr { cr, write, gpr },
        Exit::Malformed(c) => Action::Crash(CrashCause::Malformed(c)),
        Exit::Npf { .. } => Action::Crash(CrashCause::UnexpectedExit(super::exit::code::NPF)),
        Exit::PageFault { .. } => Action::Crash(CrashCause::UnexpectedExit(super::exit::code::EXCEPTION_PF)),
        Exit::Cr3Write { .. } => Action::Crash(CrashCause::UnexpectedExit(super::exit::code::CR3_WRITE)),
        Exit::Invlpg { .. } => Action::Crash(CrashCause::UnexpectedExit(super::exit::code::INVLPG)),
        Exit::CrAccess { cr, write, .. } => {
            Action::Crash(CrashCause::UnexpectedExit(u64::from(cr) + if write { 0x10 } else { 0 }))
        }
        Exit::Exception { vector, .. } => {
            Action::Crash(CrashCause::UnexpectedExit(super::exit::code::EXCEPTION_BASE + u64::from(vector)))
        }
        Exit::Unknown(c) => Action::Crash(CrashCause::UnexpectedExit(c)),
    }
}

/// A nested page fault at `gpa` against the p2m: a guest frame mapped
/// with the rights asked for was a stale nested TLB entry; anything else
/// crashes the domain, as Xen does for a PVH guest without a device model.
pub fn npf_action(p2m: &P2m<'_>, gpa: u64, error: NpfError) -> Action {
    let gfn = Gfn(gpa >> 12);
    if error.rsvd {
        return Action::Crash(CrashCause::NestedTableCorrupt(gfn));
    }
    let Some((e, _)) = p2m.get(gfn) else { return Action::Crash(CrashCause::Unmapped(gfn)) };
    if error.write && !e.rights.write {
        return Action::Crash(CrashCause::ReadOnly(gfn));
    }
    if error.fetch && !e.rights.exec {
        return Action::Crash(CrashCause::NoExecute(gfn));
    }
    Action::FlushAndRetry
}
