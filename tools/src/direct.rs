//! Booting without GRUB: QEMU's own multiboot1 loader (`-kernel`, `-initrd`,
//! `-append`) starts the hypervisor directly, which saves the BIOS's boot
//! from CD-ROM and GRUB's menu, about half a second per QEMU run.
//!
//! QEMU loads a 64-bit ELF only through the multiboot1 header's address
//! fields (the "a.out kludge"): it copies the file from the header's offset
//! onwards as one flat image. [`check_kernel`] verifies that the image's
//! loadable segments lie in the file exactly as they must lie in memory, so
//! a linker-script change cannot silently boot a scrambled image.

use crate::iso::ModuleSpec;
use std::path::Path;

/// The multiboot1 header magic.
pub const MULTIBOOT1_HEADER_MAGIC: u32 = 0x1bad_b002;
/// Header flag: the address fields are valid.
const FLAG_ADDRESSES: u32 = 1 << 16;
/// QEMU looks for the header in the file's first 8 KiB.
const SEARCH_BYTES: usize = 8192;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off.checked_add(8)?)?.try_into().ok()?))
}

/// A multiboot1 header found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Its offset in the file.
    pub offset: usize,
    /// Its flags.
    pub flags: u32,
    /// Physical address of the header itself.
    pub header_addr: u32,
    /// Physical address the file is loaded at, from `offset - (header_addr - load_addr)`.
    pub load_addr: u32,
    /// End of the part loaded from the file.
    pub load_end_addr: u32,
    /// End of the zeroed part after it.
    pub bss_end_addr: u32,
    /// Entry point.
    pub entry_addr: u32,
}

/// The first valid multiboot1 header (magic, flags, checksum summing to 0)
/// in the first 8 KiB, 4-byte aligned, as QEMU searches.
pub fn find_header(image: &[u8]) -> Option<Header> {
    (0..SEARCH_BYTES.min(image.len()).saturating_sub(32)).step_by(4).find_map(|off| {
        let (magic, flags, sum) = (u32_at(image, off)?, u32_at(image, off + 4)?, u32_at(image, off + 8)?);
        (magic == MULTIBOOT1_HEADER_MAGIC && magic.wrapping_add(flags).wrapping_add(sum) == 0).then(|| Header {
            offset: off,
            flags,
            header_addr: u32_at(image, off + 12).unwrap_or(0),
            load_addr: u32_at(image, off + 16).unwrap_or(0),
            load_end_addr: u32_at(image, off + 20).unwrap_or(0),
            bss_end_addr: u32_at(image, off + 24).unwrap_or(0),
            entry_addr: u32_at(image, off + 28).unwrap_or(0),
        })
    })
}

/// Checks that QEMU's flat load of `image` puts every ELF64 loadable
/// segment at its physical address, with room for its zeroed tail.
pub fn check_kernel_bytes(image: &[u8]) -> Result<Header, String> {
    let h = find_header(image).ok_or("no multiboot1 header in the first 8 KiB")?;
    if h.flags & FLAG_ADDRESSES == 0 {
        return Err("the multiboot1 header has no address fields, which QEMU needs for an ELF64 image".into());
    }
    let file_base = (h.offset as u64)
        .checked_sub(u64::from(h.header_addr.checked_sub(h.load_addr).ok_or("header_addr is below load_addr")?))
        .ok_or("load_addr lies before the start of the file")?;
    if image.get(..4) != Some(b"\x7fELF".as_slice()) || image.get(4) != Some(&2) {
        return Err("not an ELF64 image".into());
    }
    let u16_at = |off: usize| image.get(off..off + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let (phoff, phentsize, phnum) = (
        u64_at(image, 32).ok_or("truncated ELF header")?,
        u16_at(54).ok_or("truncated ELF header")?,
        u16_at(56).ok_or("truncated ELF header")?,
    );
    let mut loads = 0;
    for i in 0..phnum {
        let ph = usize::try_from(phoff).ok().and_then(|o| o.checked_add(i * phentsize)).ok_or("bad e_phoff")?;
        if u32_at(image, ph) != Some(1) {
            continue;
        }
        let field = |at: usize| u64_at(image, ph.saturating_add(at)).ok_or("truncated program header");
        let (offset, paddr, filesz, memsz) = (field(8)?, field(24)?, field(32)?, field(40)?);
        loads += 1;
        let at = paddr.checked_sub(u64::from(h.load_addr)).ok_or("a segment lies below load_addr")?;
        if filesz > 0 && offset != file_base.saturating_add(at) {
            return Err(format!(
                "segment {i} (paddr {paddr:#x}) is at file offset {offset:#x}, not {:#x}: \
                 QEMU's flat load would misplace it",
                file_base.saturating_add(at)
            ));
        }
        if filesz > 0 && paddr.saturating_add(filesz) > u64::from(h.load_end_addr) {
            return Err(format!("segment {i} ends after load_end_addr {:#x}", h.load_end_addr));
        }
        if paddr.saturating_add(memsz) > u64::from(h.bss_end_addr) {
            return Err(format!("segment {i} ends after bss_end_addr {:#x}", h.bss_end_addr));
        }
    }
    if loads == 0 {
        return Err("no loadable segments".into());
    }
    Ok(h)
}

/// [`check_kernel_bytes`] on a file.
pub fn check_kernel(path: &Path) -> Result<Header, String> {
    let image = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    check_kernel_bytes(&image).map_err(|e| format!("{}: {e}", path.display()))
}

/// QEMU's `-initrd` value for `modules`: `"PATH CMDLINE"` items separated by
/// commas, with every comma inside an item doubled (QEMU's escape).
pub fn initrd_arg(modules: &[ModuleSpec]) -> Result<String, String> {
    let items = modules
        .iter()
        .map(|m| {
            let path = m.path.to_str().ok_or_else(|| format!("{}: path is not UTF-8", m.path.display()))?;
            if path.contains(char::is_whitespace) || path.is_empty() {
                // QEMU takes the module's path up to the first space.
                return Err(format!("{path:?}: a module path for -initrd must be non-empty and have no spaces"));
            }
            let item = if m.cmdline.is_empty() { path.to_string() } else { format!("{path} {}", m.cmdline) };
            Ok(item.replace(',', ",,"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u32, header_addr: u32, load: u32, load_end: u32, bss_end: u32) -> Vec<u8> {
        let sum = 0u32.wrapping_sub(MULTIBOOT1_HEADER_MAGIC.wrapping_add(flags));
        [MULTIBOOT1_HEADER_MAGIC, flags, sum, header_addr, load, load_end, bss_end, load + 0x18]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// An ELF64 with the header at 0x1000 and `segments` as (offset, paddr, filesz, memsz).
    fn elf(h: &[u8], segments: &[(u64, u64, u64, u64)]) -> Vec<u8> {
        let mut f = vec![0u8; 0x3000];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, &(offset, paddr, filesz, memsz)) in segments.iter().enumerate() {
            let ph = 64 + 56 * i;
            f[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
            for (at, v) in [(8, offset), (24, paddr), (32, filesz), (40, memsz)] {
                f[ph + at..ph + at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        f[0x1000..0x1000 + h.len()].copy_from_slice(h);
        f
    }

    const FLAGS: u32 = FLAG_ADDRESSES | 3;

    #[test]
    fn a_flat_image_passes_with_its_header_fields() {
        let h = header(FLAGS, 0x20_0000, 0x20_0000, 0x20_3000, 0x21_0000);
        let segs = [(0x1000, 0x20_0000, 0x1000, 0x1000), (0x2000, 0x20_1000, 0x2000, 0xf000)];
        let got = check_kernel_bytes(&elf(&h, &segs)).unwrap();
        assert_eq!((got.offset, got.load_addr, got.entry_addr), (0x1000, 0x20_0000, 0x20_0018));
    }

    #[test]
    fn a_segment_out_of_place_in_the_file_or_past_the_header_ends_is_refused() {
        let h = header(FLAGS, 0x20_0000, 0x20_0000, 0x20_3000, 0x21_0000);
        let misplaced = [(0x1000, 0x20_0000, 0x1000, 0x1000), (0x2800, 0x20_1000, 0x800, 0x800)];
        assert!(check_kernel_bytes(&elf(&h, &misplaced)).unwrap_err().contains("misplace"));
        let long = [(0x1000, 0x20_0000, 0x4000, 0x4000)];
        assert!(check_kernel_bytes(&elf(&h, &long)).unwrap_err().contains("load_end_addr"));
        let big_bss = [(0x1000, 0x20_0000, 0x1000, 0x20_0000)];
        assert!(check_kernel_bytes(&elf(&h, &big_bss)).unwrap_err().contains("bss_end_addr"));
    }

    #[test]
    fn no_header_a_bad_checksum_or_no_address_fields_is_refused() {
        let segs = [(0x1000, 0x20_0000, 0x1000, 0x1000)];
        assert!(check_kernel_bytes(&elf(&[], &segs)).unwrap_err().contains("no multiboot1 header"));
        let mut h = header(FLAGS, 0x20_0000, 0x20_0000, 0x20_3000, 0x21_0000);
        h[8] ^= 1;
        assert!(find_header(&elf(&h, &segs)).is_none());
        let h = header(3, 0, 0, 0, 0);
        assert!(check_kernel_bytes(&elf(&h, &segs)).unwrap_err().contains("address fields"));
    }

    #[test]
    fn initrd_items_join_with_commas_and_escape_commas_inside() {
        let mods = [ModuleSpec::parse("a.elf name=a balloon=16M,8M"), ModuleSpec::parse("b.img")];
        assert_eq!(initrd_arg(&mods).unwrap(), "a.elf name=a balloon=16M,,8M,b.img");
        assert!(initrd_arg(&[ModuleSpec::parse("")]).is_err());
        let spaced = ModuleSpec { path: "my dir/a".into(), cmdline: String::new() };
        assert!(initrd_arg(&[spaced]).is_err());
    }
}
