//! The hypervisor's boot description, translated from multiboot2 boot
//! information (multiboot1's is in [`super::multiboot1`]).
//!
//! The `multiboot2` crate validates the overall structure (total size, tag
//! chain, end tag). The crate's typed accessors assert on malformed tag
//! contents, so the few tags we need are decoded here from their raw bytes
//! with explicit bounds checks: a malformed boot information block is refused
//! with a [`BootInfoError`], never a panic.

use crate::mm::PhysRange;
use crate::util::FixedVec;
use core::fmt;
use multiboot2::BootInformation;

/// Maximum memory-map entries kept.
pub const MAX_REGIONS: usize = 64;
/// Maximum modules (guest images) accepted.
pub const MAX_MODULES: usize = 16;

const TAG_CMDLINE: u32 = 1;
const TAG_BOOTLOADER: u32 = 2;
const TAG_MODULE: u32 = 3;
const TAG_MMAP: u32 = 6;
const MMAP_ENTRY_MIN: usize = 24;

/// The kind of a memory-map region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MemoryKind {
    /// RAM free for use.
    #[default]
    Usable,
    /// ACPI tables, reclaimable after parsing.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Defective RAM.
    Defective,
    /// Anything else.
    Reserved,
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemoryRegion {
    /// Physical extent.
    pub range: PhysRange,
    /// What it holds.
    pub kind: MemoryKind,
}

/// A boot module: one guest image and its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Module<'a> {
    /// Where the bootloader placed it.
    pub range: PhysRange,
    /// Its command line.
    pub cmdline: &'a str,
}

/// Everything the hypervisor needs from the bootloader.
#[derive(Clone, Debug, Default)]
pub struct BootDescription<'a> {
    /// Hypervisor command line (empty if none was given).
    pub cmdline: &'a str,
    /// Bootloader name (empty if unknown).
    pub bootloader: &'a str,
    /// The memory map, in bootloader order.
    pub memory: FixedVec<MemoryRegion, MAX_REGIONS>,
    /// Modules in bootloader order; module 0 becomes domain 0.
    pub modules: FixedVec<Module<'a>, MAX_MODULES>,
}

/// Why boot information was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The bootloader's magic value was neither multiboot2's nor multiboot1's.
    BadMagic(u32),
    /// The block is not 8-byte aligned.
    Misaligned,
    /// The header's total size is smaller than a header plus end tag, or
    /// larger than the memory provided.
    BadTotalSize(u32),
    /// The tag chain is malformed or has no end tag.
    BadTagChain,
    /// No memory map tag.
    NoMemoryMap,
    /// A tag's contents are malformed.
    BadTag {
        /// Tag type.
        tag: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// More memory-map entries than [`MAX_REGIONS`].
    TooManyRegions,
    /// More modules than [`MAX_MODULES`].
    TooManyModules,
    /// A multiboot1 field is malformed or points outside readable memory.
    BadField {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootInfoError::BadMagic(m) => {
                write!(f, "bootloader magic {m:#x} is neither multiboot2 (0x36d76289) nor multiboot1 (0x2badb002)")
            }
            BootInfoError::Misaligned => write!(f, "boot information is not 8-byte aligned"),
            BootInfoError::BadTotalSize(s) => write!(f, "boot information total size {s} is impossible"),
            BootInfoError::BadTagChain => write!(f, "boot information tag chain is malformed or lacks an end tag"),
            BootInfoError::NoMemoryMap => write!(f, "boot information has no memory map"),
            BootInfoError::BadTag { tag, reason } => write!(f, "boot information tag {tag}: {reason}"),
            BootInfoError::TooManyRegions => write!(f, "memory map has more than {MAX_REGIONS} entries"),
            BootInfoError::TooManyModules => write!(f, "more than {MAX_MODULES} modules"),
            BootInfoError::BadField { field, reason } => write!(f, "multiboot1 {field}: {reason}"),
        }
    }
}

fn u32_at(bytes: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(off..off + 8)?.try_into().ok()?))
}

/// A NUL-terminated UTF-8 string at the start of `bytes`.
fn c_str(bytes: &[u8], tag: u32) -> Result<&str, BootInfoError> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(BootInfoError::BadTag { tag, reason: "string is not NUL-terminated" })?;
    core::str::from_utf8(&bytes[..nul]).map_err(|_| BootInfoError::BadTag { tag, reason: "string is not UTF-8" })
}

impl<'a> BootDescription<'a> {
    /// Translates validated boot information into a boot description.
    pub fn from_multiboot(info: &'a BootInformation<'_>) -> Result<Self, BootInfoError> {
        let mut desc = BootDescription::default();
        let mut saw_mmap = false;
        for tag in info.tags() {
            let typ = tag.header().typ.get();
            let size = tag.header().size as usize;
            // The payload follows the 8-byte header; only `size - 8` bytes are the tag's own.
            let body = size
                .checked_sub(8)
                .and_then(|n| tag.payload().get(..n))
                .ok_or(BootInfoError::BadTag { tag: typ, reason: "size is smaller than its header" })?;
            match typ {
                TAG_CMDLINE => desc.cmdline = c_str(body, typ)?,
                TAG_BOOTLOADER => desc.bootloader = c_str(body, typ)?,
                TAG_MODULE => {
                    let bad = BootInfoError::BadTag { tag: typ, reason: "module tag is truncated" };
                    let start = u32_at(body, 0).ok_or(bad)?;
                    let end = u32_at(body, 4).ok_or(bad)?;
                    if end < start {
                        return Err(BootInfoError::BadTag { tag: typ, reason: "module ends before it starts" });
                    }
                    let cmdline = c_str(&body[8..], typ)?;
                    let module = Module { range: PhysRange::new(start.into(), end.into()), cmdline };
                    desc.modules.push(module).map_err(|_| BootInfoError::TooManyModules)?;
                }
                TAG_MMAP => {
                    saw_mmap = true;
                    parse_memory_map(body, &mut desc.memory)?;
                }
                _ => {}
            }
        }
        if !saw_mmap {
            return Err(BootInfoError::NoMemoryMap);
        }
        Ok(desc)
    }

    /// Usable RAM ranges.
    pub fn usable(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.memory.as_slice().iter().filter(|r| r.kind == MemoryKind::Usable).map(|r| r.range)
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.usable().map(|r| r.len()).sum()
    }

    /// Calls `f(start, end)` for each run of frames below `max_pfn` that are
    /// I/O frames: in the first MiB, or not wholly inside a usable region.
    /// Walks the gaps between the sorted usable regions, so the cost follows
    /// the number of regions, not of frames.
    pub fn io_frame_runs(&self, max_pfn: u64, mut f: impl FnMut(u64, u64)) {
        let mut spans: FixedVec<(u64, u64), MAX_REGIONS> = FixedVec::new();
        for r in self.usable() {
            let (first, end) = r.frames_inside();
            let first = first.0.max(LOW_MEMORY_FRAMES);
            if first < end.0 {
                let _ = spans.push((first, end.0));
            }
        }
        spans.as_mut_slice().sort_unstable();
        let mut next = 0;
        for &(start, end) in spans.as_slice() {
            if start.min(max_pfn) > next {
                f(next, start.min(max_pfn));
            }
            next = next.max(end);
        }
        if next < max_pfn {
            f(next, max_pfn);
        }
    }
}

/// Frames of the first MiB, never RAM for domains.
const LOW_MEMORY_FRAMES: u64 = 0x100;

fn parse_memory_map(body: &[u8], out: &mut FixedVec<MemoryRegion, MAX_REGIONS>) -> Result<(), BootInfoError> {
    let bad = |reason| BootInfoError::BadTag { tag: TAG_MMAP, reason };
    let entry_size = u32_at(body, 0).ok_or(bad("memory map tag is truncated"))? as usize;
    if entry_size < MMAP_ENTRY_MIN || !entry_size.is_multiple_of(8) {
        return Err(bad("memory map entry size is not a multiple of 8 of at least 24"));
    }
    let entries = &body[8..];
    if !entries.len().is_multiple_of(entry_size) {
        return Err(bad("memory map size is not a whole number of entries"));
    }
    for entry in entries.chunks_exact(entry_size) {
        let (base, len) = (u64_at(entry, 0).unwrap_or(0), u64_at(entry, 8).unwrap_or(0));
        let kind = match u32_at(entry, 16).unwrap_or(0) {
            1 => MemoryKind::Usable,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Defective,
            _ => MemoryKind::Reserved,
        };
        let range = PhysRange::from_len(base, len).ok_or(bad("memory map entry wraps around the address space"))?;
        out.push(MemoryRegion { range, kind }).map_err(|_| BootInfoError::TooManyRegions)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "description_tests.rs"]
mod tests;
