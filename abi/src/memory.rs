//! `memory_op` (12): reservations and queries; the
//! [guide](crate::guide#the-balloon-protocol) describes the balloon protocol.

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

/// Frames holding the M2P table, one per 2 MiB of it ([`MachphysMfnList`]).
pub const XENMEM_MACHPHYS_MFN_LIST: u64 = 5;
/// The domain's pseudo-physical memory map ([`MemoryMap`]).
pub const XENMEM_MEMORY_MAP: u64 = 9;
/// The host's memory map, for the control domain ([`MemoryMap`]).
pub const XENMEM_MACHINE_MEMORY_MAP: u64 = 10;
/// Where the read-only M2P is mapped ([`MachphysMapping`]).
pub const XENMEM_MACHPHYS_MAPPING: u64 = 12;
/// Puts a frame of some space at a guest frame number: translated guests
/// only (argument: `xen_add_to_physmap`, 24 bytes: `domid` u16 at 0,
/// `size` u16 at 2, `space` u32 at 4, `idx` at 8, `gpfn` at 16).
pub const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
/// The batched form (argument: `xen_add_to_physmap_batch`, 32 bytes:
/// `domid` u16 at 0, `space` u16 at 2, `size` u16 at 4, `foreign_domid`
/// u16 at 6, then the `idxs`, `gpfns` and `errs` handles at 8, 16, 24).
pub const XENMEM_ADD_TO_PHYSMAP_BATCH: u64 = 23;
/// `add_to_physmap` space: the shared_info page.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// `add_to_physmap` space: a grant-table frame.
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
/// `XENMAPSPACE_grant_table` idx bit: a v2 status frame, not a shared one.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 1 << 31;
/// `add_to_physmap` space: a frame of the guest's own.
pub const XENMAPSPACE_GMFN: u32 = 2;
/// `add_to_physmap` space: `size` frames of the guest's own.
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
/// `add_to_physmap` space: another domain's frame (batch only).
pub const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;

/// `machphys_mfn_list` argument (24 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct MachphysMfnList {
    /// @0 (IN): room in `extent_start`, in entries.
    pub max_extents: u32,
    /// @4: padding.
    pub pad: u32,
    /// @8: guest pointer to an array of MFNs (u64 each).
    pub extent_start: u64,
    /// @16 (OUT): entries written.
    pub nr_extents: u32,
    /// @20: padding.
    pub pad2: u32,
}
const _: () = assert!(size_of::<MachphysMfnList>() == 24);
const _: () = assert!(offset_of!(MachphysMfnList, extent_start) == 8);
const _: () = assert!(offset_of!(MachphysMfnList, nr_extents) == 16);

/// `memory_map` / `machine_memory_map` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct MemoryMap {
    /// @0 (IN/OUT): room in `buffer`, then entries written.
    pub nr_entries: u32,
    /// @4: padding.
    pub pad: u32,
    /// @8: guest pointer to [`E820Entry`] records.
    pub buffer: u64,
}
const _: () = assert!(size_of::<MemoryMap>() == 16);
const _: () = assert!(offset_of!(MemoryMap, buffer) == 8);

/// One E820 record as Xen copies it (packed, 20 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, packed)]
pub struct E820Entry {
    /// @0: start address.
    pub addr: u64,
    /// @8: length in bytes.
    pub size: u64,
    /// @16: one of the `E820_*` types.
    pub kind: u32,
}
const _: () = assert!(size_of::<E820Entry>() == 20);
const _: () = assert!(offset_of!(E820Entry, kind) == 16);

impl E820Entry {
    /// The 20 bytes as copied to the guest.
    pub fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        let (addr, size, kind) = (self.addr, self.size, self.kind);
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..16].copy_from_slice(&size.to_le_bytes());
        b[16..].copy_from_slice(&kind.to_le_bytes());
        b
    }
}

/// E820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// E820 type: ACPI tables.
pub const E820_ACPI: u32 = 3;
/// E820 type: ACPI non-volatile storage.
pub const E820_NVS: u32 = 4;
/// E820 type: defective RAM.
pub const E820_UNUSABLE: u32 = 5;

/// `machphys_mapping` output (24 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct MachphysMapping {
    /// @0: first address of the M2P.
    pub v_start: u64,
    /// @8: end of the M2P's address range.
    pub v_end: u64,
    /// @16: highest MFN the M2P can describe.
    pub max_mfn: u64,
}
const _: () = assert!(size_of::<MachphysMapping>() == 24);
