//! `grant_table_op` (20): grant tables, Xen's inter-domain memory sharing
//! (Xen's public `grant_table.h`).
//!
//! A domain publishes entries in its *shared* grant table (hypervisor frames
//! it maps, whose MFNs `GNTTABOP_setup_table` returns); another domain maps
//! or copies the granted frame by (granting domain, reference). Version 1
//! entries are 8 bytes with the reading/writing flags inline; version 2
//! entries are 16 bytes with those flags in separate *status* frames
//! (`GNTTABOP_get_status_frames`).
//!
//! Batch sub-ops (map, unmap, unmap_and_replace, copy) report a per-element
//! `status` (`GNTST_*`) and return 0; the others return 0 or a negative errno.

use crate::DomId;
use core::mem::{offset_of, size_of};

/// Map grant references (batch of [`MapGrantRef`]).
pub const GNTTABOP_MAP_GRANT_REF: u64 = 0;
/// Unmap handles (batch of [`UnmapGrantRef`]).
pub const GNTTABOP_UNMAP_GRANT_REF: u64 = 1;
/// Grow and list the shared table ([`SetupTable`], count 1).
pub const GNTTABOP_SETUP_TABLE: u64 = 2;
/// Debug dump (not supported: `-ENOSYS`).
pub const GNTTABOP_DUMP_TABLE: u64 = 3;
/// Page transfer (not supported: `-ENOSYS`).
pub const GNTTABOP_TRANSFER: u64 = 4;
/// Copy between granted or own frames (batch of [`GnttabCopy`]).
pub const GNTTABOP_COPY: u64 = 5;
/// Current and largest table size ([`QuerySize`], count 1).
pub const GNTTABOP_QUERY_SIZE: u64 = 6;
/// Unmap, moving another PTE in place (batch of [`UnmapAndReplace`]).
pub const GNTTABOP_UNMAP_AND_REPLACE: u64 = 7;
/// Switch entry format ([`SetVersion`]).
pub const GNTTABOP_SET_VERSION: u64 = 8;
/// List the v2 status frames ([`GetStatusFrames`], count 1).
pub const GNTTABOP_GET_STATUS_FRAMES: u64 = 9;
/// Current entry format ([`GetVersion`]).
pub const GNTTABOP_GET_VERSION: u64 = 10;
/// Swap two of the caller's entries (batch of [`SwapGrantRef`]).
pub const GNTTABOP_SWAP_GRANT_REF: u64 = 11;
/// Cache maintenance (Arm; not supported: `-ENOSYS`).
pub const GNTTABOP_CACHE_FLUSH: u64 = 12;
/// Bits 11:0 of the command are the sub-op; higher bits are Xen's
/// continuation argument and must be zero from a guest.
pub const GNTTABOP_CMD_MASK: u64 = 0xFFF;

/// Grant reference (index into the granter's table).
pub type GrantRef = u32;
/// Mapping handle (index into the mapper's maptrack table).
pub type GrantHandle = u32;

/// Per-element results.
pub mod status {
    /// Done.
    pub const OKAY: i16 = 0;
    /// Anything else (bad flags, wrong grantee, pin overflow, …).
    pub const GENERAL_ERROR: i16 = -1;
    /// Unknown domain.
    pub const BAD_DOMAIN: i16 = -2;
    /// Reference out of range, or neither host nor device map asked for.
    pub const BAD_GNTREF: i16 = -3;
    /// Unknown or unused handle.
    pub const BAD_HANDLE: i16 = -4;
    /// A frame list could not be written.
    pub const BAD_VIRT_ADDR: i16 = -5;
    /// `dev_bus_addr` does not match the mapping.
    pub const BAD_DEV_ADDR: i16 = -6;
    /// No device space.
    pub const NO_DEVICE_SPACE: i16 = -7;
    /// Not allowed (a copy side by frame with a domain other than `DOMID_SELF`).
    pub const PERMISSION_DENIED: i16 = -8;
    /// The granted frame is not the granter's RAM.
    pub const BAD_PAGE: i16 = -9;
    /// Copy offset + length beyond the page.
    pub const BAD_COPY_ARG: i16 = -10;
    /// Transfer target address too high.
    pub const ADDRESS_TOO_BIG: i16 = -11;
    /// Try again.
    pub const EAGAIN: i16 = -12;
    /// No maptrack entry left.
    pub const NO_SPACE: i16 = -13;
}

/// Grant entry flags (`GTF_*`), bits of the entry's `flags` word.
pub mod gtf {
    /// Bits 1:0: entry type.
    pub const TYPE_MASK: u16 = 3;
    /// Type: unused.
    pub const INVALID: u16 = 0;
    /// Type: the grantee may map or copy `frame`.
    pub const PERMIT_ACCESS: u16 = 1;
    /// Type: the grantee may transfer a page in.
    pub const ACCEPT_TRANSFER: u16 = 2;
    /// Type (v2): refers to another domain's grant.
    pub const TRANSITIVE: u16 = 3;
    /// Grantee may only read.
    pub const READONLY: u16 = 1 << 2;
    /// Set by the hypervisor while the grant is in use (pinned).
    pub const READING: u16 = 1 << 3;
    /// Set by the hypervisor while the grant is in use writable.
    pub const WRITING: u16 = 1 << 4;
    /// Cache attributes (MMIO frames only).
    pub const PWT: u16 = 1 << 5;
    /// Cache attributes (MMIO frames only).
    pub const PCD: u16 = 1 << 6;
    /// Cache attributes (MMIO frames only).
    pub const PAT: u16 = 1 << 7;
    /// v2: only `[page_off, page_off + length)` is granted (copy only).
    pub const SUB_PAGE: u16 = 1 << 8;
}

/// Map flags (`GNTMAP_*`), [`MapGrantRef::flags`].
pub mod gntmap {
    /// Device (bus address) mapping.
    pub const DEVICE_MAP: u32 = 1 << 0;
    /// CPU mapping at `host_addr`.
    pub const HOST_MAP: u32 = 1 << 1;
    /// Read-only.
    pub const READONLY: u32 = 1 << 2;
    /// User-accessible (`_PAGE_USER` without the guest-kernel marker).
    pub const APPLICATION_MAP: u32 = 1 << 3;
    /// `host_addr` is the machine address of the PTE to write, not a VA.
    pub const CONTAINS_PTE: u32 = 1 << 4;
    /// Bits 16+ go to the PTE's available bits 9–11.
    pub const GUEST_AVAIL0_SHIFT: u32 = 16;
}

/// Copy flags ([`GnttabCopy::flags`]).
pub mod gntcopy {
    /// The source is a grant reference, not a frame.
    pub const SOURCE_GREF: u16 = 1 << 0;
    /// The destination is a grant reference, not a frame.
    pub const DEST_GREF: u16 = 1 << 1;
}

/// Refs 0–7 are reserved for the toolstack (console, xenstore) and survive a
/// version switch.
pub const NR_RESERVED_ENTRIES: u32 = 8;

/// A version 1 grant entry (8 bytes, 512 a frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GrantEntryV1 {
    /// @0: `GTF_*`.
    pub flags: u16,
    /// @2: the domain allowed to use it.
    pub domid: DomId,
    /// @4: the frame (an MFN for PV).
    pub frame: u32,
}
const _: () = assert!(size_of::<GrantEntryV1>() == 8);
const _: () = assert!(offset_of!(GrantEntryV1, frame) == 4);

/// A version 2 grant entry (16 bytes, 256 a frame). The union's three forms
/// share `word1` (@4) and `word2` (@8):
/// full page `{frame: word2}`, sub-page `{page_off: word1 & 0xFFFF,
/// length: word1 >> 16, frame: word2}`, transitive `{trans_domid: word1 &
/// 0xFFFF, gref: word2 as u32}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GrantEntryV2 {
    /// @0: `GTF_*` (reading/writing live in the status frames).
    pub flags: u16,
    /// @2: the domain allowed to use it.
    pub domid: DomId,
    /// @4: sub-page offset and length, or transitive domain.
    pub word1: u32,
    /// @8: frame, or transitive reference.
    pub word2: u64,
}
const _: () = assert!(size_of::<GrantEntryV2>() == 16);
const _: () = assert!(offset_of!(GrantEntryV2, word2) == 8);

/// `GNTTABOP_map_grant_ref` element (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapGrantRef {
    /// @0 IN: the VA to map at, or with `CONTAINS_PTE` the PTE's machine address.
    pub host_addr: u64,
    /// @8 IN: `GNTMAP_*`.
    pub flags: u32,
    /// @12 IN: the reference.
    pub ref_: GrantRef,
    /// @16 IN: the granting domain.
    pub dom: DomId,
    /// @18 OUT: `GNTST_*`.
    pub status: i16,
    /// @20 OUT: handle for unmapping.
    pub handle: GrantHandle,
    /// @24 OUT: the frame's machine address.
    pub dev_bus_addr: u64,
}
const _: () = assert!(size_of::<MapGrantRef>() == 32);
const _: () = assert!(offset_of!(MapGrantRef, dom) == 16);
const _: () = assert!(offset_of!(MapGrantRef, status) == 18);
const _: () = assert!(offset_of!(MapGrantRef, handle) == 20);
const _: () = assert!(offset_of!(MapGrantRef, dev_bus_addr) == 24);

/// `GNTTABOP_unmap_grant_ref` element (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UnmapGrantRef {
    /// @0 IN: as given to map (0: leave the host mapping).
    pub host_addr: u64,
    /// @8 IN: the frame's address (0: leave the device mapping).
    pub dev_bus_addr: u64,
    /// @16 IN: the handle.
    pub handle: GrantHandle,
    /// @20 OUT: `GNTST_*`.
    pub status: i16,
    /// @22: padding.
    pub pad: u16,
}
const _: () = assert!(size_of::<UnmapGrantRef>() == 24);
const _: () = assert!(offset_of!(UnmapGrantRef, handle) == 16);
const _: () = assert!(offset_of!(UnmapGrantRef, status) == 20);

/// `GNTTABOP_unmap_and_replace` element (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UnmapAndReplace {
    /// @0 IN: the VA the grant is mapped at.
    pub host_addr: u64,
    /// @8 IN: a VA whose PTE moves to `host_addr` (and is cleared); 0: none.
    pub new_addr: u64,
    /// @16 IN: the handle.
    pub handle: GrantHandle,
    /// @20 OUT: `GNTST_*`.
    pub status: i16,
    /// @22: padding.
    pub pad: u16,
}
const _: () = assert!(size_of::<UnmapAndReplace>() == 24);
const _: () = assert!(offset_of!(UnmapAndReplace, status) == 20);

/// `GNTTABOP_setup_table` argument (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SetupTable {
    /// @0 IN: the domain (`DOMID_SELF`).
    pub dom: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 IN: frames wanted.
    pub nr_frames: u32,
    /// @8 OUT: `GNTST_*`.
    pub status: i16,
    /// @10: padding.
    pub pad2: [u16; 3],
    /// @16 IN: guest array of `nr_frames` u64, filled with MFNs.
    pub frame_list: u64,
}
const _: () = assert!(size_of::<SetupTable>() == 24);
const _: () = assert!(offset_of!(SetupTable, nr_frames) == 4);
const _: () = assert!(offset_of!(SetupTable, status) == 8);
const _: () = assert!(offset_of!(SetupTable, frame_list) == 16);

/// One side of a [`GnttabCopy`] (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CopyPtr {
    /// @0: grant reference (low 32 bits) or the caller's own MFN.
    pub u: u64,
    /// @8: the domain (`DOMID_SELF` literally for a frame).
    pub domid: DomId,
    /// @10: offset in the page.
    pub offset: u16,
    /// @12: padding.
    pub pad: u32,
}
const _: () = assert!(size_of::<CopyPtr>() == 16);

/// `GNTTABOP_copy` element (40 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabCopy {
    /// @0 IN.
    pub source: CopyPtr,
    /// @16 IN.
    pub dest: CopyPtr,
    /// @32 IN: bytes.
    pub len: u16,
    /// @34 IN: `GNTCOPY_*`.
    pub flags: u16,
    /// @36 OUT: `GNTST_*`.
    pub status: i16,
    /// @38: padding.
    pub pad: u16,
}
const _: () = assert!(size_of::<GnttabCopy>() == 40);
const _: () = assert!(offset_of!(GnttabCopy, dest) == 16);
const _: () = assert!(offset_of!(GnttabCopy, len) == 32);
const _: () = assert!(offset_of!(GnttabCopy, status) == 36);

/// `GNTTABOP_query_size` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct QuerySize {
    /// @0 IN.
    pub dom: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 OUT: current frames.
    pub nr_frames: u32,
    /// @8 OUT: most frames.
    pub max_nr_frames: u32,
    /// @12 OUT: `GNTST_*`.
    pub status: i16,
    /// @14: padding.
    pub pad2: u16,
}
const _: () = assert!(size_of::<QuerySize>() == 16);
const _: () = assert!(offset_of!(QuerySize, status) == 12);

/// `GNTTABOP_set_version` argument (4 bytes): IN wanted, OUT current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SetVersion {
    /// @0.
    pub version: u32,
}
const _: () = assert!(size_of::<SetVersion>() == 4);

/// `GNTTABOP_get_status_frames` argument (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GetStatusFrames {
    /// @0 IN.
    pub nr_frames: u32,
    /// @4 IN.
    pub dom: DomId,
    /// @6 OUT: `GNTST_*`.
    pub status: i16,
    /// @8 IN: guest array of u64, filled with MFNs.
    pub frame_list: u64,
}
const _: () = assert!(size_of::<GetStatusFrames>() == 16);
const _: () = assert!(offset_of!(GetStatusFrames, status) == 6);

/// `GNTTABOP_get_version` argument (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GetVersion {
    /// @0 IN.
    pub dom: DomId,
    /// @2: padding.
    pub pad: u16,
    /// @4 OUT.
    pub version: u32,
}
const _: () = assert!(size_of::<GetVersion>() == 8);
const _: () = assert!(offset_of!(GetVersion, version) == 4);

/// `GNTTABOP_swap_grant_ref` element (12 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SwapGrantRef {
    /// @0 IN.
    pub ref_a: GrantRef,
    /// @4 IN.
    pub ref_b: GrantRef,
    /// @8 OUT: `GNTST_*`.
    pub status: i16,
    /// @10: padding.
    pub pad: u16,
}
const _: () = assert!(size_of::<SwapGrantRef>() == 12);
const _: () = assert!(offset_of!(SwapGrantRef, status) == 8);
