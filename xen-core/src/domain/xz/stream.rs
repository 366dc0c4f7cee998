//! The `.xz` container: stream header, blocks (each a header, LZMA2 data,
//! padding and the check), the index listing every block's sizes, and the
//! footer repeating the flags and the index's size. Every size the
//! container states is checked against what was decoded.

use super::bcj::x86_decode;
use super::crc::{crc32, crc64};
use super::lzma::Lzma;
use super::{lzma2, Decoded, XzError};
use alloc::boxed::Box;

const HEADER_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
const FILTER_X86: u64 = 0x04;
const FILTER_LZMA2: u64 = 0x21;

/// The integrity check after each block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Crc32,
    Crc64,
}

impl Check {
    fn from_id(id: u8) -> Result<Check, XzError> {
        match id {
            0 => Ok(Check::None),
            1 => Ok(Check::Crc32),
            4 => Ok(Check::Crc64),
            _ => Err(XzError::Unsupported),
        }
    }

    fn size(self) -> usize {
        match self {
            Check::None => 0,
            Check::Crc32 => 4,
            Check::Crc64 => 8,
        }
    }

    fn matches(self, data: &[u8], stored: &[u8]) -> bool {
        match self {
            Check::None => true,
            Check::Crc32 => crc32(data).to_le_bytes() == stored,
            Check::Crc64 => crc64(data).to_le_bytes() == stored,
        }
    }
}

/// A cursor over bounded bytes.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], XzError> {
        let s = self.b.get(self.at..self.at.checked_add(n).ok_or(XzError::Truncated)?).ok_or(XzError::Truncated)?;
        self.at += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, XzError> {
        Ok(self.take(1)?[0])
    }

    /// A variable-length integer: seven bits a byte, least significant
    /// first, at most nine bytes, no superfluous zero byte at the end.
    fn vli(&mut self) -> Result<u64, XzError> {
        let mut v = 0u64;
        for i in 0..9 {
            let b = self.byte()?;
            if i > 0 && b == 0 {
                return Err(XzError::Corrupt);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(XzError::Corrupt)
    }
}

/// What a block header says.
struct BlockHeader {
    size: usize,
    packed: Option<u64>,
    unpacked: Option<u64>,
    x86_start: Option<u32>,
    dict_size: u32,
}

fn block_header(h: &[u8]) -> Result<BlockHeader, XzError> {
    let (body, stored) = h.split_at(h.len() - 4);
    if crc32(body).to_le_bytes() != stored {
        return Err(XzError::Format);
    }
    let flags = body[1];
    if flags & 0x3c != 0 {
        return Err(XzError::Unsupported);
    }
    let mut r = Reader { b: body, at: 2 };
    let packed = if flags & 0x40 != 0 { Some(r.vli()?) } else { None };
    let unpacked = if flags & 0x80 != 0 { Some(r.vli()?) } else { None };
    if packed == Some(0) {
        return Err(XzError::Corrupt);
    }
    let filters = usize::from(flags & 3) + 1;
    let mut x86_start = None;
    let mut dict_size = None;
    for i in 0..filters {
        let id = r.vli()?;
        let props = r.vli()?;
        let last = i + 1 == filters;
        match (id, props, last) {
            (FILTER_LZMA2, 1, true) => {
                let d = r.byte()?;
                if d > 40 {
                    return Err(XzError::Unsupported);
                }
                dict_size = Some(if d == 40 { u32::MAX } else { (2 | u32::from(d & 1)) << (d / 2 + 11) });
            }
            (FILTER_X86, 0, false) if x86_start.is_none() => x86_start = Some(0),
            (FILTER_X86, 4, false) if x86_start.is_none() => {
                let s = r.take(4)?;
                x86_start = Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
            }
            _ => return Err(XzError::Unsupported),
        }
    }
    if body[r.at..].iter().any(|&b| b != 0) {
        return Err(XzError::Unsupported);
    }
    Ok(BlockHeader { size: h.len(), packed, unpacked, x86_start, dict_size: dict_size.ok_or(XzError::Unsupported)? })
}

/// What the blocks decoded so far add up to, to compare with the index.
#[derive(Default, PartialEq, Eq)]
struct Tally {
    blocks: u64,
    unpadded: u64,
    unpacked: u64,
    /// A CRC32 over the (unpadded, unpacked) pairs in order.
    hash: u32,
}

impl Tally {
    fn add(&mut self, unpadded: u64, unpacked: u64) -> Result<(), XzError> {
        let mut pair = [0u8; 16];
        pair[..8].copy_from_slice(&unpadded.to_le_bytes());
        pair[8..].copy_from_slice(&unpacked.to_le_bytes());
        let mut chained = [0u8; 20];
        chained[..4].copy_from_slice(&self.hash.to_le_bytes());
        chained[4..].copy_from_slice(&pair);
        self.hash = crc32(&chained);
        self.blocks += 1;
        self.unpadded = self.unpadded.checked_add(unpadded).ok_or(XzError::Corrupt)?;
        self.unpacked = self.unpacked.checked_add(unpacked).ok_or(XzError::Corrupt)?;
        Ok(())
    }
}

/// Decodes the xz stream at the start of `input` into `out`.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<Decoded, XzError> {
    let mut r = Reader { b: input, at: 0 };
    let header = r.take(12).map_err(|_| XzError::Format)?;
    if header[..6] != HEADER_MAGIC {
        return Err(XzError::Format);
    }
    let flags = [header[6], header[7]];
    if crc32(&flags).to_le_bytes() != header[8..12] {
        return Err(XzError::Format);
    }
    if flags[0] != 0 || flags[1] & 0xf0 != 0 {
        return Err(XzError::Unsupported);
    }
    let check = Check::from_id(flags[1])?;
    let mut lzma = Box::new(Lzma::new());
    let mut produced = 0usize;
    let mut blocks = Tally::default();
    loop {
        let start = r.at;
        let size_byte = r.byte()?;
        if size_byte == 0 {
            break;
        }
        r.take((usize::from(size_byte) + 1) * 4 - 1)?;
        let h = block_header(&input[start..r.at])?;
        let data_start = r.at;
        let (consumed, end) = lzma2::decode(&input[data_start..], out, produced, h.dict_size as usize, &mut lzma)?;
        r.at += consumed;
        let unpacked = (end - produced) as u64;
        if h.packed.is_some_and(|p| p != consumed as u64) || h.unpacked.is_some_and(|u| u != unpacked) {
            return Err(XzError::Corrupt);
        }
        let padding = (4 - (r.at - start) % 4) % 4;
        if r.take(padding)?.iter().any(|&b| b != 0) {
            return Err(XzError::Corrupt);
        }
        let data = &mut out[produced..end];
        if let Some(s) = h.x86_start {
            x86_decode(data, s);
        }
        if !check.matches(data, r.take(check.size())?) {
            return Err(XzError::CheckMismatch);
        }
        blocks.add((h.size + consumed + check.size()) as u64, unpacked)?;
        produced = end;
    }
    let index_start = r.at - 1;
    index(&mut r, &blocks)?;
    let index_size = r.at - index_start;
    let footer = r.take(12)?;
    if crc32(&footer[4..10]).to_le_bytes() != footer[..4] || footer[10..] != FOOTER_MAGIC {
        return Err(XzError::Format);
    }
    let backward = u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]);
    if (u64::from(backward) + 1) * 4 != index_size as u64 || footer[8..10] != flags {
        return Err(XzError::Corrupt);
    }
    Ok(Decoded { consumed: r.at, produced })
}

/// Reads the index (its indicator byte already read) and checks that it
/// lists exactly the blocks decoded.
fn index(r: &mut Reader, blocks: &Tally) -> Result<(), XzError> {
    let start = r.at - 1;
    let count = r.vli()?;
    if count != blocks.blocks {
        return Err(XzError::Corrupt);
    }
    let mut listed = Tally::default();
    for _ in 0..count {
        let unpadded = r.vli()?;
        let unpacked = r.vli()?;
        listed.add(unpadded, unpacked)?;
    }
    if listed != *blocks {
        return Err(XzError::Corrupt);
    }
    let padding = (4 - (r.at - start) % 4) % 4;
    if r.take(padding)?.iter().any(|&b| b != 0) {
        return Err(XzError::Corrupt);
    }
    let body = &r.b[start..r.at];
    let stored = r.take(4)?;
    if crc32(body).to_le_bytes() != stored {
        return Err(XzError::Format);
    }
    Ok(())
}
