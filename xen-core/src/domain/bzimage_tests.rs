//! bzImage classification and payload decompression: valid images of each
//! supported format, each malformation refused with its own error, and
//! random corruption never panicking.

use super::bzimage::{BzImageError, Compression, KernelFile};
use super::decompress::{decompress, gzip_data_start, DecompressError};
use super::elf::tests::Fixture;
use super::xz::XzError;
use proptest::prelude::*;

/// `xz --check=crc32 --x86 --lzma2=dict=64KiB` of [`lines`] (420 bytes).
const LINES_XZ: &[u8] = include_bytes!("testdata/lines-400.xz");

fn lines() -> Vec<u8> {
    (0..400).flat_map(|i| format!("xen-core xz fixture line {i}\n").into_bytes()).collect()
}

/// A gzip member of `data` with header flags `flags` (FNAME adds a name).
fn gzip(data: &[u8], flags: u8) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3];
    if flags & 8 != 0 {
        g.extend_from_slice(b"vmlinux.bin\0");
    }
    g.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    g.extend_from_slice(&[0; 4]); // CRC-32, not checked
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    g
}

/// A minimal bzImage: boot sector plus `setup_sects` = 1, the setup header
/// at its offsets, then the payload at `payload_offset` 0x40 into the
/// protected-mode part. Linux's size trailer is appended to xz payloads
/// (gzip's ISIZE already is one).
fn bzimage(payload: &[u8], version: u16) -> Vec<u8> {
    let mut b = vec![0u8; 1024 + 0x40];
    b[0x1f1] = 1;
    b[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    b[0x248..0x24c].copy_from_slice(&0x40u32.to_le_bytes());
    b[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

fn with_trailer(compressed: &[u8], len: usize) -> Vec<u8> {
    let mut p = compressed.to_vec();
    p.extend_from_slice(&(len as u32).to_le_bytes());
    p
}

/// Classifies and decompresses.
fn load(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match KernelFile::classify(bytes).map_err(|e| e.to_string())? {
        KernelFile::Elf(e) => Ok(e.to_vec()),
        KernelFile::Compressed { format, payload, output_len } => {
            let mut out = vec![0u8; (output_len as usize).min(1 << 20)];
            decompress(format, payload, &mut out).map_err(|e| e.to_string())?;
            Ok(out)
        }
    }
}

#[test]
fn an_elf_image_passes_through_unchanged() {
    let elf = Fixture::pv().bytes();
    assert_eq!(KernelFile::classify(&elf), Ok(KernelFile::Elf(&elf)));
}

#[test]
fn a_gzip_bzimage_decompresses_to_its_elf() {
    let elf = Fixture::pv().bytes();
    for flags in [0, 8] {
        let img = bzimage(&gzip(&elf, flags), 0x020f);
        match KernelFile::classify(&img).unwrap() {
            KernelFile::Compressed { format, output_len, .. } => {
                assert_eq!((format, output_len as usize), (Compression::Gzip, elf.len()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(load(&img).unwrap(), elf, "flags {flags:#x}");
    }
}

#[test]
fn an_xz_bzimage_with_the_x86_filter_decompresses() {
    let img = bzimage(&with_trailer(LINES_XZ, lines().len()), 0x0208);
    assert_eq!(load(&img).unwrap(), lines());
}

#[test]
fn an_xz_stream_whose_dictionary_is_bigger_than_its_output_needs_no_dictionary_buffer() {
    // The fixture says 64 KiB; its 12 KiB of output is the whole dictionary.
    let mut out = vec![0u8; lines().len()];
    assert!(out.len() < 64 << 10);
    let payload = with_trailer(LINES_XZ, out.len());
    assert_eq!(decompress(Compression::Xz, &payload, &mut out), Ok(()));
    assert_eq!(out, lines());
}

#[test]
fn a_boot_protocol_before_2_08_is_refused() {
    let img = bzimage(&gzip(b"x", 0), 0x0207);
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::ProtocolTooOld { version: 0x0207 }));
    assert!(BzImageError::ProtocolTooOld { version: 0x0207 }.to_string().contains("2.07"));
}

#[test]
fn neither_elf_nor_bzimage_is_refused() {
    assert_eq!(KernelFile::classify(b"MZ not a kernel"), Err(BzImageError::UnknownFormat));
    assert_eq!(KernelFile::classify(&[]), Err(BzImageError::UnknownFormat));
}

#[test]
fn a_payload_outside_the_file_is_refused() {
    let mut img = bzimage(&gzip(b"abc", 0), 0x020f);
    img[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::PayloadOutOfBounds));
    let mut img = bzimage(&gzip(b"abc", 0), 0x020f);
    img[0x248..0x24c].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::PayloadOutOfBounds));
    let img = bzimage(&[0x1f, 0x8b, 8], 0x020f);
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::PayloadOutOfBounds));
}

#[test]
fn each_compression_is_recognised_by_its_magic_and_unsupported_ones_are_named() {
    let cases: [(&[u8], Compression); 7] = [
        (&[0x1f, 0x8b], Compression::Gzip),
        (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0], Compression::Xz),
        (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
        (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
        (b"BZh9", Compression::Bzip2),
        (&[0x5d, 0, 0], Compression::Lzma),
        (b"\x89LZO\0\r\n\x1a\n", Compression::Lzo),
    ];
    for (magic, c) in cases {
        assert_eq!(Compression::detect(magic), Some(c));
        let img = bzimage(&with_trailer(&[magic, &[0; 8]].concat(), 100), 0x020f);
        let r = KernelFile::classify(&img);
        if c.supported() {
            assert!(r.is_ok(), "{c:?}");
        } else {
            assert_eq!(r, Err(BzImageError::UnsupportedCompression(c)));
            assert!(r.unwrap_err().to_string().contains(c.name()));
        }
    }
    let img = bzimage(&with_trailer(b"\0\0\0\0\0\0", 100), 0x020f);
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::UnknownCompression));
}

#[test]
fn a_zero_size_trailer_is_refused() {
    let img = bzimage(&with_trailer(LINES_XZ, 0), 0x020f);
    assert_eq!(KernelFile::classify(&img), Err(BzImageError::EmptyOutput));
}

#[test]
fn a_size_trailer_that_disagrees_with_the_data_is_refused() {
    let data = lines();
    for len in [data.len() - 1, data.len() + 1] {
        let mut out = vec![0u8; len];
        let mut g = gzip(&data, 0);
        let n = g.len();
        g[n - 4..].copy_from_slice(&(len as u32).to_le_bytes());
        assert_eq!(decompress(Compression::Gzip, &g, &mut out), Err(DecompressError::WrongSize));
        let x = with_trailer(LINES_XZ, len);
        assert_eq!(decompress(Compression::Xz, &x, &mut out), Err(DecompressError::WrongSize));
    }
}

#[test]
fn truncated_or_corrupt_streams_are_refused() {
    let data = lines();
    let mut out = vec![0u8; data.len()];
    let g = gzip(&data, 0);
    assert_eq!(decompress(Compression::Gzip, &g[..g.len() / 2], &mut out), Err(DecompressError::Corrupt));
    let x = &LINES_XZ[..LINES_XZ.len() / 2];
    assert_eq!(decompress(Compression::Xz, x, &mut out), Err(DecompressError::Xz(XzError::Truncated)));
    let mut x = LINES_XZ.to_vec();
    x[100] ^= 0x55;
    assert!(decompress(Compression::Xz, &x, &mut out).is_err());
}

#[test]
fn malformed_gzip_headers_are_refused() {
    assert_eq!(gzip_data_start(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]), Err(DecompressError::BadGzipHeader));
    assert_eq!(gzip_data_start(&[0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]), Err(DecompressError::BadGzipHeader));
    // A name that never ends, and an extra field longer than the data.
    assert_eq!(gzip_data_start(&[0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, b'a']), Err(DecompressError::BadGzipHeader));
    assert_eq!(gzip_data_start(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 9, 0]), Err(DecompressError::BadGzipHeader));
    assert_eq!(gzip_data_start(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Ok(10));
}

proptest! {
    #[test]
    fn corrupted_bzimages_are_refused_or_loaded_never_a_panic(
        flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..12),
        cut in 0usize..4096,
        xz in any::<bool>(),
    ) {
        let mut b = if xz {
            bzimage(&with_trailer(LINES_XZ, lines().len()), 0x020f)
        } else {
            bzimage(&gzip(&Fixture::pv().bytes(), 0), 0x020f)
        };
        // Mostly the header and the start of the payload, sometimes anywhere.
        for (pos, val) in flips {
            let n = b.len();
            let at = if pos < 2048 { 0x1f0 + pos % 0x300 } else { pos % n };
            b[at.min(n - 1)] = val;
        }
        if cut < 64 {
            b.truncate(b.len() - cut);
        }
        let _ = load(&b);
    }
}

#[test]
fn decoder_states_are_small_beside_the_256_kib_boot_stack() {
    // Both are boxed, but `Box::new` may build the value on the stack first.
    assert!(core::mem::size_of::<super::xz::lzma::Lzma>() <= 32 << 10);
    assert!(core::mem::size_of::<miniz_oxide::inflate::core::DecompressorOxide>() <= 16 << 10);
}
