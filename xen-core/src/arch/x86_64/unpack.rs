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
    /// No contiguous frames for the output.
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
    // Straight into the frames: the xz decoder uses its output as the
    // dictionary, so nothing else is taken.
    if let Err(e) = decompress(format, payload, out.bytes(len as usize)) {
        out.give_back(frames);
        return Err(UnpackError::Decompress(format, e));
    }
    log::info!("bzImage: {} payload of {} bytes decompressed to {len} bytes", format.name(), payload.len());
    let elf = out.bytes(len as usize);
    Ok(Unpacked { elf, held: Some(out) })
}
