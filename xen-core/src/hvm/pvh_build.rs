//! The PVH domain builder's pure part: which ELF is a PVH kernel, where
//! its RAM, image and start-of-day page go in guest-physical space, the
//! p2m populated with that RAM, the image copied in at its ELF physical
//! addresses, and the `hvm_start_info` page (start info, memory map,
//! command line) written.
//!
//! Guest-physical layout of a domain of `mem` bytes:
//!
//! | range | what | memory map |
//! |---|---|---|
//! | 0 – 0xA0000 | RAM | RAM |
//! | 0xA0000 – 0x100000 | the legacy hole: nothing mapped | reserved |
//! | 0x100000 – `mem` | RAM | RAM |
//! | the image's ELF physical addresses | its segments, each wholly inside one of the RAM ranges | (inside RAM) |
//! | first page after the image | `hvm_start_info`, its memory map, the command line (in the same RAM range) | (inside RAM) |
//!
//! Xen's libxl places the start info after the kernel and modules too.
//! Every 2 MiB chunk wholly inside RAM is populated as one 2 MiB p2m entry
//! (when the allocator gives an aligned run), the rest as 4 KiB entries.

use super::gmem::write_phys;
use crate::domain::elf::Elf;
use crate::domain::notes::XenNotes;
use crate::mm::{Mm, MmHooks, PhysMemory};
use crate::p2m::{Order, P2m};
use abi::hvm_start_info::{
    memmap_type, HvmMemmapTableEntry, HvmStartInfo, HVM_START_INFO_VERSION, XEN_HVM_START_MAGIC_VALUE,
};
use abi::{Errno, Gfn};

/// Start of the legacy hole (not RAM).
pub const HOLE_START: u64 = 0xA_0000;
/// End of the legacy hole: RAM again from here.
pub const HOLE_END: u64 = 0x10_0000;
/// The least memory a PVH domain is built with (both RAM ranges exist).
pub const MIN_MEM: u64 = 2 << 20;
/// Memory-map entries the builder writes.
pub const MEMMAP_ENTRIES: usize = 3;
/// Offset of the memory map in the start-of-day page.
const MEMMAP_OFFSET: u64 = 64;
/// Offset of the command line in the start-of-day page.
const CMDLINE_OFFSET: u64 = 256;
/// Longest command line kept (with its NUL).
pub const MAX_CMDLINE: usize = 4096 - CMDLINE_OFFSET as usize;

/// Why a module is not a PVH kernel this builder loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// No `XEN_ELFNOTE_PHYS32_ENTRY`.
    NoPhys32Entry,
    /// The entry is not a 32-bit address inside a loaded segment.
    BadEntry,
    /// A segment across the legacy hole, above 4 GiB or past the domain's RAM.
    SegmentOutsideRam,
    /// RAM below [`MIN_MEM`], or too small for the image and its start-of-day page.
    TooSmall,
}

impl core::fmt::Display for PvhError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            PvhError::NoPhys32Entry => "no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel",
            PvhError::BadEntry => "the PHYS32 entry is not inside a loaded segment below 4 GiB",
            PvhError::SegmentOutsideRam => "a segment crosses the legacy hole, lies above 4 GiB or past mem=",
            PvhError::TooSmall => "mem= is below 2 MiB or leaves no room for the start-of-day page",
        };
        f.write_str(s)
    }
}

/// Where things go in a PVH domain's guest-physical space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvhLayout {
    /// The 32-bit entry point.
    pub entry: u32,
    /// End of RAM (exclusive).
    pub ram_end: u64,
    /// The start info (the page after the image).
    pub start_info: u32,
    /// Its memory map.
    pub memmap: u32,
    /// Its command line.
    pub cmdline: u32,
}

impl PvhLayout {
    /// Checks `elf` (with its `notes`) against `mem` bytes of RAM.
    ///
    /// # Errors
    /// See [`PvhError`].
    pub fn plan(elf: &Elf<'_>, notes: &XenNotes<'_>, mem: u64) -> Result<PvhLayout, PvhError> {
        let entry = notes.phys32_entry.ok_or(PvhError::NoPhys32Entry)?;
        let ram_end = mem & !0xFFF;
        // Both RAM ranges exist: the map below the hole and the one above.
        if ram_end < MIN_MEM {
            return Err(PvhError::TooSmall);
        }
        let mut image_end = 0;
        for s in elf.segments.as_slice() {
            let end = s.paddr.checked_add(s.memsz).ok_or(PvhError::SegmentOutsideRam)?;
            let low = end <= HOLE_START;
            if !(low || (s.paddr >= HOLE_END && end <= ram_end)) || end > 1 << 32 {
                return Err(PvhError::SegmentOutsideRam);
            }
            image_end = image_end.max(end);
        }
        // The start page follows the image in the RAM range the image ends in.
        let range_end = if image_end <= HOLE_START { HOLE_START } else { ram_end };
        let inside = elf.segments.as_slice().iter().any(|s| s.paddr <= entry && entry < s.paddr + s.memsz);
        if entry >> 32 != 0 || !inside {
            return Err(PvhError::BadEntry);
        }
        let page = image_end.div_ceil(4096) * 4096;
        if page + 4096 > range_end || page + 4096 > ram_end || page + 4096 > 1 << 32 {
            return Err(PvhError::TooSmall);
        }
        let page = page as u32;
        Ok(PvhLayout {
            entry: entry as u32,
            ram_end,
            start_info: page,
            memmap: page + MEMMAP_OFFSET as u32,
            cmdline: page + CMDLINE_OFFSET as u32,
        })
    }

    /// The guest-physical RAM ranges (start, end).
    pub const fn ram(&self) -> [(u64, u64); 2] {
        [(0, HOLE_START), (HOLE_END, self.ram_end)]
    }

    /// The memory map the guest is given.
    pub fn memmap_entries(&self) -> [HvmMemmapTableEntry; MEMMAP_ENTRIES] {
        let e = |addr: u64, end: u64, type_: u32| HvmMemmapTableEntry { addr, size: end - addr, type_, reserved: 0 };
        [
            e(0, HOLE_START, memmap_type::RAM),
            e(HOLE_START, HOLE_END, memmap_type::RESERVED),
            e(HOLE_END, self.ram_end, memmap_type::RAM),
        ]
    }

    /// The start-of-day page: start info (version 1), memory map, command
    /// line (`cmdline` truncated to [`MAX_CMDLINE`] − 1 bytes, NUL-ended).
    pub fn start_page(&self, cmdline: &[u8]) -> [u8; 4096] {
        let mut page = [0u8; 4096];
        let info = HvmStartInfo {
            magic: XEN_HVM_START_MAGIC_VALUE,
            version: HVM_START_INFO_VERSION,
            flags: 0,
            nr_modules: 0,
            modlist_paddr: 0,
            cmdline_paddr: u64::from(self.cmdline),
            rsdp_paddr: 0,
            memmap_paddr: u64::from(self.memmap),
            memmap_entries: MEMMAP_ENTRIES as u32,
            reserved: 0,
        };
        let put = |page: &mut [u8; 4096], at: usize, bytes: &[u8]| page[at..at + bytes.len()].copy_from_slice(bytes);
        put(&mut page, 0, &info.magic.to_le_bytes());
        put(&mut page, 4, &info.version.to_le_bytes());
        put(&mut page, 8, &info.flags.to_le_bytes());
        put(&mut page, 12, &info.nr_modules.to_le_bytes());
        put(&mut page, 16, &info.modlist_paddr.to_le_bytes());
        put(&mut page, 24, &info.cmdline_paddr.to_le_bytes());
        put(&mut page, 32, &info.rsdp_paddr.to_le_bytes());
        put(&mut page, 40, &info.memmap_paddr.to_le_bytes());
        put(&mut page, 48, &info.memmap_entries.to_le_bytes());
        for (i, m) in self.memmap_entries().iter().enumerate() {
            let at = MEMMAP_OFFSET as usize + i * 24;
            put(&mut page, at, &m.addr.to_le_bytes());
            put(&mut page, at + 8, &m.size.to_le_bytes());
            put(&mut page, at + 16, &m.type_.to_le_bytes());
        }
        let n = cmdline.len().min(MAX_CMDLINE - 1);
        put(&mut page, CMDLINE_OFFSET as usize, &cmdline[..n]);
        page
    }
}

/// Populates the domain's RAM in `p2m` (fresh, zeroed frames from the
/// memory model, counted against the domain's `max_pages`).
///
/// # Errors
/// `ENOMEM` when memory runs out (what was populated stays: the caller
/// tears the domain down).
pub fn populate<M: PhysMemory, H: MmHooks>(
    p2m: &mut P2m<'_>,
    mm: &mut Mm<'_, M, H>,
    layout: &PvhLayout,
) -> Result<(), Errno> {
    for (start, end) in layout.ram() {
        let (mut g, end) = (start >> 12, end >> 12);
        while g < end {
            let order = if Order::Page2M.aligned(g) && g + 512 <= end { Order::Page2M } else { Order::Page4K };
            p2m.populate(mm, Gfn(g), order)?;
            g += order.frames();
        }
    }
    Ok(())
}

/// Copies the image's segments to their physical addresses (the rest of
/// each segment is already zero: populated frames are) and writes the
/// start-of-day page.
///
/// # Errors
/// `EFAULT` if the p2m lacks a page of them (a layout not from [`populate`]).
pub fn load<M: PhysMemory>(
    p2m: &P2m<'_>,
    mem: &mut M,
    elf: &Elf<'_>,
    layout: &PvhLayout,
    cmdline: &[u8],
) -> Result<(), Errno> {
    for s in elf.segments.as_slice() {
        let bytes = &elf.bytes[s.offset as usize..(s.offset + s.filesz) as usize];
        write_phys(p2m, mem, s.paddr, bytes)?;
    }
    write_phys(p2m, mem, u64::from(layout.start_info), &layout.start_page(cmdline))
}

#[cfg(test)]
#[path = "pvh_build_tests.rs"]
mod tests;
