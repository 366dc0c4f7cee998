//! `xen_version` (17) commands and outputs (fact sheet §9.5).

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
