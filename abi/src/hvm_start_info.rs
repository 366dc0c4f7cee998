//! `hvm_start_info`: what a PVH guest finds at start of day (Xen's
//! `arch-x86/hvm/start_info.h`).
//!
//! **Status in xen-core:** the PVH domain builder writes a version-1
//! structure with a memory map and the command line (no modules, no RSDP);
//! see the crate docs' *PVH domains*.
//!
//! A PVH guest is entered at the 32-bit physical entry point named by the
//! ELF note [`crate::elfnote::XEN_ELFNOTE_PHYS32_ENTRY`], in 32-bit
//! protected mode with paging off, and EBX holding the GUEST-PHYSICAL
//! address of an [`HvmStartInfo`]. Every address in these structures is
//! guest-physical; 0 means "absent" (nothing is ever placed at 0). Xen
//! places all of them below 4 GiB.
//!
//! Versions: version 0 ends after `rsdp_paddr` (40 bytes); version 1 adds
//! the memory map (`memmap_paddr`, `memmap_entries`, a reserved word: 56
//! bytes). Newer versions only append, so a guest reads the fields its
//! version knows and checks `memmap_entries != 0` before using the map.

use core::mem::{offset_of, size_of};

/// `magic`: "xEn3" with the top bit of the 'E' set, read as a little-endian
/// `u32`.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;

/// The newest version these definitions describe.
pub const HVM_START_INFO_VERSION: u32 = 1;
/// Size of a version-0 structure (up to and including `rsdp_paddr`).
pub const HVM_START_INFO_V0_SIZE: usize = 40;

/// Memory-map entry types: the ACPI address-range types, then Xen's own
/// from the OEM range.
pub mod memmap_type {
    /// Usable RAM.
    pub const RAM: u32 = 1;
    /// Reserved: not to be used as RAM.
    pub const RESERVED: u32 = 2;
    /// ACPI tables, reclaimable after reading them.
    pub const ACPI: u32 = 3;
    /// ACPI non-volatile storage.
    pub const NVS: u32 = 4;
    /// Unusable (errors detected).
    pub const UNUSABLE: u32 = 5;
    /// Disabled.
    pub const DISABLED: u32 = 6;
    /// Persistent memory.
    pub const PMEM: u32 = 7;
    /// Xen: the shared_info page.
    pub const SHARED_INFO: u32 = 0xF000_0001;
    /// Xen: grant-table frames.
    pub const GRANT_TABLE: u32 = 0xF000_0002;
    /// Xen: the grant-table v2 status frames.
    pub const GNTTAB_STATUS: u32 = 0xF000_0003;
    /// Xen: a range suitable for grant and foreign mappings.
    pub const FOREIGN_REG: u32 = 0xF000_0004;
}

/// The start-of-day structure (56 bytes in version 1). IN from the
/// hypervisor's side, read-only for the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HvmStartInfo {
    /// @0: [`XEN_HVM_START_MAGIC_VALUE`].
    pub magic: u32,
    /// @4: version of this structure (0 or 1).
    pub version: u32,
    /// @8: `SIF_*` flags ([`crate::start_info`]).
    pub flags: u32,
    /// @12: number of entries at `modlist_paddr`.
    pub nr_modules: u32,
    /// @16: GUEST-PHYSICAL address of an array of [`HvmModlistEntry`].
    pub modlist_paddr: u64,
    /// @24: GUEST-PHYSICAL address of the NUL-terminated command line.
    pub cmdline_paddr: u64,
    /// @32: GUEST-PHYSICAL address of the ACPI RSDP (0: none).
    pub rsdp_paddr: u64,
    /// @40 (version 1): GUEST-PHYSICAL address of an array of
    /// [`HvmMemmapTableEntry`].
    pub memmap_paddr: u64,
    /// @48 (version 1): entries in that array; 0 if no map is given.
    pub memmap_entries: u32,
    /// @52 (version 1): must be zero.
    pub reserved: u32,
}

/// One module (an initrd, say): 32 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HvmModlistEntry {
    /// @0: GUEST-PHYSICAL address of the module.
    pub paddr: u64,
    /// @8: its size in bytes.
    pub size: u64,
    /// @16: GUEST-PHYSICAL address of its NUL-terminated command line (0: none).
    pub cmdline_paddr: u64,
    /// @24: reserved.
    pub reserved: u64,
}

/// One memory-map entry: 24 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HvmMemmapTableEntry {
    /// @0: GUEST-PHYSICAL base address.
    pub addr: u64,
    /// @8: size in bytes.
    pub size: u64,
    /// @16: a [`memmap_type`] value.
    pub type_: u32,
    /// @20: must be zero.
    pub reserved: u32,
}

const _: () = assert!(size_of::<HvmStartInfo>() == 56);
const _: () = assert!(offset_of!(HvmStartInfo, magic) == 0);
const _: () = assert!(offset_of!(HvmStartInfo, version) == 4);
const _: () = assert!(offset_of!(HvmStartInfo, flags) == 8);
const _: () = assert!(offset_of!(HvmStartInfo, nr_modules) == 12);
const _: () = assert!(offset_of!(HvmStartInfo, modlist_paddr) == 16);
const _: () = assert!(offset_of!(HvmStartInfo, cmdline_paddr) == 24);
const _: () = assert!(offset_of!(HvmStartInfo, rsdp_paddr) == 32);
const _: () = assert!(offset_of!(HvmStartInfo, memmap_paddr) == HVM_START_INFO_V0_SIZE);
const _: () = assert!(offset_of!(HvmStartInfo, memmap_entries) == 48);
const _: () = assert!(offset_of!(HvmStartInfo, reserved) == 52);
const _: () = assert!(size_of::<HvmModlistEntry>() == 32);
const _: () = assert!(offset_of!(HvmModlistEntry, paddr) == 0);
const _: () = assert!(offset_of!(HvmModlistEntry, size) == 8);
const _: () = assert!(offset_of!(HvmModlistEntry, cmdline_paddr) == 16);
const _: () = assert!(offset_of!(HvmModlistEntry, reserved) == 24);
const _: () = assert!(size_of::<HvmMemmapTableEntry>() == 24);
const _: () = assert!(offset_of!(HvmMemmapTableEntry, addr) == 0);
const _: () = assert!(offset_of!(HvmMemmapTableEntry, size) == 8);
const _: () = assert!(offset_of!(HvmMemmapTableEntry, type_) == 16);
const _: () = assert!(offset_of!(HvmMemmapTableEntry, reserved) == 20);

impl HvmStartInfo {
    /// Whether the magic is right.
    pub const fn magic_ok(&self) -> bool {
        self.magic == XEN_HVM_START_MAGIC_VALUE
    }

    /// The memory map's address and entry count, if this version has one
    /// and it is not empty (version 0 has none, whatever the bytes after
    /// its end hold).
    pub const fn memmap(&self) -> Option<(u64, u32)> {
        if self.version >= 1 && self.memmap_entries != 0 {
            Some((self.memmap_paddr, self.memmap_entries))
        } else {
            None
        }
    }

    /// How many bytes a structure of this version occupies.
    pub const fn size_of_version(version: u32) -> usize {
        if version == 0 {
            HVM_START_INFO_V0_SIZE
        } else {
            size_of::<HvmStartInfo>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_spells_xen3_with_the_e_high_bit_set() {
        let bytes = XEN_HVM_START_MAGIC_VALUE.to_le_bytes();
        assert_eq!(bytes, [b'x', b'E' | 0x80, b'n', b'3']);
    }

    #[test]
    fn version_0_has_no_memory_map_whatever_the_trailing_bytes() {
        let v0 = HvmStartInfo { version: 0, memmap_paddr: 0x1000, memmap_entries: 3, ..Default::default() };
        assert_eq!(v0.memmap(), None);
        let v1 = HvmStartInfo { version: 1, ..v0 };
        assert_eq!(v1.memmap(), Some((0x1000, 3)));
        let empty = HvmStartInfo { memmap_entries: 0, ..v1 };
        assert_eq!(empty.memmap(), None);
        assert_eq!(HvmStartInfo::size_of_version(0), 40);
        assert_eq!(HvmStartInfo::size_of_version(1), 56);
    }
}
