//! `memory_op` (12): reservations and queries (fact sheet §6).

use crate::DomId;
use core::mem::{offset_of, size_of};

/// Allocate extents (MFNs written back for PV).
pub const XENMEM_INCREASE_RESERVATION: u64 = 0;
/// Give extents back.
pub const XENMEM_DECREASE_RESERVATION: u64 = 1;
/// Highest machine frame of the host.
pub const XENMEM_MAXIMUM_RAM_PAGE: u64 = 2;
/// Pages the domain owns now.
pub const XENMEM_CURRENT_RESERVATION: u64 = 3;
/// Most pages the domain may own.
pub const XENMEM_MAXIMUM_RESERVATION: u64 = 4;
/// Allocate extents for given PFNs and set their M2P entries.
pub const XENMEM_POPULATE_PHYSMAP: u64 = 6;
/// Bits 5:0 of the command are the sub-op; bits 63:6 are the start extent.
pub const MEMOP_EXTENT_SHIFT: u32 = 6;

/// `increase/decrease_reservation` and `populate_physmap` argument (32 bytes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct MemoryReservation {
    /// @0: guest pointer to an array of frame numbers.
    pub extent_start: u64,
    /// @8: number of extents.
    pub nr_extents: u64,
    /// @16: each extent is 2^order pages.
    pub extent_order: u32,
    /// @20: address bits / NUMA flags.
    pub mem_flags: u32,
    /// @24: `DOMID_SELF` for unprivileged callers.
    pub domid: DomId,
    /// @26: padding.
    pub pad: [u8; 6],
}
const _: () = assert!(size_of::<MemoryReservation>() == 32);

impl Default for MemoryReservation {
    fn default() -> Self {
        MemoryReservation {
            extent_start: 0,
            nr_extents: 0,
            extent_order: 0,
            mem_flags: 0,
            domid: DomId::SELF,
            pad: [0; 6],
        }
    }
}
const _: () = assert!(offset_of!(MemoryReservation, extent_order) == 16);
const _: () = assert!(offset_of!(MemoryReservation, mem_flags) == 20);
const _: () = assert!(offset_of!(MemoryReservation, domid) == 24);

/// `current/maximum_reservation` argument: a domain id (2 bytes).
pub type MemoryDomain = DomId;
const _: () = assert!(size_of::<MemoryDomain>() == 2);

/// Exchange extents for new ones of another order (PV: the new MFNs are
/// written back into the output array).
pub const XENMEM_EXCHANGE: u64 = 11;

/// `exchange` argument (72 bytes): the extents given up, the extents
/// wanted in return, and the progress.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct MemoryExchange {
    /// @0: the input extents, by MFN (PV); `domid` names their owner.
    pub input: MemoryReservation,
    /// @32: the output extents: `extent_start` holds the PFN each new
    /// extent gets in the M2P, and receives its MFN; `mem_flags` may limit
    /// address bits. Same total pages and same `domid` as `input`.
    pub output: MemoryReservation,
    /// @64: input extents already exchanged (IN/OUT): written back when
    /// the call stops, by failure or preemption; the call resumes from it.
    pub nr_exchanged: u64,
}
const _: () = assert!(size_of::<MemoryExchange>() == 72);
const _: () = assert!(offset_of!(MemoryExchange, output) == 32);
const _: () = assert!(offset_of!(MemoryExchange, nr_exchanged) == 64);
