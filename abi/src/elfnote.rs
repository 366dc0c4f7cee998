//! Xen ELF notes a PV kernel carries (note name "Xen"); the
//! [guide](crate::guide#the-elf-notes) says which are required and how the
//! loader uses them.

/// Note name.
pub const XEN_ELFNOTE_NAME: &[u8; 4] = b"Xen\0";

/// `NAME=VALUE` info string.
pub const XEN_ELFNOTE_INFO: u32 = 0;
/// Virtual entry point.
pub const XEN_ELFNOTE_ENTRY: u32 = 1;
/// Virtual address of the page to fill with hypercall stubs.
pub const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;
/// Virtual address where the image starts.
pub const XEN_ELFNOTE_VIRT_BASE: u32 = 3;
/// Subtracted from ELF physical addresses to get pseudo-physical ones.
pub const XEN_ELFNOTE_PADDR_OFFSET: u32 = 4;
/// Must start with "xen-3.0".
pub const XEN_ELFNOTE_XEN_VERSION: u32 = 5;
/// Guest OS name.
pub const XEN_ELFNOTE_GUEST_OS: u32 = 6;
/// Guest OS version.
pub const XEN_ELFNOTE_GUEST_VERSION: u32 = 7;
/// Loader: "generic".
pub const XEN_ELFNOTE_LOADER: u32 = 8;
/// PAE mode (32-bit guests only).
pub const XEN_ELFNOTE_PAE_MODE: u32 = 9;
/// Feature string.
pub const XEN_ELFNOTE_FEATURES: u32 = 10;
/// BSD symbol table.
pub const XEN_ELFNOTE_BSD_SYMTAB: u32 = 11;
/// Lowest hypervisor hole start (32-bit guests).
pub const XEN_ELFNOTE_HV_START_LOW: u32 = 12;
/// Recognising non-present L1 entries holding MFNs.
pub const XEN_ELFNOTE_L1_MFN_VALID: u32 = 13;
/// Suspend cancel supported.
pub const XEN_ELFNOTE_SUSPEND_CANCEL: u32 = 14;
/// Virtual address for the initial p2m list.
pub const XEN_ELFNOTE_INIT_P2M: u32 = 15;
/// The initrd may be left unmapped.
pub const XEN_ELFNOTE_MOD_START_PFN: u32 = 16;
/// Supported feature bitmap.
pub const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;
/// PVH entry: the 32-bit GUEST-PHYSICAL entry point of a PVH kernel,
/// entered with EBX pointing at [`crate::hvm_start_info::HvmStartInfo`]
/// (not used for PV; xen-core does not boot PVH guests yet).
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
