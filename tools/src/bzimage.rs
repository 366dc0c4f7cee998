//! Making a minimal Linux-style bzImage around a compressed ELF, so the
//! hypervisor's bzImage loader can be tested with guest-kernel.
//!
//! The image is a boot sector and one setup sector holding the x86 boot
//! protocol's setup header (`HdrS`, version 2.15, `payload_offset` and
//! `payload_length`), followed by the payload: the compressed ELF with its
//! decompressed size appended as a little-endian `u32`, as Linux's build
//! does for every compression.

use std::io::{self, Write as _};
use std::process::{Command, Stdio};

/// Setup sectors after the boot sector.
const SETUP_SECTS: u8 = 1;
/// Where the payload starts inside the protected-mode part.
const PAYLOAD_OFFSET: u32 = 0x40;

/// The bzImage of `compressed` (without trailer), which decompresses to
/// `uncompressed_len` bytes.
pub fn wrap(compressed: &[u8], uncompressed_len: u32) -> Vec<u8> {
    let pm_start = (usize::from(SETUP_SECTS) + 1) * 512;
    let mut b = vec![0u8; pm_start + PAYLOAD_OFFSET as usize];
    let payload_len = compressed.len() as u32 + 4;
    b[0x1f1] = SETUP_SECTS;
    b[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    b[0x248..0x24c].copy_from_slice(&PAYLOAD_OFFSET.to_le_bytes());
    b[0x24c..0x250].copy_from_slice(&payload_len.to_le_bytes());
    b.extend_from_slice(compressed);
    b.extend_from_slice(&uncompressed_len.to_le_bytes());
    b
}

/// How to compress a payload with the usual command-line tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `gzip -9 -n`.
    Gzip,
    /// `xz --check=crc32 --x86 --lzma2=dict=1MiB`, as Linux builds x86
    /// kernels (with a smaller dictionary).
    Xz,
}

/// Compresses `data` with `tool`.
pub fn compress(tool: Tool, data: &[u8]) -> io::Result<Vec<u8>> {
    let (prog, args): (&str, &[&str]) = match tool {
        Tool::Gzip => ("gzip", &["-9", "-n", "-c"]),
        Tool::Xz => ("xz", &["--format=xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c"]),
    };
    let mut child = Command::new(prog).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| io::Error::other("writer panicked"))??;
    if !out.status.success() {
        return Err(io::Error::other(format!("{prog} failed: {}", out.status)));
    }
    Ok(out.stdout)
}

/// The bzImage of `elf` compressed with `tool`.
pub fn make(tool: Tool, elf: &[u8]) -> io::Result<Vec<u8>> {
    Ok(wrap(&compress(tool, elf)?, elf.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_setup_header_points_at_the_payload_and_its_size_trailer() {
        let img = wrap(b"\x1f\x8bcompressed", 1234);
        assert_eq!(&img[0x202..0x206], b"HdrS");
        assert_eq!(u16::from_le_bytes([img[0x206], img[0x207]]), 0x020f);
        let start = (usize::from(img[0x1f1]) + 1) * 512 + u32_at(&img, 0x248) as usize;
        let len = u32_at(&img, 0x24c) as usize;
        assert_eq!(start + len, img.len());
        assert_eq!(&img[start..start + 12], b"\x1f\x8bcompressed");
        assert_eq!(u32_at(&img, img.len() - 4), 1234);
    }

    #[test]
    fn compressed_payloads_start_with_their_magic() {
        let data = vec![7u8; 5000];
        let gz = make(Tool::Gzip, &data).unwrap();
        let xz = make(Tool::Xz, &data).unwrap();
        assert_eq!(&gz[1088..1090], &[0x1f, 0x8b]);
        assert_eq!(&xz[1088..1094], &[0xfd, b'7', b'z', b'X', b'Z', 0]);
        assert_eq!(u32_at(&xz, xz.len() - 4), 5000);
    }
}
