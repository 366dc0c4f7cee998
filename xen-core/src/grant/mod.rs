//! Grant tables (fact sheet §6): how domains share frames. Pure code over
//! the direct-paging model ([`crate::mm::Mm`]); the hypercall glue is
//! `hypercall/grant.rs`.
//!
//! State, all fixed-size (no guest-driven growth beyond the limits):
//! * per domain a [`GrantTable`]: version, and the hypervisor frames
//!   holding the *shared* entries (and v2 status words), shared RW with the
//!   domain as Xen-heap frames it maps like its own;
//! * per (domain, reference) an [`Active`] entry: who pinned it, which
//!   frame, and the pin counts by mapping kind (Xen's `active_grant_entry`);
//! * per mapping domain a maptrack table of [`MapTrack`] slots, indexed by
//!   the handle `map_grant_ref` returns.
//!
//! References (the memory model's rules, fact sheet §6.4 XSA-224): a host
//! mapping's PTE holds one general reference on the granted frame and, if
//! writable, a writable type reference, exactly as an ordinary L1 entry
//! does, so whatever drops an L1 entry (unmap, `mmu_update` over it, table
//! teardown) drops them. A device mapping's references are held by its
//! maptrack slot. A granted frame therefore cannot be freed, ballooned away
//! (the balloon drops only the allocation reference: freed when the last
//! mapping goes, as on Xen) or retyped as a page table while mapped.
//!
//! Files: [`shared`] (entry formats in the shared frames), [`table`]
//! (setup, query, versions, status frames), [`map`], [`unmap`], [`copy`],
//! [`swap`],
//! [`release`] (a dying domain's mappings), [`check`] (the invariant
//! checker), [`translate`] (translated (PVH) granters and mappers: guest
//! frames through the p2m, host mappings as p2m grant entries).

pub mod check;
pub mod copy;
pub mod map;
pub mod release;
pub mod shared;
pub mod swap;
pub mod table;
pub mod translate;
pub mod unmap;

#[cfg(test)]
mod tests;

use abi::grant_table::{GNTTABOP_CACHE_FLUSH, GNTTABOP_CMD_MASK};
use abi::Errno;

/// Decodes `grant_table_op`'s command and count the same way for PV and
/// PVH callers: a count above `i32::MAX`, or bits above the sub-op on any
/// sub-op but `cache_flush` (whose flags live there), is `-EINVAL`, as on
/// Xen. Returns the sub-op and the count.
pub fn decode_cmd(cmd: u64, count: u64) -> Result<(u64, u32), Errno> {
    let (cmd, count) = (u64::from(cmd as u32), count as u32);
    if count > i32::MAX as u32 {
        return Err(Errno::EINVAL);
    }
    let op = cmd & GNTTABOP_CMD_MASK;
    if op != GNTTABOP_CACHE_FLUSH && cmd & !GNTTABOP_CMD_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((op, count))
}

use abi::{DomId, Mfn};

/// Most shared-table frames a domain may have (Xen's default is 64: see the
/// abi docs for this deliberate difference).
pub const MAX_GRANT_FRAMES: usize = 4;
/// v1 entries per frame.
pub const V1_PER_FRAME: usize = 512;
/// v2 entries per frame.
pub const V2_PER_FRAME: usize = 256;
/// v2 status words per status frame.
pub const STATUS_PER_FRAME: usize = 2048;
/// Most v2 status frames: ceil(MAX_GRANT_FRAMES × 256 / 2048).
pub const MAX_STATUS_FRAMES: usize = (MAX_GRANT_FRAMES * V2_PER_FRAME).div_ceil(STATUS_PER_FRAME);
/// Most references a domain's table can hold (v1 at the largest size).
pub const MAX_REFS: usize = MAX_GRANT_FRAMES * V1_PER_FRAME;
/// Most grant mappings a domain may hold at once (maptrack slots).
pub const MAX_MAPTRACK: usize = 256;

/// Pin count fields of [`Active::pin`] (Xen's `GNTPIN_*`): four 8-bit
/// counters; any at 128 or more refuses further pins (overflow guard).
pub mod pin {
    /// One writable host mapping.
    pub const HSTW: u32 = 1;
    /// One read-only host mapping (or copy source).
    pub const HSTR: u32 = 1 << 8;
    /// One writable device mapping.
    pub const DEVW: u32 = 1 << 16;
    /// One read-only device mapping.
    pub const DEVR: u32 = 1 << 24;
    /// Writable host pins.
    pub const HSTW_MASK: u32 = 0xFF;
    /// Writable device pins.
    pub const DEVW_MASK: u32 = 0xFF << 16;
    /// Top bit of each counter: refuse before it can wrap.
    pub const OVERFLOW: u32 = 0x8080_8080;
}

/// A domain's grant table header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantTable {
    /// Entry format: 1 or 2 (0: the domain has no table).
    pub version: u8,
    /// Shared frames in use.
    pub nr_frames: u8,
    /// The shared frames, hypervisor-owned and shared with the domain.
    pub shared: [Mfn; MAX_GRANT_FRAMES],
    /// v2 status frames in use.
    pub nr_status: u8,
    /// The status frames.
    pub status: [Mfn; MAX_STATUS_FRAMES],
    /// Most shared frames (setup_table beyond → general_error).
    pub max_frames: u8,
    /// The domain is translated (PVH): its entries name guest frames,
    /// looked up in its p2m ([`translate`]), and its own host mappings are
    /// p2m entries.
    pub translated: bool,
}

impl GrantTable {
    /// No table.
    pub const NONE: GrantTable = GrantTable {
        version: 0,
        nr_frames: 0,
        shared: [Mfn(0); MAX_GRANT_FRAMES],
        nr_status: 0,
        status: [Mfn(0); MAX_STATUS_FRAMES],
        max_frames: MAX_GRANT_FRAMES as u8,
        translated: false,
    };

    /// Entries in the table at its current size and version.
    pub const fn nr_entries(&self) -> u32 {
        let per = if self.version == 2 { V2_PER_FRAME } else { V1_PER_FRAME };
        (self.nr_frames as usize * per) as u32
    }
}

/// What the hypervisor knows of one reference while it is pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Active {
    /// Pin counts ([`pin`]); 0 = not in use.
    pub pin: u32,
    /// The domain that pinned it.
    pub domid: DomId,
    /// The frame pinned.
    pub mfn: Mfn,
    /// Granted byte range (a v2 sub-page grant; else 0 and 4096).
    pub start: u16,
    /// Length of the granted range.
    pub length: u16,
    /// A sub-page grant: never mapped, only copied.
    pub sub_page: bool,
}

impl Active {
    /// Not in use.
    pub const FREE: Active = Active { pin: 0, domid: DomId(0), mfn: Mfn(0), start: 0, length: 0, sub_page: false };
}

/// One grant mapping a domain holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapTrack {
    /// `GNTMAP_*` of the mapping; 0 = free slot.
    pub flags: u32,
    /// The granting domain.
    pub dom: DomId,
    /// The reference.
    pub ref_: u32,
}

impl MapTrack {
    /// A free slot.
    pub const FREE: MapTrack = MapTrack { flags: 0, dom: DomId(0), ref_: 0 };
}

/// Every domain's grant state, over storage the caller provides (boot-time
/// allocations in the hypervisor, vectors in tests).
pub struct Grants<'a> {
    /// Per domain, indexed by domain id.
    pub tables: &'a mut [GrantTable],
    /// `MAX_REFS` entries per domain.
    pub active: &'a mut [Active],
    /// `MAX_MAPTRACK` slots per domain.
    pub maptrack: &'a mut [MapTrack],
    /// Set NX in host mappings (the hypervisor runs with EFER.NXE).
    pub nx: bool,
}

/// Slots a [`Grants`] needs for `domains` domains: (tables, active, maptrack).
pub const fn storage_for(domains: usize) -> (usize, usize, usize) {
    (domains, domains * MAX_REFS, domains * MAX_MAPTRACK)
}

impl Grants<'_> {
    /// The table of `dom`, if it has one.
    pub fn table(&self, dom: DomId) -> Option<&GrantTable> {
        self.tables.get(dom.0 as usize).filter(|t| t.version != 0)
    }

    pub(crate) fn active_mut(&mut self, dom: DomId, r: u32) -> &mut Active {
        &mut self.active[dom.0 as usize * MAX_REFS + r as usize]
    }

    /// The active entry of (`dom`, `r`).
    pub fn active(&self, dom: DomId, r: u32) -> &Active {
        &self.active[dom.0 as usize * MAX_REFS + r as usize]
    }

    /// Maptrack slot `handle` of `dom`, if in range.
    pub fn maptrack(&self, dom: DomId, handle: u32) -> Option<&MapTrack> {
        if handle as usize >= MAX_MAPTRACK {
            return None;
        }
        self.maptrack.get(dom.0 as usize * MAX_MAPTRACK + handle as usize)
    }

    pub(crate) fn maptrack_mut(&mut self, dom: DomId, handle: u32) -> &mut MapTrack {
        &mut self.maptrack[dom.0 as usize * MAX_MAPTRACK + handle as usize]
    }

    /// A free maptrack handle of `dom`.
    pub(crate) fn free_handle(&self, dom: DomId) -> Option<u32> {
        let base = dom.0 as usize * MAX_MAPTRACK;
        self.maptrack.get(base..base + MAX_MAPTRACK)?.iter().position(|m| m.flags == 0).map(|i| i as u32)
    }
}
