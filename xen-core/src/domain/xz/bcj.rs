//! The x86 BCJ filter's decoder, run once over a whole block's output in
//! place. The encoder turned the relative targets of `call` (E8) and `jmp`
//! (E9) into absolute ones so that repeated calls compress better; this
//! turns them back. It is a pure function of the bytes and their offset in
//! the block's output (plus `start`, the filter's start offset), so one
//! pass over the finished block gives what a streaming decoder gives; the
//! last four bytes, which cannot hold a whole operand, stay as they are.
//!
//! The scan for E8/E9 reads eight bytes at a time (most of a kernel is
//! neither), which matters under TCG, where each load costs far more than
//! the arithmetic around it.

/// Whether a byte is the top byte of a near (sign-extended) displacement.
fn is_ms_byte(b: u8) -> bool {
    b == 0 || b == 0xff
}

/// The index of the first byte at or after `at` that is E8 or E9, if any
/// at or before `limit`.
fn next_opcode(buf: &[u8], mut at: usize, limit: usize) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while at + 8 <= buf.len() {
        let word: [u8; 8] = buf[at..at + 8].try_into().unwrap_or([0; 8]);
        let w = u64::from_le_bytes(word);
        // Zero bytes of x are exactly the E8/E9 bytes of w; the lowest set
        // flag of the classic zero-byte test is never a false positive.
        let x = (w & 0xfefe_fefe_fefe_fefe) ^ 0xe8e8_e8e8_e8e8_e8e8;
        let z = x.wrapping_sub(LOW) & !x & HIGH;
        if z != 0 {
            let i = at + (z.trailing_zeros() / 8) as usize;
            return (i <= limit).then_some(i);
        }
        at += 8;
    }
    while at <= limit {
        if buf[at] & 0xfe == 0xe8 {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// Undoes the x86 filter over `buf`, a block's whole output, whose first
/// byte is at filter position `start`.
pub fn x86_decode(buf: &mut [u8], start: u32) {
    const ALLOWED: [bool; 8] = [true, true, true, false, true, false, false, false];
    const BIT_NUMBER: [u32; 8] = [0, 1, 2, 2, 3, 3, 3, 3];
    if buf.len() < 5 {
        return;
    }
    let limit = buf.len() - 5;
    let mut prev_mask = 0u32;
    let mut prev_pos = start.wrapping_sub(5);
    let mut at = 0usize;
    while let Some(i) = next_opcode(buf, at, limit) {
        let now = start.wrapping_add(i as u32);
        let gap = now.wrapping_sub(prev_pos);
        prev_pos = now;
        if gap > 5 {
            prev_mask = 0;
        } else {
            for _ in 0..gap {
                prev_mask = (prev_mask & 0x77) << 1;
            }
        }
        let b4 = buf[i + 4];
        if is_ms_byte(b4) && ALLOWED[((prev_mask >> 1) & 7) as usize] && (prev_mask >> 1) < 0x10 {
            let mut src = u32::from_le_bytes([buf[i + 1], buf[i + 2], buf[i + 3], b4]);
            let dest = loop {
                let dest = src.wrapping_sub(now.wrapping_add(5));
                if prev_mask == 0 {
                    break dest;
                }
                let n = BIT_NUMBER[(prev_mask >> 1) as usize & 7];
                if !is_ms_byte((dest >> (24 - n * 8)) as u8) {
                    break dest;
                }
                src = dest ^ ((1u32 << (32 - n * 8)) - 1);
            };
            let d = dest.to_le_bytes();
            buf[i + 1] = d[0];
            buf[i + 2] = d[1];
            buf[i + 3] = d[2];
            buf[i + 4] = if (dest >> 24) & 1 != 0 { 0xff } else { 0 };
            at = i + 5;
            prev_mask = 0;
        } else {
            at = i + 1;
            prev_mask |= 1;
            if is_ms_byte(b4) {
                prev_mask |= 0x10;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_with_an_absolute_target_gets_its_relative_one_back() {
        // At offset 16, `call` to absolute 0x1000 is relative 0x1000 - 21.
        let mut b = vec![0x90u8; 32];
        b[16..21].copy_from_slice(&[0xe8, 0x00, 0x10, 0x00, 0x00]);
        x86_decode(&mut b, 0);
        assert_eq!(&b[16..21], &[0xe8, 0xeb, 0x0f, 0x00, 0x00]);
    }

    #[test]
    fn the_last_four_bytes_and_short_buffers_are_left_alone() {
        let mut b = [0x90, 0x90, 0x90, 0xe8, 0x00, 0x10, 0x00, 0x00];
        let orig = b;
        x86_decode(&mut b, 0);
        assert_eq!(b[..3], orig[..3]);
        assert_ne!(b, orig);
        let mut b = [0x90, 0x90, 0x90, 0x90, 0xe8, 0x00, 0x10, 0x00];
        let orig = b;
        x86_decode(&mut b, 0);
        assert_eq!(b, orig);
        let mut short = [0xe8, 0, 0, 0];
        x86_decode(&mut short, 0);
        assert_eq!(short, [0xe8, 0, 0, 0]);
    }

    #[test]
    fn the_word_scan_finds_the_same_opcodes_as_a_byte_scan() {
        let data: Vec<u8> =
            (0..4096u32).map(|i| [0xe8, 0xe9, 0x00, 0xea, 0x68, 0xff][(i * 7 % 13 % 6) as usize]).collect();
        for start in 0..20 {
            let limit = data.len() - 5;
            let want = (start..=limit).find(|&i| data[i] & 0xfe == 0xe8);
            assert_eq!(next_opcode(&data, start, limit), want);
        }
        assert_eq!(next_opcode(&[0x90; 64], 0, 59), None);
        let mut late = [0x90u8; 16];
        late[14] = 0xe8;
        assert_eq!(next_opcode(&late, 0, 11), None);
    }
}
