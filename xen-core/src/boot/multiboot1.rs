//! The boot description from multiboot1 boot information (QEMU's `-kernel`
//! loader, GRUB's `multiboot` command).
//!
//! Unlike multiboot2's single tagged block, multiboot1 information is a
//! fixed structure of flags and physical pointers to a command line, a module
//! list, a memory map and a bootloader name, each somewhere in low memory.
//! The parser reads physical memory only through a caller-supplied window
//! (the boot direct map on the machine, a byte vector in tests) and checks
//! every pointer and length against it: a malformed structure is refused
//! with a [`BootInfoError`], never a panic.
//!
//! By the multiboot1 convention (QEMU, GRUB legacy and GRUB 2 all follow it)
//! the kernel's and each module's command line begin with the image's path;
//! that first word is dropped, so both boot paths give the same description.

use super::description::{BootDescription, BootInfoError, MemoryKind, MemoryRegion, Module, MAX_MODULES};
use crate::mm::PhysRange;
use crate::util::FixedVec;

/// The value a multiboot1 bootloader leaves in EAX.
pub const MULTIBOOT1_MAGIC: u32 = 0x2bad_b002;

/// Longest command line or name accepted, NUL included.
pub const MAX_STRING: u64 = 8192;
/// Longest memory map accepted (about 400 entries of 20 bytes).
const MAX_MMAP_BYTES: u64 = 8192;

const FLAG_MEMORY: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODULES: u32 = 1 << 3;
const FLAG_MMAP: u32 = 1 << 6;
const FLAG_BOOTLOADER: u32 = 1 << 9;

/// Bytes of the information structure read: up to the bootloader name.
const INFO_BYTES: u64 = 68;
const MODULE_ENTRY: u64 = 16;
/// A memory-map entry after its size field: base, length, type.
const MMAP_ENTRY_MIN: u32 = 20;

/// Reads exactly `range` of physical memory, or `None` where it is not
/// readable.
pub trait PhysWindow<'a> {
    /// The bytes of `range`.
    fn read(&self, range: PhysRange) -> Option<&'a [u8]>;
}

/// The description and the physical memory it still borrows: the strings,
/// which must stay reserved while the description is in use.
#[derive(Clone, Debug, Default)]
pub struct Multiboot1<'a> {
    /// The same description the multiboot2 path produces.
    pub desc: BootDescription<'a>,
    /// Where the borrowed strings lie.
    pub strings: FixedVec<PhysRange, { MAX_MODULES + 2 }>,
}

fn bad(field: &'static str, reason: &'static str) -> BootInfoError {
    BootInfoError::BadField { field, reason }
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    bytes.get(off..off + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    u64::from(u32_at(bytes, off)) | u64::from(u32_at(bytes, off + 4)) << 32
}

fn window<'a>(mem: &impl PhysWindow<'a>, start: u64, len: u64, field: &'static str) -> Result<&'a [u8], BootInfoError> {
    let range = PhysRange::from_len(start, len).ok_or(bad(field, "extends past the address space"))?;
    mem.read(range).ok_or(bad(field, "lies outside readable memory"))
}

/// The NUL-terminated UTF-8 string at `addr` and where it lies (NUL
/// included). Read a page at a time, so a string near the end of readable
/// memory is still found.
fn c_str<'a>(mem: &impl PhysWindow<'a>, addr: u64, field: &'static str) -> Result<(&'a str, PhysRange), BootInfoError> {
    let mut len = 0u64;
    loop {
        let at = addr.checked_add(len).ok_or(bad(field, "extends past the address space"))?;
        let chunk = (4096 - at % 4096).min(MAX_STRING - len);
        let bytes = window(mem, at, chunk, field)?;
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            len += nul as u64;
            break;
        }
        len += chunk;
        if len >= MAX_STRING {
            return Err(bad(field, "string is not NUL-terminated within 8 KiB"));
        }
    }
    let bytes = window(mem, addr, len, field)?;
    let s = core::str::from_utf8(bytes).map_err(|_| bad(field, "string is not UTF-8"))?;
    Ok((s, PhysRange::new(addr, addr + len + 1)))
}

/// A command line without the image path that multiboot1 puts first.
fn without_image_path(cmdline: &str) -> &str {
    let s = cmdline.trim_start();
    s.find(char::is_whitespace).map_or("", |i| s[i..].trim_start())
}

impl<'a> Multiboot1<'a> {
    /// Parses the information structure at physical address `info`.
    pub fn parse(mem: &impl PhysWindow<'a>, info: u64) -> Result<Self, BootInfoError> {
        let flags = u32_at(window(mem, info, 4, "flags")?, 0);
        // Only as much as the flags say is there: a bootloader need not
        // provide the fields after the last one it fills in.
        let wanted = if flags & FLAG_BOOTLOADER != 0 {
            INFO_BYTES
        } else if flags & FLAG_MMAP != 0 {
            52
        } else if flags & FLAG_MODULES != 0 {
            28
        } else {
            20
        };
        let mbi = window(mem, info, wanted, "information structure")?;
        let mut out = Multiboot1::default();
        let keep = |out: &mut Multiboot1<'a>, range| out.strings.push(range).map_err(|_| BootInfoError::TooManyModules);
        if flags & FLAG_CMDLINE != 0 {
            let (s, range) = c_str(mem, u64::from(u32_at(mbi, 16)), "command line")?;
            out.desc.cmdline = without_image_path(s);
            keep(&mut out, range)?;
        }
        if flags & FLAG_BOOTLOADER != 0 {
            let (s, range) = c_str(mem, u64::from(u32_at(mbi, 64)), "bootloader name")?;
            out.desc.bootloader = s;
            keep(&mut out, range)?;
        }
        if flags & FLAG_MODULES != 0 {
            let count = u64::from(u32_at(mbi, 20));
            if count > MAX_MODULES as u64 {
                return Err(BootInfoError::TooManyModules);
            }
            let list = window(mem, u64::from(u32_at(mbi, 24)), count * MODULE_ENTRY, "module list")?;
            for entry in list.chunks_exact(MODULE_ENTRY as usize) {
                let (start, end) = (u32_at(entry, 0), u32_at(entry, 4));
                if end < start {
                    return Err(bad("module list", "module ends before it starts"));
                }
                let cmdline = match u32_at(entry, 8) {
                    0 => "",
                    at => {
                        let (s, range) = c_str(mem, u64::from(at), "module command line")?;
                        keep(&mut out, range)?;
                        without_image_path(s)
                    }
                };
                let module = Module { range: PhysRange::new(start.into(), end.into()), cmdline };
                out.desc.modules.push(module).map_err(|_| BootInfoError::TooManyModules)?;
            }
        }
        if flags & FLAG_MMAP != 0 {
            let len = u64::from(u32_at(mbi, 44));
            if len > MAX_MMAP_BYTES {
                return Err(bad("memory map", "is longer than 8 KiB"));
            }
            parse_memory_map(window(mem, u64::from(u32_at(mbi, 48)), len, "memory map")?, &mut out.desc)?;
        }
        if out.desc.memory.is_empty() && flags & FLAG_MEMORY != 0 {
            // No map: the two sizes in KiB, conventional memory from 0 and
            // extended memory from 1 MiB.
            let (lower, upper) = (u64::from(u32_at(mbi, 4)) << 10, u64::from(u32_at(mbi, 8)) << 10);
            for range in [PhysRange::new(0, lower.min(0xa_0000)), PhysRange::new(0x10_0000, 0x10_0000 + upper)] {
                let region = MemoryRegion { range, kind: MemoryKind::Usable };
                out.desc.memory.push(region).map_err(|_| BootInfoError::TooManyRegions)?;
            }
        }
        if out.desc.memory.is_empty() {
            return Err(BootInfoError::NoMemoryMap);
        }
        Ok(out)
    }
}

/// Entries are `size, base, length, type` with `size` counting what follows
/// it, so a bootloader may append fields; entries need not be aligned.
fn parse_memory_map(map: &[u8], desc: &mut BootDescription<'_>) -> Result<(), BootInfoError> {
    let mut off = 0usize;
    while off < map.len() {
        let size = u32_at(map, off);
        if map.len() - off < 4 || size < MMAP_ENTRY_MIN {
            return Err(bad("memory map", "entry is shorter than 20 bytes"));
        }
        let entry =
            map.get(off + 4..off + 4 + size as usize).ok_or(bad("memory map", "last entry runs past the map's end"))?;
        let kind = match u32_at(entry, 16) {
            1 => MemoryKind::Usable,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Defective,
            _ => MemoryKind::Reserved,
        };
        let range = PhysRange::from_len(u64_at(entry, 0), u64_at(entry, 8))
            .ok_or(bad("memory map", "entry wraps around the address space"))?;
        desc.memory.push(MemoryRegion { range, kind }).map_err(|_| BootInfoError::TooManyRegions)?;
        off += 4 + size as usize;
    }
    Ok(())
}

#[cfg(test)]
#[path = "multiboot1_tests.rs"]
mod tests;
