//! LZMA2's chunk layer: a control byte per chunk says whether it is
//! stored or LZMA-coded and what it resets (the dictionary, the state, the
//! properties), then gives the chunk's sizes. Output goes straight into
//! the caller's buffer, which is the dictionary.

use super::lzma::Lzma;
use super::XzError;

/// Decodes the LZMA2 data at the start of `input` into `out` from `pos`
/// on, with distances reaching back at most `dict_size` bytes. Returns
/// the input consumed (through the end marker) and the output position
/// after the last byte written.
pub fn decode(
    input: &[u8],
    out: &mut [u8],
    mut pos: usize,
    dict_size: usize,
    lzma: &mut Lzma,
) -> Result<(usize, usize), XzError> {
    let byte = |at: usize| input.get(at).copied().ok_or(XzError::Truncated);
    let be16 = |at: usize| Ok::<usize, XzError>(usize::from(byte(at)?) << 8 | usize::from(byte(at + 1)?));
    let mut at = 0usize;
    let mut dict_start = pos;
    let mut need_dict_reset = true;
    let mut need_props = true;
    loop {
        let control = byte(at)?;
        at += 1;
        if control == 0 {
            return Ok((at, pos));
        }
        if control >= 0xe0 || control == 1 {
            need_props = true;
            need_dict_reset = false;
            dict_start = pos;
        } else if need_dict_reset {
            return Err(XzError::Corrupt);
        }
        if control >= 0x80 {
            let unpacked = (usize::from(control & 0x1f) << 16) + be16(at)? + 1;
            let packed = be16(at + 2)? + 1;
            at += 4;
            if control >= 0xc0 {
                lzma.set_props(byte(at)?)?;
                at += 1;
                need_props = false;
                lzma.reset();
            } else if need_props {
                return Err(XzError::Corrupt);
            } else if control >= 0xa0 {
                lzma.reset();
            }
            let chunk = input.get(at..at + packed).ok_or(XzError::Truncated)?;
            let end = pos + unpacked;
            if end > out.len() {
                return Err(XzError::OutputFull);
            }
            lzma.decode_chunk(chunk, out, dict_start, pos, end, dict_size)?;
            pos = end;
            at += packed;
        } else {
            if control > 2 {
                return Err(XzError::Corrupt);
            }
            let size = be16(at)? + 1;
            at += 2;
            let data = input.get(at..at + size).ok_or(XzError::Truncated)?;
            out.get_mut(pos..pos + size).ok_or(XzError::OutputFull)?.copy_from_slice(data);
            pos += size;
            at += size;
        }
    }
}
