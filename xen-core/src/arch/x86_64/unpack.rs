//! A kernel module made loadable: an ELF is used in place; a bzImage's
//! payload is decompressed into a run of contiguous free frames, seen
//! through the direct map (a Linux ELF is tens of MiB, far more than the
//! heap), and the frames go back once the domain is built.

use super::paging::DirectMap;
use super::paging::DIRECT_MAP_BASE;
use crate::domain::bzimage::{Compression, KernelFile};
use crate::domain::decompress::{decompress, DecompressError};
use crate::mm::FrameAllocator;
use abi::{Mfn, PAGE_SIZE};

/// Contiguous frames taken from the allocator for one use.
struct Run {
    first: Mfn,
    frames: u64,
}

impl Run {
    fn take(frames: &mut FrameAllocator, bytes: u64) -> Option<Run> {
        let n = bytes.div_ceil(PAGE_SIZE).max(1);
        Some(Run { first: frames.alloc_contiguous(n)?, frames: n })
    }

    /// The run's first `len` bytes.
    fn bytes(&mut self, len: usize) -> &'static mut [u8] {
        debug_assert!(len as u64 <= self.frames * PAGE_SIZE);
        // SAFETY: the frames were just taken from the allocator, so nothing
        // else refers to them until `give_back`, after the last use of this
        // slice; the direct map covers all RAM read-write.
        unsafe { core::slice::from_raw_parts_mut((DIRECT_MAP_BASE + self.first.to_maddr()) as *mut u8, len) }
    }

    fn give_back(self, frames: &mut FrameAllocator) {
        for i in 0..self.frames {
            frames.free(Mfn(self.first.0 + i), &mut DirectMap);
        }
    }
}

/// The kernel's ELF bytes, and the frames holding them if decompressed.
pub struct Unpacked {
    /// The ELF image.
    pub elf: &'static [u8],
    held: Option<Run>,
}

impl Unpacked {
    /// Returns the decompression frames; `elf` must not be used after.
    pub fn release(self, frames: &mut FrameAllocator) {
        if let Some(run) = self.held {
            run.give_back(frames);
        }
    }
}

/// Why a module could not be unpacked.
pub enum UnpackError {
    /// Not a loadable format.
    Format(crate::domain::bzimage::BzImageError),
    /// The payload did not decompress.
    Decompress(Compression, DecompressError),
    /// No contiguous frames for the output or the dictionary.
    NoMemory(&'static str, u64),
}

impl core::fmt::Display for UnpackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UnpackError::Format(e) => e.fmt(f),
            UnpackError::Decompress(c, e) => write!(f, "{} payload: {e}", c.name()),
            UnpackError::NoMemory(what, n) => write!(f, "no {n} contiguous free bytes for the {what}"),
        }
    }
}

/// Unpacks `module`; decompressed output lives until [`Unpacked::release`].
pub fn unpack(frames: &mut FrameAllocator, module: &'static [u8]) -> Result<Unpacked, UnpackError> {
    let (format, payload, len) = match KernelFile::classify(module).map_err(UnpackError::Format)? {
        KernelFile::Elf(elf) => return Ok(Unpacked { elf, held: None }),
        KernelFile::Compressed { format, payload, output_len } => (format, payload, u64::from(output_len)),
    };
    let mut out = Run::take(frames, len).ok_or(UnpackError::NoMemory("decompressed kernel", len))?;
    // The dictionary's size is in the xz stream; a small first guess is
    // refused at once with the size needed (before any output), then the
    // decompression starts again with that.
    let mut dict_len = if format == Compression::Xz { 64 << 10 } else { 0 };
    let result = loop {
        let mut dict = if dict_len == 0 { None } else { Run::take(frames, dict_len) };
        if dict_len != 0 && dict.is_none() {
            break Err(UnpackError::NoMemory("xz dictionary", dict_len));
        }
        let dict_bytes = dict.as_mut().map_or(&mut [][..], |d| d.bytes(dict_len as usize));
        let r = decompress(format, payload, out.bytes(len as usize), dict_bytes);
        if let Some(d) = dict {
            d.give_back(frames);
        }
        match r {
            Err(DecompressError::DictionaryTooLarge(n)) if n > dict_len => dict_len = n,
            Err(e) => break Err(UnpackError::Decompress(format, e)),
            Ok(()) => break Ok(()),
        }
    };
    if let Err(e) = result {
        out.give_back(frames);
        return Err(e);
    }
    log::info!("bzImage: {} payload of {} bytes decompressed to {len} bytes", format.name(), payload.len());
    let elf = out.bytes(len as usize);
    Ok(Unpacked { elf, held: Some(out) })
}
