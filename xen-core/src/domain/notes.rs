//! Xen ELF notes (fact sheet §8.6) and the loader's acceptance checks.

use super::elf::{u32_at, u64_at, Elf};
use abi::elfnote::*;

/// The notes xen-core reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenNotes<'a> {
    /// XEN_ELFNOTE_ENTRY.
    pub entry: Option<u64>,
    /// XEN_ELFNOTE_HYPERCALL_PAGE.
    pub hypercall_page: Option<u64>,
    /// XEN_ELFNOTE_VIRT_BASE.
    pub virt_base: Option<u64>,
    /// XEN_ELFNOTE_PADDR_OFFSET.
    pub paddr_offset: Option<u64>,
    /// XEN_ELFNOTE_XEN_VERSION.
    pub xen_version: Option<&'a str>,
    /// XEN_ELFNOTE_GUEST_OS.
    pub guest_os: Option<&'a str>,
    /// XEN_ELFNOTE_LOADER.
    pub loader: Option<&'a str>,
    /// XEN_ELFNOTE_FEATURES.
    pub features: Option<&'a str>,
    /// XEN_ELFNOTE_INIT_P2M.
    pub init_p2m: Option<u64>,
    /// XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry (guest-physical, 32-bit).
    pub phys32_entry: Option<u64>,
    /// How many Xen notes were found.
    pub count: usize,
}

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// A note is malformed.
    BadNote(&'static str),
    /// The image has no Xen notes.
    NoXenNotes,
    /// A required note is missing or has the wrong value.
    Unacceptable(&'static str),
    /// The kernel's virtual range is impossible.
    BadRange(&'static str),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::BadNote(w) => write!(f, "malformed Xen note: {w}"),
            ImageError::NoXenNotes => write!(f, "no Xen ELF notes: not a PV kernel"),
            ImageError::Unacceptable(w) => write!(f, "Xen notes refused: {w}"),
            ImageError::BadRange(w) => write!(f, "kernel range refused: {w}"),
        }
    }
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

fn numeric(desc: &[u8]) -> Result<u64, ImageError> {
    match desc.len() {
        4 => Ok(u64::from(u32_at(desc, 0).unwrap_or(0))),
        8 => Ok(u64_at(desc, 0).unwrap_or(0)),
        _ => Err(ImageError::BadNote("numeric note is not 4 or 8 bytes")),
    }
}

fn string(desc: &[u8]) -> Result<&str, ImageError> {
    let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
    core::str::from_utf8(&desc[..end]).map_err(|_| ImageError::BadNote("string note is not UTF-8"))
}

impl<'a> XenNotes<'a> {
    /// Reads every "Xen" note of the PT_NOTE segments.
    pub fn read(elf: &Elf<'a>) -> Result<XenNotes<'a>, ImageError> {
        let mut n = XenNotes::default();
        for &(off, len) in elf.note_ranges.as_slice() {
            let seg = &elf.bytes[off..off + len];
            let mut p = 0usize;
            while p + 12 <= seg.len() {
                let namesz = u32_at(seg, p).unwrap_or(0) as usize;
                let descsz = u32_at(seg, p + 4).unwrap_or(0) as usize;
                let kind = u32_at(seg, p + 8).unwrap_or(0);
                let name_start = p + 12;
                let desc_start = align4(namesz)
                    .and_then(|a| a.checked_add(name_start))
                    .ok_or(ImageError::BadNote("size overflow"))?;
                let next = align4(descsz)
                    .and_then(|a| a.checked_add(desc_start))
                    .ok_or(ImageError::BadNote("size overflow"))?;
                if desc_start.checked_add(descsz).is_none_or(|e| e > seg.len()) || name_start + namesz > seg.len() {
                    return Err(ImageError::BadNote("note runs past its segment"));
                }
                let name = &seg[name_start..name_start + namesz];
                let desc = &seg[desc_start..desc_start + descsz];
                if name == XEN_ELFNOTE_NAME || name == &XEN_ELFNOTE_NAME[..3] {
                    n.count += 1;
                    match kind {
                        XEN_ELFNOTE_ENTRY => n.entry = Some(numeric(desc)?),
                        XEN_ELFNOTE_HYPERCALL_PAGE => n.hypercall_page = Some(numeric(desc)?),
                        XEN_ELFNOTE_VIRT_BASE => n.virt_base = Some(numeric(desc)?),
                        XEN_ELFNOTE_PADDR_OFFSET => n.paddr_offset = Some(numeric(desc)?),
                        XEN_ELFNOTE_INIT_P2M => n.init_p2m = Some(numeric(desc)?),
                        XEN_ELFNOTE_PHYS32_ENTRY => n.phys32_entry = Some(numeric(desc)?),
                        XEN_ELFNOTE_XEN_VERSION => n.xen_version = Some(string(desc)?),
                        XEN_ELFNOTE_GUEST_OS => n.guest_os = Some(string(desc)?),
                        XEN_ELFNOTE_LOADER => n.loader = Some(string(desc)?),
                        XEN_ELFNOTE_FEATURES => n.features = Some(string(desc)?),
                        _ => {}
                    }
                }
                p = next;
            }
        }
        Ok(n)
    }
}

/// A kernel image accepted by the loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Start of the initial mapping (`v_start`).
    pub virt_base: u64,
    /// First byte of the kernel.
    pub kstart: u64,
    /// One past its last byte.
    pub kend: u64,
    /// Entry point.
    pub entry: u64,
    /// Hypercall page, if the kernel asked for one.
    pub hypercall_page: Option<u64>,
    /// Subtracted from ELF physical addresses.
    pub paddr_offset: u64,
}

fn in_hypervisor_hole(start: u64, end: u64) -> bool {
    start < abi::HYPERVISOR_VIRT_END && abi::HYPERVISOR_VIRT_START < end
}

fn canonical(va: u64) -> bool {
    !((1 << 47)..0xFFFF_8000_0000_0000).contains(&va)
}

impl KernelImage {
    /// Applies the acceptance checks of §8.6.
    pub fn accept(elf: &Elf<'_>, notes: &XenNotes<'_>) -> Result<KernelImage, ImageError> {
        if notes.count == 0 {
            return Err(ImageError::NoXenNotes);
        }
        let generic = notes.loader.is_some_and(|l| l.starts_with("generic"));
        let linux = notes.guest_os.is_some_and(|o| o.starts_with("linux"));
        if !generic && !linux {
            return Err(ImageError::Unacceptable("LOADER must begin \"generic\" or GUEST_OS \"linux\""));
        }
        if !notes.xen_version.is_some_and(|v| v.starts_with("xen-3.0")) {
            return Err(ImageError::Unacceptable("XEN_VERSION must begin \"xen-3.0\""));
        }
        if notes.paddr_offset.is_some() && notes.virt_base.is_none() {
            return Err(ImageError::Unacceptable("PADDR_OFFSET without VIRT_BASE"));
        }
        let virt_base = notes.virt_base.unwrap_or(0);
        let paddr_offset = notes.paddr_offset.unwrap_or(0);
        let (plo, phi) = elf.paddr_range();
        let shift = |p: u64| p.checked_sub(paddr_offset).and_then(|p| p.checked_add(virt_base));
        // The commonest cause: an image linked at VIRT_BASE without AT()
        // (physical = virtual addresses) and no PADDR_OFFSET note.
        let kstart = shift(plo).ok_or(ImageError::BadRange(
            "start overflows: ELF paddr - PADDR_OFFSET + VIRT_BASE does not fit (an image whose physical addresses equal its virtual ones needs PADDR_OFFSET = VIRT_BASE)",
        ))?;
        let kend = shift(phi).ok_or(ImageError::BadRange("end overflows"))?;
        let entry = notes.entry.unwrap_or(elf.entry);
        if kstart > kend || !(kstart..=kend).contains(&entry) {
            return Err(ImageError::BadRange("entry point outside the image"));
        }
        if virt_base > kstart {
            return Err(ImageError::BadRange("VIRT_BASE above the kernel"));
        }
        if !canonical(kstart)
            || !canonical(kend - 1)
            || in_hypervisor_hole(virt_base, kend)
            || (kstart < 1 << 47) != (kend - 1 < 1 << 47)
        {
            return Err(ImageError::BadRange("image overlaps the hypervisor's range or is not canonical"));
        }
        if let Some(hp) = notes.hypercall_page {
            if hp % abi::PAGE_SIZE != 0 || !(kstart..kend).contains(&hp) {
                return Err(ImageError::BadRange("hypercall page outside the image"));
            }
        }
        if let Some(p2m) = notes.init_p2m {
            if (kstart..kend).contains(&p2m) {
                return Err(ImageError::BadRange("INIT_P2M inside the kernel"));
            }
        }
        Ok(KernelImage { virt_base, kstart, kend, entry, hypercall_page: notes.hypercall_page, paddr_offset })
    }
}
