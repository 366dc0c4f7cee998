//! A decoder for the instructions a kernel writes its page-table entries
//! with: one memory destination, written by `mov` (88/89, C6/C7 /0),
//! `xchg` (86/87), `cmpxchg` (0F B0/B1), `and`/`or` (20/21, 08/09,
//! 80/81/83 /4 and /1: Linux's `clear_bit`/`set_bit` of a constant bit)
//! and `bts`/`btr` (0F AB/B3, 0F BA /5 /6: `test_and_set_bit` and
//! `test_and_clear_bit`), with legacy prefixes, LOCK and REX.
//!
//! The writable-page-table emulation ([`super::pte_write`]) uses it, and
//! shadow paging will. Register destinations, loads and every other
//! opcode are [`DecodeError::Unsupported`]: the fault goes to the guest.

use super::decoder::{DecodeError, Seg, MAX_LEN};
use crate::domain::emulate::read_reg;
use crate::domain::vcpu::GuestContext;

/// Where a source operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// General register `n` (x86 numbering; for byte operations with a
    /// REX prefix, 4–7 are SPL, BPL, SIL, DIL).
    Reg(u8),
    /// AH, CH, DH or BH: bits 15:8 of register 0–3 (byte operations
    /// without REX).
    HighByte(u8),
    /// An immediate, sign-extended to the operand size.
    Imm(u64),
}

/// What the instruction does to its memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Stores the source.
    Mov(Src),
    /// Swaps memory with a register.
    Xchg(Src),
    /// Compares the accumulator with memory; stores the register if equal,
    /// else loads memory into the accumulator.
    Cmpxchg(Src),
    /// Memory AND source.
    And(Src),
    /// Memory OR source.
    Or(Src),
    /// Sets the bit the source numbers; CF is its old value.
    Bts(Src),
    /// Clears the bit the source numbers; CF is its old value.
    Btr(Src),
}

/// A memory operand: `seg:[base + index * scale + disp]`, or RIP-relative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemOperand {
    /// Base register.
    pub base: Option<u8>,
    /// Index register.
    pub index: Option<u8>,
    /// 1, 2, 4 or 8.
    pub scale: u8,
    /// Sign-extended displacement.
    pub disp: i64,
    /// Relative to the next instruction (`disp` is then from its end).
    pub rip_relative: bool,
    /// 67: the address is computed in 32 bits.
    pub addr32: bool,
    /// An FS or GS override (the others mean nothing in 64-bit mode).
    pub seg: Option<Seg>,
}

/// A decoded store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    /// The operation.
    pub op: StoreOp,
    /// Operand size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// The destination.
    pub mem: MemOperand,
    /// Instruction length (1..=15).
    pub len: u8,
    /// A LOCK prefix (accepted only where the hardware accepts it).
    pub lock: bool,
}

impl MemOperand {
    /// The linear address for `ctx`'s registers, with the instruction
    /// ending at `next_rip` and `seg_base` the base of its segment
    /// (0 unless FS or GS).
    pub fn address(&self, ctx: &GuestContext, next_rip: u64, seg_base: u64) -> u64 {
        let mut ea = if self.rip_relative { next_rip } else { self.base.map_or(0, |r| read_reg(ctx, r)) };
        if let Some(i) = self.index {
            ea = ea.wrapping_add(read_reg(ctx, i).wrapping_mul(u64::from(self.scale)));
        }
        ea = ea.wrapping_add(self.disp as u64);
        if self.addr32 {
            ea &= 0xFFFF_FFFF;
        }
        seg_base.wrapping_add(ea)
    }
}

/// Builds the operation from its source.
type MakeOp = fn(Src) -> StoreOp;

/// How an opcode continues after its ModRM byte.
#[derive(Clone, Copy)]
enum Form {
    /// The source is the ModRM reg field.
    RegSrc(MakeOp),
    /// The reg field is an extension selecting the op; an immediate of
    /// `ImmKind` follows the operand.
    Group(fn(u8) -> Option<MakeOp>, ImmKind),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ImmKind {
    /// 8 bits, sign-extended.
    Byte,
    /// The operand size, but at most 32 bits, sign-extended.
    Full,
}

/// (form, byte-sized) for a one-byte opcode.
fn one_byte(op: u8) -> Option<(Form, bool)> {
    use Form::*;
    Some(match op {
        0x88 => (RegSrc(StoreOp::Mov), true),
        0x89 => (RegSrc(StoreOp::Mov), false),
        0x86 => (RegSrc(StoreOp::Xchg), true),
        0x87 => (RegSrc(StoreOp::Xchg), false),
        0x20 => (RegSrc(StoreOp::And), true),
        0x21 => (RegSrc(StoreOp::And), false),
        0x08 => (RegSrc(StoreOp::Or), true),
        0x09 => (RegSrc(StoreOp::Or), false),
        0xC6 => (Group(mov_group, ImmKind::Byte), true),
        0xC7 => (Group(mov_group, ImmKind::Full), false),
        0x80 => (Group(alu_group, ImmKind::Byte), true),
        0x81 => (Group(alu_group, ImmKind::Full), false),
        0x83 => (Group(alu_group, ImmKind::Byte), false),
        _ => return None,
    })
}

fn two_byte(op: u8) -> Option<(Form, bool)> {
    use Form::*;
    Some(match op {
        0xB0 => (RegSrc(StoreOp::Cmpxchg), true),
        0xB1 => (RegSrc(StoreOp::Cmpxchg), false),
        0xAB => (RegSrc(StoreOp::Bts), false),
        0xB3 => (RegSrc(StoreOp::Btr), false),
        0xBA => (Group(bit_group, ImmKind::Byte), false),
        _ => return None,
    })
}

fn mov_group(ext: u8) -> Option<fn(Src) -> StoreOp> {
    (ext == 0).then_some(StoreOp::Mov as MakeOp)
}

fn alu_group(ext: u8) -> Option<fn(Src) -> StoreOp> {
    match ext {
        1 => Some(StoreOp::Or),
        4 => Some(StoreOp::And),
        _ => None,
    }
}

fn bit_group(ext: u8) -> Option<fn(Src) -> StoreOp> {
    match ext {
        5 => Some(StoreOp::Bts),
        6 => Some(StoreOp::Btr),
        _ => None,
    }
}

fn is_legacy_prefix(b: u8) -> bool {
    matches!(b, 0x66 | 0x67 | 0xF2 | 0xF3 | 0x2E | 0x36 | 0x3E | 0x26 | 0x64 | 0x65 | 0xF0)
}

/// Decodes the store at the start of `code` (at most 15 bytes are looked
/// at).
///
/// # Errors
/// [`DecodeError::Truncated`] if `code` ends inside the instruction;
/// [`DecodeError::Unsupported`] for anything but the stores above (a
/// register destination, a LOCK the hardware would refuse, an unused
/// group extension, more than 15 bytes).
pub fn decode(code: &[u8]) -> Result<Store, DecodeError> {
    let code = &code[..code.len().min(MAX_LEN)];
    let byte = |i: usize| {
        code.get(i).copied().ok_or(if i < MAX_LEN { DecodeError::Truncated } else { DecodeError::Unsupported })
    };
    let (mut opsize16, mut addr32, mut lock, mut seg, mut rex) = (false, false, false, None, 0u8);
    let mut i = 0;
    let op = loop {
        let b = byte(i)?;
        i += 1;
        match b {
            0x66 => opsize16 = true,
            0x67 => addr32 = true,
            // REP/XACQUIRE/XRELEASE change nothing for these opcodes.
            0xF2 | 0xF3 => {}
            0xF0 => lock = true,
            0x2E | 0x36 | 0x3E | 0x26 => seg = None,
            0x64 => seg = Some(Seg::Fs),
            0x65 => seg = Some(Seg::Gs),
            0x40..=0x4F => {
                rex = b;
                // REX counts only directly before the opcode.
                if is_legacy_prefix(byte(i)?) {
                    rex = 0;
                }
            }
            _ => break b,
        }
    };
    let (w, r, x, b) = ((rex >> 3) & 1 != 0, (rex >> 2) & 1, (rex >> 1) & 1, rex & 1);
    let (form, byte_op) = if op == 0x0F {
        let o = byte(i)?;
        i += 1;
        two_byte(o)
    } else {
        one_byte(op)
    }
    .ok_or(DecodeError::Unsupported)?;
    let size = if byte_op {
        1
    } else if w {
        8
    } else if opsize16 {
        2
    } else {
        4
    };
    let modrm = byte(i)?;
    i += 1;
    let (md, reg, rm) = (modrm >> 6, ((modrm >> 3) & 7) | (r << 3), modrm & 7);
    if md == 3 {
        return Err(DecodeError::Unsupported);
    }
    let mut mem = MemOperand { base: None, index: None, scale: 1, disp: 0, rip_relative: false, addr32, seg };
    let disp_len = match md {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    let disp_len = if rm == 4 {
        let sib = byte(i)?;
        i += 1;
        let index = ((sib >> 3) & 7) | (x << 3);
        mem.index = (index != 4).then_some(index);
        mem.scale = 1 << (sib >> 6);
        if sib & 7 == 5 && md == 0 {
            4
        } else {
            mem.base = Some((sib & 7) | (b << 3));
            disp_len
        }
    } else if rm == 5 && md == 0 {
        mem.rip_relative = true;
        4
    } else {
        mem.base = Some(rm | (b << 3));
        disp_len
    };
    let mut take = |n: usize| -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for k in 0..n {
            v |= u64::from(byte(i + k)?) << (8 * k);
        }
        i += n;
        // Sign-extended from n bytes.
        Ok(if n == 0 { 0 } else { ((v << (64 - 8 * n)) as i64 >> (64 - 8 * n)) as u64 })
    };
    mem.disp = take(disp_len)? as i64;
    let op = match form {
        Form::RegSrc(f) => {
            f(if byte_op && rex == 0 && (4..8).contains(&reg) { Src::HighByte(reg - 4) } else { Src::Reg(reg) })
        }
        Form::Group(g, imm) => {
            let f = g((modrm >> 3) & 7).ok_or(DecodeError::Unsupported)?;
            let n = match imm {
                ImmKind::Byte => 1,
                ImmKind::Full => usize::from(size.min(4)),
            };
            f(Src::Imm(take(n)?))
        }
    };
    if i > MAX_LEN {
        return Err(DecodeError::Unsupported);
    }
    // LOCK is #UD on a plain store; xchg with memory locks anyway.
    if lock && matches!(op, StoreOp::Mov(_)) {
        return Err(DecodeError::Unsupported);
    }
    Ok(Store { op, size, mem, len: i as u8, lock })
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
