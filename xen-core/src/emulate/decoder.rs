//! A small table-driven decoder for exactly the instructions the PV
//! emulator handles (fact sheet §5.1): legacy prefixes, REX, then one of
//! the opcodes in [`ONE_BYTE`] / [`TWO_BYTE`]. Everything else is
//! [`DecodeError::Unsupported`] and reflected to the guest as #GP, as Xen
//! reflects what its emulator does not take. Lengths never exceed 15 bytes
//! (the architectural limit: longer is #GP on hardware too).

/// The architectural instruction length limit.
pub const MAX_LEN: usize = 15;

/// Where an `in`/`out` gets its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// An 8-bit immediate.
    Imm(u8),
    /// DX.
    Dx,
}

/// A decoded operation. Register numbers are x86 numbers (0 = RAX … 15);
/// `cr`/`dr` are control/debug register numbers (REX.R included), `size`
/// is in bytes.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ud2; .ascii "xen"; cpuid` (fact sheet §1.4).
    ForcedCpuid,
    /// `rdmsr` (0F 32).
    Rdmsr,
    /// `wrmsr` (0F 30).
    Wrmsr,
    /// `rdtsc` (0F 31).
    Rdtsc,
    /// `rdtscp` (0F 01 F9).
    Rdtscp,
    /// `clts` (0F 06).
    Clts,
    /// `wbinvd` (0F 09), or `wbnoinvd` with F3.
    Wbinvd,
    /// `invd` (0F 08): decoded only to be refused.
    Invd,
    /// `cli` (FA).
    Cli,
    /// `sti` (FB).
    Sti,
    /// `hlt` (F4): decoded only to be refused, as Xen does.
    Hlt,
    /// `mov r, crN` (0F 20).
    MovFromCr { cr: u8, gpr: u8 },
    /// `mov crN, r` (0F 22).
    MovToCr { cr: u8, gpr: u8 },
    /// `mov r, drN` (0F 21).
    MovFromDr { dr: u8, gpr: u8 },
    /// `mov drN, r` (0F 23).
    MovToDr { dr: u8, gpr: u8 },
    /// `in` (E4/E5/EC/ED) of `size` bytes.
    In { port: Port, size: u8 },
    /// `out` (E6/E7/EE/EF).
    Out { port: Port, size: u8 },
    /// `ins` (6C/6D) to ES:RDI from DX.
    Ins { size: u8 },
    /// `outs` (6E/6F) from seg:RSI to DX.
    Outs { size: u8 },
}

/// A segment override that matters in 64-bit mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// 64 prefix.
    Fs,
    /// 65 prefix.
    Gs,
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// What it does.
    pub op: Op,
    /// Its length in bytes (1..=15).
    pub len: u8,
    /// A REP (F3 or F2) prefix was present.
    pub rep: bool,
    /// 67: 32-bit addressing (RCX/RSI/RDI truncated to 32 bits).
    pub addr32: bool,
    /// FS/GS override for `outs`.
    pub seg: Option<Seg>,
}

/// Why bytes did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside the instruction: the caller fetches more or,
    /// when the fetch stopped at a fault, raises #PF there.
    Truncated,
    /// Not an instruction the emulator handles (or longer than 15 bytes).
    Unsupported,
}

/// How a one- or two-byte opcode continues.
#[derive(Clone, Copy)]
enum Form {
    /// Complete after the opcode.
    Bare(Op),
    /// Operand size 1, or 2/4 by the 66 prefix; `f` builds the op.
    Sized(fn(u8) -> Op, bool),
    /// An 8-bit immediate port follows.
    ImmPort(fn(Port, u8) -> Op, bool),
    /// A ModRM byte naming a control/debug register and a GPR.
    CrDr(fn(u8, u8) -> Op),
    /// 0F 01: only `rdtscp` (ModRM F9).
    Group7,
}

fn one_byte(op: u8) -> Option<Form> {
    use Form::*;
    Some(match op {
        0x6C => Sized(|size| Op::Ins { size }, false),
        0x6D => Sized(|size| Op::Ins { size }, true),
        0x6E => Sized(|size| Op::Outs { size }, false),
        0x6F => Sized(|size| Op::Outs { size }, true),
        0xE4 => ImmPort(|port, size| Op::In { port, size }, false),
        0xE5 => ImmPort(|port, size| Op::In { port, size }, true),
        0xE6 => ImmPort(|port, size| Op::Out { port, size }, false),
        0xE7 => ImmPort(|port, size| Op::Out { port, size }, true),
        0xEC => Sized(|size| Op::In { port: Port::Dx, size }, false),
        0xED => Sized(|size| Op::In { port: Port::Dx, size }, true),
        0xEE => Sized(|size| Op::Out { port: Port::Dx, size }, false),
        0xEF => Sized(|size| Op::Out { port: Port::Dx, size }, true),
        0xF4 => Bare(Op::Hlt),
        0xFA => Bare(Op::Cli),
        0xFB => Bare(Op::Sti),
        _ => return None,
    })
}

fn two_byte(op: u8) -> Option<Form> {
    use Form::*;
    Some(match op {
        0x01 => Group7,
        0x06 => Bare(Op::Clts),
        0x08 => Bare(Op::Invd),
        0x09 => Bare(Op::Wbinvd),
        0x20 => CrDr(|cr, gpr| Op::MovFromCr { cr, gpr }),
        0x21 => CrDr(|dr, gpr| Op::MovFromDr { dr, gpr }),
        0x22 => CrDr(|cr, gpr| Op::MovToCr { cr, gpr }),
        0x23 => CrDr(|dr, gpr| Op::MovToDr { dr, gpr }),
        0x30 => Bare(Op::Wrmsr),
        0x31 => Bare(Op::Rdtsc),
        0x32 => Bare(Op::Rdmsr),
        _ => return None,
    })
}

/// The forced-emulation prefix `ud2; .ascii "xen"` and the CPUID after it.
pub const FORCED_CPUID: [u8; 7] = [0x0F, 0x0B, b'x', b'e', b'n', 0x0F, 0xA2];

/// Decodes the instruction at the start of `code` (at most 15 bytes are
/// looked at).
///
/// # Errors
/// [`DecodeError::Truncated`] if `code` ends inside an instruction that
/// could still be one of ours; [`DecodeError::Unsupported`] otherwise.
pub fn decode(code: &[u8]) -> Result<Insn, DecodeError> {
    let code = &code[..code.len().min(MAX_LEN)];
    let plain = |op, len| Insn { op, len, rep: false, addr32: false, seg: None };
    if code.len() >= FORCED_CPUID.len() && code[..7] == FORCED_CPUID {
        return Ok(plain(Op::ForcedCpuid, 7));
    }
    if !code.is_empty() && FORCED_CPUID.starts_with(code) && code.len() >= 2 {
        return Err(DecodeError::Truncated);
    }
    let (mut opsize16, mut addr32, mut rep, mut seg, mut rex) = (false, false, false, None, 0u8);
    let mut i = 0;
    // Past byte 15 an instruction is too long, whatever follows.
    let byte = |i: usize| {
        code.get(i).copied().ok_or(if i < MAX_LEN { DecodeError::Truncated } else { DecodeError::Unsupported })
    };
    let op = loop {
        let b = byte(i)?;
        i += 1;
        match b {
            0x66 => opsize16 = true,
            0x67 => addr32 = true,
            0xF2 | 0xF3 => rep = true,
            0x2E | 0x36 | 0x3E | 0x26 => seg = None,
            0x64 => seg = Some(Seg::Fs),
            0x65 => seg = Some(Seg::Gs),
            // LOCK with any of these is #UD on hardware: not ours.
            0xF0 => return Err(DecodeError::Unsupported),
            0x40..=0x4F => {
                rex = b;
                // REX counts only directly before the opcode.
                let next = byte(i)?;
                if !(0x40..=0x4F).contains(&next) && is_legacy_prefix(next) {
                    rex = 0;
                }
                continue;
            }
            _ => break b,
        }
    };
    let (rex_r, rex_b) = ((rex >> 2) & 1, rex & 1);
    let form = if op == 0x0F {
        let b = byte(i)?;
        i += 1;
        two_byte(b)
    } else {
        one_byte(op)
    }
    .ok_or(DecodeError::Unsupported)?;
    let wide = |w: bool| {
        if !w {
            1
        } else if opsize16 {
            2
        } else {
            4
        }
    };
    let op = match form {
        Form::Bare(op) => op,
        Form::Sized(f, w) => f(wide(w)),
        Form::ImmPort(f, w) => {
            let imm = byte(i)?;
            i += 1;
            f(Port::Imm(imm), wide(w))
        }
        Form::CrDr(f) => {
            // The mod field is ignored: these are always register forms.
            let m = byte(i)?;
            i += 1;
            f(((m >> 3) & 7) | (rex_r << 3), (m & 7) | (rex_b << 3))
        }
        Form::Group7 => {
            let m = byte(i)?;
            i += 1;
            if m != 0xF9 {
                return Err(DecodeError::Unsupported);
            }
            Op::Rdtscp
        }
    };
    if i > MAX_LEN {
        return Err(DecodeError::Unsupported);
    }
    Ok(Insn { op, len: i as u8, rep, addr32, seg })
}

fn is_legacy_prefix(b: u8) -> bool {
    matches!(b, 0x66 | 0x67 | 0xF2 | 0xF3 | 0x2E | 0x36 | 0x3E | 0x26 | 0x64 | 0x65 | 0xF0)
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
