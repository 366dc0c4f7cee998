//! Kernel module formats: a plain ELF, or Linux's bzImage (`vmlinuz`) whose
//! payload is a compressed ELF, as Xen's loader accepts them.
//!
//! A bzImage starts with the x86 boot protocol's setup header: `HdrS` at
//! 0x202 and the protocol version at 0x206. From version 2.08 the header
//! gives `payload_offset`/`payload_length` (0x248/0x24C), relative to the
//! protected-mode code that follows the `setup_sects` 512-byte setup
//! sectors and the boot sector. The payload is the compressed ELF; Linux's
//! build appends the decompressed size as a little-endian `u32` to every
//! format, and Xen takes the output size from those last four bytes too.
//! The compression is recognised by its magic number.

/// How the kernel's ELF is compressed inside a bzImage payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`1f 8b`, or the old `1f 9e`).
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`): Debian's kernels.
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// LZ4 legacy frames (`02 21 4c 18`).
    Lz4,
    /// bzip2 (`BZh`).
    Bzip2,
    /// LZMA alone (`5d 00 00`).
    Lzma,
    /// LZO (`89 LZO 00 0d 0a 1a 0a`).
    Lzo,
}

impl Compression {
    /// Recognises a payload by its first bytes.
    pub fn detect(payload: &[u8]) -> Option<Compression> {
        const MAGICS: [(&[u8], Compression); 8] = [
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0x1f, 0x9e], Compression::Gzip),
            (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], Compression::Xz),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
            (b"BZh", Compression::Bzip2),
            (&[0x5d, 0x00, 0x00], Compression::Lzma),
            (&[0x89, b'L', b'Z', b'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a], Compression::Lzo),
        ];
        MAGICS.iter().find(|(m, _)| payload.starts_with(m)).map(|&(_, c)| c)
    }

    /// Its usual name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Lzo => "lzo",
        }
    }

    /// Whether xen-core can decompress it (see [`super::decompress`]).
    pub fn supported(self) -> bool {
        matches!(self, Compression::Gzip | Compression::Xz)
    }
}

/// What a kernel module holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFile<'a> {
    /// An ELF image, used as it is.
    Elf(&'a [u8]),
    /// A bzImage's compressed ELF.
    Compressed {
        /// How it is compressed.
        format: Compression,
        /// The compressed bytes, size trailer included.
        payload: &'a [u8],
        /// The decompressed size from the trailer.
        output_len: u32,
    },
}

/// Why a module is not a kernel xen-core can load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BzImageError {
    /// Neither an ELF nor a bzImage.
    UnknownFormat,
    /// A bzImage older than boot protocol 2.08 has no payload fields.
    ProtocolTooOld {
        /// The header's version, e.g. 0x0207.
        version: u16,
    },
    /// `payload_offset`/`payload_length` point outside the file, or the
    /// payload is too short for its size trailer.
    PayloadOutOfBounds,
    /// The payload's magic number is no known compression.
    UnknownCompression,
    /// A known compression that xen-core does not decompress.
    UnsupportedCompression(Compression),
    /// The size trailer says zero bytes.
    EmptyOutput,
}

impl core::fmt::Display for BzImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BzImageError::UnknownFormat => f.write_str("kernel is neither an ELF image nor a bzImage"),
            BzImageError::ProtocolTooOld { version } => write!(
                f,
                "bzImage boot protocol {}.{:02} has no payload; at least 2.08 is required",
                version >> 8,
                version & 0xff
            ),
            BzImageError::PayloadOutOfBounds => f.write_str("bzImage payload lies outside the file"),
            BzImageError::UnknownCompression => f.write_str("bzImage payload has an unknown compression"),
            BzImageError::UnsupportedCompression(c) => {
                write!(f, "bzImage payload is {}-compressed, which xen-core does not decompress", c.name())
            }
            BzImageError::EmptyOutput => f.write_str("bzImage payload decompresses to nothing"),
        }
    }
}

const ELF_MAGIC: &[u8] = b"\x7fELF";
const HDRS: &[u8] = b"HdrS";
const SETUP_SECTS: usize = 0x1f1;
const HEADER: usize = 0x202;
const VERSION: usize = 0x206;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24c;
/// The first protocol with `payload_offset`/`payload_length`.
pub const MIN_VERSION: u16 = 0x0208;

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> KernelFile<'a> {
    /// Classifies a module: an ELF passes through, a bzImage's header is
    /// checked and its payload found. Every offset is bounds-checked.
    pub fn classify(bytes: &'a [u8]) -> Result<KernelFile<'a>, BzImageError> {
        if bytes.starts_with(ELF_MAGIC) {
            return Ok(KernelFile::Elf(bytes));
        }
        if bytes.get(HEADER..HEADER + 4) != Some(HDRS) {
            return Err(BzImageError::UnknownFormat);
        }
        let version = u16::from_le_bytes([bytes[VERSION], bytes.get(VERSION + 1).copied().unwrap_or(0)]);
        if version < MIN_VERSION {
            return Err(BzImageError::ProtocolTooOld { version });
        }
        let oob = BzImageError::PayloadOutOfBounds;
        // Boot protocol: a setup_sects of 0 means 4.
        let sects = match bytes[SETUP_SECTS] {
            0 => 4,
            n => usize::from(n),
        };
        let offset = le_u32(bytes, PAYLOAD_OFFSET).ok_or(oob)? as usize;
        let length = le_u32(bytes, PAYLOAD_LENGTH).ok_or(oob)? as usize;
        let start = ((sects + 1) * 512).checked_add(offset).ok_or(oob)?;
        let payload = bytes.get(start..start.checked_add(length).ok_or(oob)?).ok_or(oob)?;
        if payload.len() < 4 + 2 {
            return Err(oob);
        }
        let format = Compression::detect(payload).ok_or(BzImageError::UnknownCompression)?;
        if !format.supported() {
            return Err(BzImageError::UnsupportedCompression(format));
        }
        let output_len = le_u32(payload, payload.len() - 4).ok_or(oob)?;
        if output_len == 0 {
            return Err(BzImageError::EmptyOutput);
        }
        Ok(KernelFile::Compressed { format, payload, output_len })
    }
}
