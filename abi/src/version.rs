//! `xen_version` (17) commands and outputs.

use core::mem::size_of;

/// Returns `(major << 16) | minor`.
pub const XENVER_VERSION: u64 = 0;
/// Writes a 16-byte extra-version string.
pub const XENVER_EXTRAVERSION: u64 = 1;
/// Writes 144 bytes of compile information.
pub const XENVER_COMPILE_INFO: u64 = 2;
/// Writes a 1024-byte capabilities string.
pub const XENVER_CAPABILITIES: u64 = 3;
/// Writes a 64-byte changeset string.
pub const XENVER_CHANGESET: u64 = 4;
/// Writes [`PlatformParameters`].
pub const XENVER_PLATFORM_PARAMETERS: u64 = 5;
/// Reads/writes [`FeatureInfo`].
pub const XENVER_GET_FEATURES: u64 = 6;
/// Returns the page size; the argument must be NULL.
pub const XENVER_PAGESIZE: u64 = 7;

/// `XENVER_EXTRAVERSION` output.
pub type ExtraVersion = [u8; 16];
/// `XENVER_CAPABILITIES` output.
pub type Capabilities = [u8; 1024];

/// `XENVER_PLATFORM_PARAMETERS` output.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct PlatformParameters {
    /// @0: first hypervisor virtual address.
    pub virt_start: u64,
}
const _: () = assert!(size_of::<PlatformParameters>() == 8);

/// `XENVER_GET_FEATURES` argument.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct FeatureInfo {
    /// @0 (IN): which 32-bit submap (only 0 exists).
    pub submap_idx: u32,
    /// @4 (OUT): feature bits.
    pub submap: u32,
}
const _: () = assert!(size_of::<FeatureInfo>() == 8);

/// XENFEAT bit: MMU_PT_UPDATE_PRESERVE_AD is supported.
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
/// XENFEAT bit: the domain is the hardware domain.
pub const XENFEAT_DOM0: u32 = 11;
/// Feature bit: the guest writes its page tables directly (translated
/// guests: PVH).
pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
/// Feature bit: the hypervisor translates guest frames (PVH: the p2m).
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
/// Feature bit: event-channel upcalls may come on an interrupt vector
/// (`HVM_PARAM_CALLBACK_IRQ`'s vector method; PVH).
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
/// Feature bit: the PV clock (`vcpu_time_info`) and the `vcpu_op` timers
/// may be used by an HVM guest (PVH: Linux then takes its clock events from
/// `VCPUOP_set_singleshot_timer`).
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
/// Feature bit: the domain's memory is not direct mapped (translated
/// guests: PVH).
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;

/// Writes [`CompileInfo`].
pub const XENVER_COMPILE_INFO_LEN: usize = 144;
/// Writes the domain's 16-byte handle.
pub const XENVER_GUEST_HANDLE: u64 = 8;
/// Writes the hypervisor's 1024-byte command line.
pub const XENVER_COMMANDLINE: u64 = 9;
/// Reads/writes a [`BuildIdHeader`] followed by the build id bytes.
pub const XENVER_BUILD_ID: u64 = 10;

/// `XENVER_COMPILE_INFO` output (144 bytes, NUL-padded strings).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct CompileInfo {
    /// @0: compiler.
    pub compiler: [u8; 64],
    /// @64: who built it.
    pub compile_by: [u8; 16],
    /// @80: the builder's domain.
    pub compile_domain: [u8; 32],
    /// @112: build date.
    pub compile_date: [u8; 32],
}
const _: () = assert!(size_of::<CompileInfo>() == XENVER_COMPILE_INFO_LEN);
const _: () = assert!(core::mem::offset_of!(CompileInfo, compile_by) == 64);
const _: () = assert!(core::mem::offset_of!(CompileInfo, compile_domain) == 80);
const _: () = assert!(core::mem::offset_of!(CompileInfo, compile_date) == 112);

/// `XENVER_CHANGESET` output.
pub type ChangesetInfo = [u8; 64];
/// `XENVER_COMMANDLINE` output.
pub type Commandline = [u8; 1024];

/// `XENVER_BUILD_ID` argument header; the id's bytes follow at offset 4
/// (no NUL). A NULL argument asks for the length only.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct BuildIdHeader {
    /// @0 (IN): room for the id, in bytes; 0 is `-EINVAL`.
    pub len: u32,
}
const _: () = assert!(size_of::<BuildIdHeader>() == 4);

/// What an unprivileged domain reads instead of a denied string.
pub const XEN_DENY: &[u8; 9] = b"<denied>\0";

/// XENFEAT bit: the guest may place its L3 (PAE) above 4 GiB once
/// `VMASST_TYPE_pae_extended_cr3` is enabled.
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
/// XENFEAT bit: `MMUEXT_CLEAR_PAGE` and `MMUEXT_COPY_PAGE` exist.
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
/// XENFEAT bit: grant mappings may carry the PTE's available bits.
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// XENFEAT bit: the domain's memory is direct mapped (PV: always).
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;
