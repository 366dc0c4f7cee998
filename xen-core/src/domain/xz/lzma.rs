//! The LZMA decoder proper: a range decoder and the literal/match/rep
//! symbol model, decoding one LZMA2 chunk straight into the output buffer,
//! which is also the dictionary (matches copy from bytes already written).
//!
//! Shaped for TCG, where a guest memory access costs several times an
//! ALU instruction: the range decoder and the match state live in locals
//! for a whole chunk (registers after inlining), only the probabilities
//! (about 28 KiB, 6 KiB of it hot) and the output are touched in memory,
//! and matches that do not overlap their source copy eight bytes a move.
//!
//! Every input is untrusted: reads past the chunk's compressed bytes give
//! zeros and are caught when the chunk ends (its compressed size must be
//! consumed exactly); a distance reaching before the dictionary's start
//! or beyond its size, or a match running past the chunk's end, is an
//! error; each loop turn writes at least one byte, so a chunk costs at
//! most its uncompressed size in turns.

use super::XzError;

const STATES: usize = 12;
const POS_STATES_MAX: usize = 1 << 4;
const LITERAL_CODER_SIZE: usize = 0x300;
const LITERAL_CODERS_MAX: usize = 1 << 4;
const MATCH_LEN_MIN: u32 = 2;
const DIST_STATES: usize = 4;
const DIST_SLOTS: usize = 64;
const DIST_MODEL_START: u32 = 4;
const DIST_MODEL_END: u32 = 14;
const FULL_DISTANCES: usize = 128;
const ALIGN_BITS: u32 = 4;
const PROB_INIT: u16 = 1 << 10;
const BIT_MODEL_TOTAL_BITS: u32 = 11;
const MOVE_BITS: u32 = 5;
const TOP: u32 = 1 << 24;

/// Probabilities of one length coder (match or rep lengths).
#[derive(Clone)]
struct LenProbs {
    choice: u16,
    choice2: u16,
    low: [[u16; 8]; POS_STATES_MAX],
    mid: [[u16; 8]; POS_STATES_MAX],
    high: [u16; 256],
}

impl LenProbs {
    const INIT: LenProbs = LenProbs {
        choice: PROB_INIT,
        choice2: PROB_INIT,
        low: [[PROB_INIT; 8]; POS_STATES_MAX],
        mid: [[PROB_INIT; 8]; POS_STATES_MAX],
        high: [PROB_INIT; 256],
    };
}

/// An LZMA decoder's model: its properties, its probabilities and the
/// state carried from one chunk to the next (a chunk without a state reset
/// continues where the last one stopped).
pub struct Lzma {
    lc: u32,
    literal_mask: usize,
    pos_mask: usize,
    state: usize,
    rep: [u32; 4],
    is_match: [u16; STATES * POS_STATES_MAX],
    is_rep: [u16; STATES],
    is_rep0: [u16; STATES],
    is_rep1: [u16; STATES],
    is_rep2: [u16; STATES],
    is_rep0_long: [u16; STATES * POS_STATES_MAX],
    dist_slot: [[u16; DIST_SLOTS]; DIST_STATES],
    dist_special: [u16; FULL_DISTANCES - DIST_MODEL_END as usize],
    dist_align: [u16; 1 << ALIGN_BITS],
    match_len: LenProbs,
    rep_len: LenProbs,
    literal: [[u16; LITERAL_CODER_SIZE]; LITERAL_CODERS_MAX],
}

/// The range decoder, copied into locals for a chunk.
struct Rc<'a> {
    range: u32,
    code: u32,
    input: &'a [u8],
    at: usize,
}

impl Rc<'_> {
    #[inline(always)]
    fn normalize(&mut self) {
        if self.range < TOP {
            self.range <<= 8;
            // Past the chunk's end: zeros; the caller then sees `at` beyond
            // the compressed size and refuses the chunk.
            let b = self.input.get(self.at).copied().unwrap_or(0);
            self.code = (self.code << 8) | u32::from(b);
            self.at += 1;
        }
    }

    #[inline(always)]
    fn bit(&mut self, prob: &mut u16) -> bool {
        self.normalize();
        let p = u32::from(*prob);
        let bound = (self.range >> BIT_MODEL_TOTAL_BITS) * p;
        if self.code < bound {
            self.range = bound;
            *prob = (p + (((1 << BIT_MODEL_TOTAL_BITS) - p) >> MOVE_BITS)) as u16;
            false
        } else {
            self.range -= bound;
            self.code -= bound;
            *prob = (p - (p >> MOVE_BITS)) as u16;
            true
        }
    }

    /// A bit as 0 or 1 without a branch on its value: inside a tree the
    /// bit only steers the index, and under TCG every conditional branch
    /// ends a translation block (the guest registers go back to memory),
    /// which costs more than the few extra ALU operations here.
    #[inline(always)]
    fn bit_value(&mut self, prob: &mut u16) -> usize {
        self.normalize();
        let p = u32::from(*prob);
        let bound = (self.range >> BIT_MODEL_TOTAL_BITS) * p;
        let one = u32::from(self.code >= bound);
        let mask = 0u32.wrapping_sub(one);
        self.range = (bound & !mask) | (self.range.wrapping_sub(bound) & mask);
        self.code = self.code.wrapping_sub(bound & mask);
        let if_zero = p + (((1 << BIT_MODEL_TOTAL_BITS) - p) >> MOVE_BITS);
        let if_one = p - (p >> MOVE_BITS);
        *prob = ((if_zero & !mask) | (if_one & mask)) as u16;
        one as usize
    }

    /// A `bits`-bit symbol, most significant bit first, from `probs[1..]`.
    #[inline(always)]
    fn tree(&mut self, probs: &mut [u16], bits: u32) -> u32 {
        let mut sym = 1usize;
        for _ in 0..bits {
            sym = (sym << 1) | self.bit_value(&mut probs[sym]);
        }
        (sym - (1 << bits)) as u32
    }

    /// A `bits`-bit symbol, least significant bit first, from the tree
    /// `probs` (its node `n`, counted from 1, at `probs[n - 1]`).
    #[inline(always)]
    fn reverse_tree(&mut self, probs: &mut [u16], bits: u32) -> u32 {
        let mut sym = 1usize;
        let mut out = 0u32;
        for i in 0..bits {
            let b = self.bit_value(&mut probs[sym - 1]);
            sym = (sym << 1) | b;
            out |= (b as u32) << i;
        }
        out
    }

    /// `bits` bits of equal probability.
    #[inline(always)]
    fn direct(&mut self, bits: u32, mut acc: u32) -> u32 {
        for _ in 0..bits {
            self.normalize();
            self.range >>= 1;
            self.code = self.code.wrapping_sub(self.range);
            let mask = 0u32.wrapping_sub(self.code >> 31);
            self.code = self.code.wrapping_add(self.range & mask);
            acc = (acc << 1).wrapping_add(mask.wrapping_add(1));
        }
        acc
    }

    #[inline(always)]
    fn len(&mut self, l: &mut LenProbs, pos_state: usize) -> u32 {
        if !self.bit(&mut l.choice) {
            MATCH_LEN_MIN + self.tree(&mut l.low[pos_state], 3)
        } else if !self.bit(&mut l.choice2) {
            MATCH_LEN_MIN + 8 + self.tree(&mut l.mid[pos_state], 3)
        } else {
            MATCH_LEN_MIN + 16 + self.tree(&mut l.high, 8)
        }
    }
}

impl Lzma {
    /// A decoder with properties lc=0, lp=0, pb=0 until [`Lzma::set_props`].
    pub fn new() -> Lzma {
        Lzma {
            lc: 0,
            literal_mask: 0,
            pos_mask: 0,
            state: 0,
            rep: [0; 4],
            is_match: [PROB_INIT; STATES * POS_STATES_MAX],
            is_rep: [PROB_INIT; STATES],
            is_rep0: [PROB_INIT; STATES],
            is_rep1: [PROB_INIT; STATES],
            is_rep2: [PROB_INIT; STATES],
            is_rep0_long: [PROB_INIT; STATES * POS_STATES_MAX],
            dist_slot: [[PROB_INIT; DIST_SLOTS]; DIST_STATES],
            dist_special: [PROB_INIT; FULL_DISTANCES - DIST_MODEL_END as usize],
            dist_align: [PROB_INIT; 1 << ALIGN_BITS],
            match_len: LenProbs::INIT,
            rep_len: LenProbs::INIT,
            literal: [[PROB_INIT; LITERAL_CODER_SIZE]; LITERAL_CODERS_MAX],
        }
    }

    /// Takes an LZMA2 properties byte ((pb * 5 + lp) * 9 + lc, with
    /// lc + lp at most 4). The caller resets the state after.
    pub fn set_props(&mut self, props: u8) -> Result<(), XzError> {
        let p = u32::from(props);
        if p >= 9 * 5 * 5 {
            return Err(XzError::Corrupt);
        }
        let (lc, lp, pb) = (p % 9, (p / 9) % 5, p / 45);
        if lc + lp > 4 {
            return Err(XzError::Corrupt);
        }
        self.lc = lc;
        self.literal_mask = (1 << lp) - 1;
        self.pos_mask = (1 << pb) - 1;
        Ok(())
    }

    /// Forgets the model (an LZMA2 state reset): every probability back
    /// to one half, the state and the repeated distances to zero.
    pub fn reset(&mut self) {
        let used = ((self.literal_mask + 1) << self.lc).min(LITERAL_CODERS_MAX);
        self.state = 0;
        self.rep = [0; 4];
        self.is_match = [PROB_INIT; STATES * POS_STATES_MAX];
        self.is_rep = [PROB_INIT; STATES];
        self.is_rep0 = [PROB_INIT; STATES];
        self.is_rep1 = [PROB_INIT; STATES];
        self.is_rep2 = [PROB_INIT; STATES];
        self.is_rep0_long = [PROB_INIT; STATES * POS_STATES_MAX];
        self.dist_slot = [[PROB_INIT; DIST_SLOTS]; DIST_STATES];
        self.dist_special = [PROB_INIT; FULL_DISTANCES - DIST_MODEL_END as usize];
        self.dist_align = [PROB_INIT; 1 << ALIGN_BITS];
        self.match_len = LenProbs::INIT;
        self.rep_len = LenProbs::INIT;
        for coder in &mut self.literal[..used] {
            *coder = [PROB_INIT; LITERAL_CODER_SIZE];
        }
    }

    /// Decodes one chunk: `input` is exactly its compressed bytes, and it
    /// produces `out[pos..end]`. The dictionary is `out[dict_start..pos]`,
    /// of which distances may reach back at most `dict_size` bytes.
    pub fn decode_chunk(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        dict_start: usize,
        mut pos: usize,
        end: usize,
        dict_size: usize,
    ) -> Result<(), XzError> {
        if end > out.len() || pos > end || dict_start > pos || input.len() < 5 || input[0] != 0 {
            return Err(XzError::Corrupt);
        }
        let mut rc =
            Rc { range: u32::MAX, code: u32::from_be_bytes([input[1], input[2], input[3], input[4]]), input, at: 5 };
        let mut state = self.state;
        let [mut rep0, mut rep1, mut rep2, mut rep3] = self.rep;
        let (lc, literal_mask, pos_mask) = (self.lc, self.literal_mask, self.pos_mask);
        while pos < end {
            let pos_state = (pos - dict_start) & pos_mask;
            if !rc.bit(&mut self.is_match[state * POS_STATES_MAX + pos_state]) {
                let prev = if pos > dict_start { out[pos - 1] } else { 0 };
                let coder = ((((pos - dict_start) & literal_mask) << lc) + (usize::from(prev) >> (8 - lc)))
                    & (LITERAL_CODERS_MAX - 1);
                let probs = &mut self.literal[coder];
                let mut sym = 1usize;
                if state < 7 {
                    for _ in 0..8 {
                        sym = (sym << 1) | rc.bit_value(&mut probs[sym & 0xff]);
                    }
                } else {
                    // A literal right after a match: the byte at rep0
                    // steers the model until the first differing bit.
                    let mut match_byte = usize::from(out[pos - rep0 as usize - 1]) << 1;
                    let mut offset = 0x100usize;
                    for _ in 0..8 {
                        let match_bit = match_byte & offset;
                        match_byte <<= 1;
                        let b = rc.bit_value(&mut probs[(offset + match_bit + sym) % LITERAL_CODER_SIZE]);
                        sym = (sym << 1) | b;
                        // On a 1 the offset becomes match_bit, on a 0 it
                        // keeps only the bits match_bit lacks.
                        let keep = 0usize.wrapping_sub(b);
                        offset = (match_bit & keep) | (offset & !match_bit & !keep);
                    }
                }
                out[pos] = sym as u8;
                pos += 1;
                state = if state < 4 {
                    0
                } else if state < 10 {
                    state - 3
                } else {
                    state - 6
                };
                continue;
            }
            let len;
            if !rc.bit(&mut self.is_rep[state]) {
                // A new match: its length, then its distance.
                state = if state < 7 { 7 } else { 10 };
                len = rc.len(&mut self.match_len, pos_state);
                rep3 = rep2;
                rep2 = rep1;
                rep1 = rep0;
                let dist_state = (len - MATCH_LEN_MIN).min(DIST_STATES as u32 - 1) as usize;
                let slot = rc.tree(&mut self.dist_slot[dist_state], 6);
                rep0 = if slot < DIST_MODEL_START {
                    slot
                } else {
                    let bits = (slot >> 1) - 1;
                    let base = (2 | (slot & 1)) << bits;
                    if slot < DIST_MODEL_END {
                        let probs = &mut self.dist_special[(base - slot) as usize..];
                        base + rc.reverse_tree(probs, bits)
                    } else {
                        let high = rc.direct(bits - ALIGN_BITS, 2 | (slot & 1)) << ALIGN_BITS;
                        high.wrapping_add(rc.reverse_tree(&mut self.dist_align, ALIGN_BITS))
                    }
                };
            } else if !rc.bit(&mut self.is_rep0[state]) {
                if !rc.bit(&mut self.is_rep0_long[state * POS_STATES_MAX + pos_state]) {
                    // A short rep: one byte from rep0.
                    state = if state < 7 { 9 } else { 11 };
                    let dist = rep0 as usize;
                    if dist >= (pos - dict_start).min(dict_size) {
                        return Err(XzError::Corrupt);
                    }
                    out[pos] = out[pos - dist - 1];
                    pos += 1;
                    continue;
                }
                state = if state < 7 { 8 } else { 11 };
                len = rc.len(&mut self.rep_len, pos_state);
            } else {
                let dist;
                if !rc.bit(&mut self.is_rep1[state]) {
                    dist = rep1;
                } else {
                    if !rc.bit(&mut self.is_rep2[state]) {
                        dist = rep2;
                    } else {
                        dist = rep3;
                        rep3 = rep2;
                    }
                    rep2 = rep1;
                }
                rep1 = rep0;
                rep0 = dist;
                state = if state < 7 { 8 } else { 11 };
                len = rc.len(&mut self.rep_len, pos_state);
            }
            // The copy: the distance must stay inside the dictionary (this
            // also refuses the end-of-payload marker, rep0 = u32::MAX, which
            // LZMA2 does not use) and the match inside the chunk.
            let dist = rep0 as usize;
            let len = len as usize;
            if dist >= (pos - dict_start).min(dict_size) || len > end - pos {
                return Err(XzError::Corrupt);
            }
            copy_match(out, pos, dist + 1, len);
            pos += len;
        }
        rc.normalize();
        self.state = state;
        self.rep = [rep0, rep1, rep2, rep3];
        if rc.at != input.len() || rc.code != 0 {
            return Err(XzError::Corrupt);
        }
        Ok(())
    }
}

impl Default for Lzma {
    fn default() -> Self {
        Lzma::new()
    }
}

/// Copies `len` bytes from `back` bytes behind `pos` to `pos` (the source
/// may overlap the destination, as a run does). The caller has checked
/// `back <= pos` and `pos + len <= out.len()`.
///
/// Eight bytes a move where it can: a copy is periodic with period `back`,
/// so once `period - back` bytes are written (`period` the least multiple
/// of `back` that is at least 8), each 8-byte load from `period` bytes
/// behind ends at or before the store that follows, and reads only
/// finished bytes. The last store may run up to seven bytes past the
/// match, into output not yet written, which later symbols overwrite.
#[inline(always)]
fn copy_match(out: &mut [u8], pos: usize, back: usize, len: usize) {
    let src = pos - back;
    if pos + len + 8 > out.len() {
        for i in 0..len {
            out[pos + i] = out[src + i];
        }
        return;
    }
    let (period, head) = if back >= 8 { (back, 0) } else { PERIODS[back] };
    let head = head.min(len);
    for i in 0..head {
        out[pos + i] = out[src + i];
    }
    let mut i = head;
    while i < len {
        let from = pos + i - period;
        let w: [u8; 8] = out[from..from + 8].try_into().unwrap_or([0; 8]);
        out[pos + i..pos + i + 8].copy_from_slice(&w);
        i += 8;
    }
}

/// For distances (`back`) 1 to 7: the least multiple of `back` that is at
/// least 8, and how many bytes to copy one at a time before it serves.
const PERIODS: [(usize, usize); 8] = [(8, 0), (8, 7), (8, 6), (9, 6), (8, 4), (10, 5), (12, 6), (14, 7)];
