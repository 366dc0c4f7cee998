//! Decompressing a bzImage payload into a buffer of exactly the size its
//! trailer gives (see [`super::bzimage`]): gzip's deflate stream with the
//! well-kept no_std crate `miniz_oxide`, xz (LZMA2 with the x86 BCJ
//! filter, as Linux builds it) with xen-core's own single-call decoder
//! [`super::xz`], which uses the output as its dictionary (why our own:
//! that module's header). The caller hands in the output, usually frames
//! mapped through the direct map since a Linux ELF is tens of MiB; neither
//! decoder needs more than a few KiB of heap besides.

use super::bzimage::Compression;
use super::xz::XzError;
use alloc::boxed::Box;
use miniz_oxide::inflate::core::{decompress as inflate, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// Why a payload did not decompress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The gzip header is malformed (bad method, reserved flags, truncated).
    BadGzipHeader,
    /// The compressed data is corrupt or truncated.
    Corrupt,
    /// The data decompresses to a different size than the trailer said.
    WrongSize,
    /// The xz stream is malformed or uses what the decoder does not support.
    Xz(XzError),
    /// A format [`Compression::supported`] says no to.
    Unsupported,
}

impl core::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecompressError::BadGzipHeader => f.write_str("malformed gzip header"),
            DecompressError::Corrupt => f.write_str("compressed payload is corrupt or truncated"),
            DecompressError::WrongSize => f.write_str("payload does not decompress to its recorded size"),
            DecompressError::Xz(e) => e.fmt(f),
            DecompressError::Unsupported => f.write_str("compression not supported"),
        }
    }
}

/// Decompresses `payload` (size trailer included) into all of `out`.
pub fn decompress(format: Compression, payload: &[u8], out: &mut [u8]) -> Result<(), DecompressError> {
    match format {
        Compression::Gzip => gunzip(payload, out),
        Compression::Xz => unxz(payload, out),
        _ => Err(DecompressError::Unsupported),
    }
}

/// Where a gzip member's deflate stream starts (RFC 1952 §2.3).
pub fn gzip_data_start(b: &[u8]) -> Result<usize, DecompressError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let bad = DecompressError::BadGzipHeader;
    if b.len() < 10 || b[0] != 0x1f || (b[1] != 0x8b && b[1] != 0x9e) || b[2] != 8 || b[3] & 0xe0 != 0 {
        return Err(bad);
    }
    let flags = b[3];
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let n = b.get(at..at + 2).ok_or(bad)?;
        at += 2 + usize::from(u16::from_le_bytes([n[0], n[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            at += b.get(at..).ok_or(bad)?.iter().position(|&c| c == 0).ok_or(bad)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > b.len() {
        return Err(bad);
    }
    Ok(at)
}

// Not inlined, so the two decoders' stack frames are never added up.
#[inline(never)]
fn gunzip(payload: &[u8], out: &mut [u8]) -> Result<(), DecompressError> {
    let start = gzip_data_start(payload)?;
    // The decompressor's tables (about 11 KiB) live on the heap, not the stack.
    let mut state = Box::new(DecompressorOxide::new());
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, produced) = inflate(&mut state, &payload[start..], out, 0, flags);
    match status {
        TINFLStatus::Done if produced == out.len() => Ok(()),
        TINFLStatus::Done | TINFLStatus::HasMoreOutput => Err(DecompressError::WrongSize),
        _ => Err(DecompressError::Corrupt),
    }
}

#[inline(never)]
fn unxz(payload: &[u8], out: &mut [u8]) -> Result<(), DecompressError> {
    // The stream is followed by the 4-byte size trailer, which is not read.
    match super::xz::decode(payload, out) {
        Ok(d) if d.produced == out.len() => Ok(()),
        Ok(_) | Err(XzError::OutputFull) => Err(DecompressError::WrongSize),
        Err(e) => Err(DecompressError::Xz(e)),
    }
}
