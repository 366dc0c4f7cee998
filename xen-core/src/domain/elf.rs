//! A minimal ELF64 reader for PV kernel images. Every offset and size from
//! the file is checked before use; a malformed image gives an [`ElfError`].

use crate::util::FixedVec;

/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 16;

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than its headers say.
    Truncated(&'static str),
    /// Not a little-endian ELF64 x86-64 executable.
    NotX86_64Elf(&'static str),
    /// A segment's file range or address range is impossible.
    BadSegment(&'static str),
    /// Two loadable segments overlap.
    OverlappingSegments,
    /// No loadable segment.
    NoLoadableSegment,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ElfError::Truncated(what) => write!(f, "truncated ELF: {what}"),
            ElfError::NotX86_64Elf(what) => write!(f, "not an x86-64 ELF64 executable: {what}"),
            ElfError::BadSegment(what) => write!(f, "bad segment: {what}"),
            ElfError::OverlappingSegments => write!(f, "loadable segments overlap"),
            ElfError::NoLoadableSegment => write!(f, "no loadable segment"),
            ElfError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
        }
    }
}

/// One PT_LOAD segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address.
    pub vaddr: u64,
    /// Physical (load) address.
    pub paddr: u64,
    /// File offset of its contents.
    pub offset: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zero).
    pub memsz: u64,
}

/// A parsed image.
#[derive(Clone, Debug)]
pub struct Elf<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// Entry point (`e_entry`).
    pub entry: u64,
    /// Loadable segments, in file order.
    pub segments: FixedVec<Segment, MAX_SEGMENTS>,
    /// File ranges `(offset, size)` of the PT_NOTE segments.
    pub note_ranges: FixedVec<(usize, usize), 8>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
pub(crate) fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
pub(crate) fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

impl<'a> Elf<'a> {
    /// Parses and checks `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if bytes.len() < 64 {
            return Err(ElfError::Truncated("file header"));
        }
        if &bytes[..4] != b"\x7fELF" {
            return Err(ElfError::NotX86_64Elf("bad magic"));
        }
        if bytes[4] != 2 || bytes[5] != 1 {
            return Err(ElfError::NotX86_64Elf("not 64-bit little-endian"));
        }
        if u16_at(bytes, 18) != Some(62) {
            return Err(ElfError::NotX86_64Elf("machine is not x86-64"));
        }
        if u16_at(bytes, 16) != Some(2) {
            return Err(ElfError::NotX86_64Elf("not an executable (ET_EXEC)"));
        }
        let entry = u64_at(bytes, 24).unwrap_or(0);
        let phoff = u64_at(bytes, 32).unwrap_or(0);
        let phentsize = u16_at(bytes, 54).unwrap_or(0) as u64;
        let phnum = u16_at(bytes, 56).unwrap_or(0) as u64;
        if phentsize < 56 {
            return Err(ElfError::NotX86_64Elf("program header entries too small"));
        }
        let table_end = phentsize.checked_mul(phnum).and_then(|n| n.checked_add(phoff));
        if table_end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(ElfError::Truncated("program headers"));
        }
        let mut segments: FixedVec<Segment, MAX_SEGMENTS> = FixedVec::new();
        let mut note_ranges = FixedVec::new();
        for i in 0..phnum {
            let ph = (phoff + i * phentsize) as usize;
            let field = |o: usize| u64_at(bytes, ph + o).unwrap_or(0);
            let kind = u32_at(bytes, ph).unwrap_or(0);
            let (offset, vaddr, paddr, filesz, memsz) = (field(8), field(16), field(24), field(32), field(40));
            let in_file = offset.checked_add(filesz).is_some_and(|end| end <= bytes.len() as u64);
            match kind {
                PT_LOAD => {
                    if !in_file {
                        return Err(ElfError::Truncated("segment contents"));
                    }
                    if memsz < filesz {
                        return Err(ElfError::BadSegment("memory size smaller than file size"));
                    }
                    if vaddr.checked_add(memsz).is_none() || paddr.checked_add(memsz).is_none() {
                        return Err(ElfError::BadSegment("address range wraps"));
                    }
                    if memsz == 0 {
                        continue;
                    }
                    let seg = Segment { vaddr, paddr, offset, filesz, memsz };
                    if segments.as_slice().iter().any(|s| {
                        s.paddr < paddr + memsz && paddr < s.paddr + s.memsz
                            || s.vaddr < vaddr + memsz && vaddr < s.vaddr + s.memsz
                    }) {
                        return Err(ElfError::OverlappingSegments);
                    }
                    segments.push(seg).map_err(|_| ElfError::TooManySegments)?;
                }
                PT_NOTE => {
                    if !in_file {
                        return Err(ElfError::Truncated("note segment"));
                    }
                    let _ = note_ranges.push((offset as usize, filesz as usize));
                }
                _ => {}
            }
        }
        if segments.is_empty() {
            return Err(ElfError::NoLoadableSegment);
        }
        Ok(Elf { bytes, entry, segments, note_ranges })
    }

    /// Lowest and highest (exclusive) physical address of the loadable segments.
    pub fn paddr_range(&self) -> (u64, u64) {
        let s = self.segments.as_slice();
        (s.iter().map(|s| s.paddr).min().unwrap_or(0), s.iter().map(|s| s.paddr + s.memsz).max().unwrap_or(0))
    }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
pub(crate) mod tests;
