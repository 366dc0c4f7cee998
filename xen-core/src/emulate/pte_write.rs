//! Emulating a guest kernel's write to one of its page tables through a
//! read-only mapping ("writable page tables", Xen's ptwr): the store at
//! RIP is decoded ([`super::store`]), its address must be the faulting
//! one and naturally aligned, a write of fewer than 8 bytes is merged into
//! the whole entry, and the entry the instruction would leave is checked
//! and written by the [`PteTables`] behind it, which apply the same rules
//! as an `mmu_update`. Only then do the registers, flags and RIP change.
//! Anything that does not fit is [`NotEmulated`]: the guest gets its page
//! fault, as on Xen.
//!
//! Pure: the tables come through [`PteTables`] (direct paging's
//! validated L1 tables today; shadow paging's later).

use super::store::{self, Src, Store, StoreOp};
use crate::domain::emulate::{read_reg, write_reg};
use crate::domain::vcpu::GuestContext;

/// The page tables a write may land in.
pub trait PteTables {
    /// The 8-byte entry at `va` (8-aligned), if `va` lies in a table
    /// whose writes are emulated.
    fn entry(&mut self, va: u64) -> Option<u64>;
    /// Checks `new` and, if accepted, makes it the entry.
    fn update(&mut self, va: u64, new: u64) -> bool;
}

/// Why a write was left to fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotEmulated {
    /// The instruction is not one of the stores [`store`] decodes.
    Instruction,
    /// Its destination is not the faulting address.
    Address,
    /// The access is not naturally aligned.
    Misaligned,
    /// The page is not a table these writes go to.
    NotATable,
    /// The entry it would write is refused.
    Refused,
}

/// The segment bases an FS or GS override adds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegBases {
    /// FS base.
    pub fs: u64,
    /// The GS base in effect (the kernel's, for a kernel-mode write).
    pub gs: u64,
}

/// RFLAGS bits the stores change.
const CF: u64 = 1 << 0;
const PF: u64 = 1 << 2;
const AF: u64 = 1 << 4;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const OF: u64 = 1 << 11;
const ARITH: u64 = CF | PF | AF | ZF | SF | OF;

/// Emulates the store `code` begins with (the bytes at `ctx.rip`), which
/// faulted writing `cr2`. On success `ctx` holds the state after the
/// instruction, RIP past it.
///
/// # Errors
/// Why it is not emulated; `ctx` is then unchanged.
pub fn emulate<T: PteTables>(
    code: &[u8],
    ctx: &mut GuestContext,
    cr2: u64,
    seg: SegBases,
    tables: &mut T,
) -> Result<(), NotEmulated> {
    let s = store::decode(code).map_err(|_| NotEmulated::Instruction)?;
    let next_rip = ctx.rip.wrapping_add(u64::from(s.len));
    let base = match s.mem.seg {
        Some(super::decoder::Seg::Fs) => seg.fs,
        Some(super::decoder::Seg::Gs) => seg.gs,
        None => 0,
    };
    let va = access_address(&s, ctx, s.mem.address(ctx, next_rip, base));
    if va != cr2 {
        return Err(NotEmulated::Address);
    }
    let size = u64::from(s.size);
    if !va.is_multiple_of(size) {
        return Err(NotEmulated::Misaligned);
    }
    let slot = va & !7;
    let full = tables.entry(slot).ok_or(NotEmulated::NotATable)?;
    let shift = (va & 7) * 8;
    let mask = ones(s.size);
    let merge = |part: u64| (full & !(mask << shift)) | ((part & mask) << shift);
    let mut after = *ctx;
    // A failed `cmpxchg` writes nothing, so nothing is checked: Xen's
    // emulator decides the comparison on the value it read.
    let written = execute(&s, &mut after, (full >> shift) & mask);
    if written.is_some_and(|v| !tables.update(slot, merge(v))) {
        return Err(NotEmulated::Refused);
    }
    after.rip = next_rip;
    *ctx = after;
    Ok(())
}

/// The address a bit instruction with a register bit number really
/// touches: the number is signed and may reach beyond the operand.
fn access_address(s: &Store, ctx: &GuestContext, ea: u64) -> u64 {
    match s.op {
        StoreOp::Bts(Src::Reg(r)) | StoreOp::Btr(Src::Reg(r)) => {
            let bits = u32::from(s.size) * 8;
            let n = sign_extend(read_reg(ctx, r), s.size) as i64;
            ea.wrapping_add(((n >> bits.trailing_zeros()) as u64).wrapping_mul(u64::from(s.size)))
        }
        _ => ea,
    }
}

/// Performs `s` on registers and flags in `ctx`, memory holding `old`:
/// the operand-sized value it stores, `None` for a failed `cmpxchg`.
fn execute(s: &Store, ctx: &mut GuestContext, old: u64) -> Option<u64> {
    let size = s.size;
    let mask = ones(size);
    let value = |ctx: &GuestContext, src: Src| match src {
        Src::Reg(r) => read_reg(ctx, r) & mask,
        Src::HighByte(r) => (read_reg(ctx, r) >> 8) & 0xFF,
        Src::Imm(v) => v & mask,
    };
    match s.op {
        StoreOp::Mov(src) => Some(value(ctx, src)),
        StoreOp::Xchg(src) => {
            let v = value(ctx, src);
            write_sized(ctx, src, size, old);
            Some(v)
        }
        StoreOp::Cmpxchg(src) => {
            let v = value(ctx, src);
            let acc = read_reg(ctx, 0) & mask;
            set_flags(ctx, sub_flags(acc, old, size));
            if acc == old {
                Some(v)
            } else {
                write_sized(ctx, Src::Reg(0), size, old);
                None
            }
        }
        StoreOp::And(src) | StoreOp::Or(src) => {
            let v = value(ctx, src);
            let r = if matches!(s.op, StoreOp::And(_)) { old & v } else { old | v };
            // Logic operations clear CF, OF (and AF).
            set_flags(ctx, result_flags(r, size));
            Some(r)
        }
        StoreOp::Bts(src) | StoreOp::Btr(src) => {
            let bit = value(ctx, src) & (u64::from(size) * 8 - 1);
            let was = (old >> bit) & 1;
            ctx.rflags = (ctx.rflags & !CF) | was;
            Some(if matches!(s.op, StoreOp::Bts(_)) { old | (1 << bit) } else { old & !(1 << bit) })
        }
    }
}

/// All ones in `size` bytes.
fn ones(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1 << (u32::from(size) * 8)) - 1
    }
}

fn sign_extend(v: u64, size: u8) -> u64 {
    let sh = 64 - u32::from(size) * 8;
    ((v << sh) as i64 >> sh) as u64
}

/// Writes `v` to register `dst` as an operand of `size` bytes does: 8 and
/// 16 bits merge, 32 bits zero-extend.
fn write_sized(ctx: &mut GuestContext, dst: Src, size: u8, v: u64) {
    match dst {
        Src::HighByte(r) => write_reg(ctx, r, (read_reg(ctx, r) & !0xFF00) | ((v & 0xFF) << 8)),
        Src::Reg(r) => {
            let merged = match size {
                1 | 2 => (read_reg(ctx, r) & !ones(size)) | (v & ones(size)),
                _ => v & ones(size),
            };
            write_reg(ctx, r, merged);
        }
        Src::Imm(_) => {}
    }
}

fn set_flags(ctx: &mut GuestContext, flags: u64) {
    ctx.rflags = (ctx.rflags & !ARITH) | flags;
}

/// ZF, SF and PF of an operand-sized result.
fn result_flags(r: u64, size: u8) -> u64 {
    let sign = 1u64 << (u32::from(size) * 8 - 1);
    let mut f = 0;
    if r & ones(size) == 0 {
        f |= ZF;
    }
    if r & sign != 0 {
        f |= SF;
    }
    if (r as u8).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    f
}

/// The flags of `cmp a, b` (`a - b`) at `size` bytes.
fn sub_flags(a: u64, b: u64, size: u8) -> u64 {
    let r = a.wrapping_sub(b) & ones(size);
    let sign = 1u64 << (u32::from(size) * 8 - 1);
    let mut f = result_flags(r, size);
    if b > a {
        f |= CF;
    }
    if (a ^ b) & (a ^ r) & sign != 0 {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    f
}

#[cfg(test)]
#[path = "pte_write_tests.rs"]
mod tests;
