//! A single-call XZ decoder: one `.xz` stream, all of it in memory,
//! decoded straight into the caller's output buffer, which doubles as the
//! LZMA2 dictionary (as xz-embedded's single-call mode does), so there is
//! no separate dictionary and no copy out of one. Supported: LZMA2, alone
//! or after the x86 BCJ filter (Linux's bzImage uses exactly that), the
//! None, CRC32 and CRC64 checks, any number of blocks. Anything else is
//! refused as [`XzError::Unsupported`].
//!
//! Why our own and not the `xz4rust` crate used before (a faithful
//! streaming port of xz-embedded: state kept in memory between calls, a
//! separate 32 MiB dictionary, the output copied out of it): under QEMU
//! TCG, where the hypervisor decompresses Debian's 66 MB Linux kernel at
//! boot, guest memory accesses and branches dominate. For that kernel
//! (host cachegrind) the crate made 4.70 G instructions and 1.24 G data
//! accesses; this decoder makes 3.38 G and 0.59 G (its branch-free bits,
//! see [`lzma`], cost host instructions but save TCG time). The boot's
//! decompression step went from 9.2 s to 2.4 to 3.3 s of QEMU CPU time
//! (Xen 4.17's own on the same kernel and QEMU: 4.1 s); README "Linux
//! guests" has the whole boots. `cargo bench -p xen-core --bench xz`
//! decodes that kernel with both decoders and compares the bytes.
//!
//! * [`crc`]: CRC32 and CRC64, slice-by-8.
//! * [`lzma`]: the range decoder and LZMA's symbol model, one chunk at a time.
//! * [`lzma2`]: the chunk layer (stored chunks, resets, sizes).
//! * [`bcj`]: the x86 BCJ filter's decoder, in place over a block's output.
//! * [`stream`]: stream header, blocks, index and footer, cross-checked.
//!
//! Hostile input gives an error, never a panic, and takes time bounded by
//! the input and output sizes. On error the output's contents are
//! unspecified; on success only the first `produced` bytes are meaningful
//! (matches may write up to seven bytes past the end of what they copy).

pub mod bcj;
pub mod crc;
pub mod lzma;
pub mod lzma2;
pub mod stream;
#[cfg(test)]
mod tests;

pub use stream::decode;

/// Why a stream did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XzError {
    /// Not an xz stream (no magic), or a header or index whose CRC32
    /// does not match.
    Format,
    /// A filter, check or header flag this decoder does not implement.
    Unsupported,
    /// The compressed data or the index are inconsistent.
    Corrupt,
    /// The input ends before the stream does.
    Truncated,
    /// The stream decodes to more than the output buffer holds.
    OutputFull,
    /// A block's CRC32 or CRC64 does not match its data.
    CheckMismatch,
}

impl core::fmt::Display for XzError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            XzError::Format => "not an xz stream, or a header's CRC32 is wrong",
            XzError::Unsupported => "xz stream uses a filter, check or flag not supported",
            XzError::Corrupt => "xz data is corrupt",
            XzError::Truncated => "xz stream is truncated",
            XzError::OutputFull => "xz stream decodes to more than the output buffer",
            XzError::CheckMismatch => "xz block check (CRC) does not match",
        })
    }
}

/// How much a successful [`decode`] read and wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes of the stream, header through footer (any stream
    /// padding or data after it is not read).
    pub consumed: usize,
    /// Output bytes written, from the buffer's start.
    pub produced: usize,
}
