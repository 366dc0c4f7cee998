//! Instructions the hypervisor emulates for a PV guest kernel: the
//! forced-emulation CPUID (`ud2; .ascii "xen"; cpuid`, fact sheet §1.4),
//! moves to and from CR3 (equivalent to `MMUEXT_NEW_BASEPTR`), and moves to
//! and from CR0 and CLTS, which only reach the virtual TS (§5.2). Decoding
//! is pure; the bytes come from guest memory at the faulting RIP.

use super::vcpu::{reg, GuestContext};

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulated {
    /// Forced-emulation CPUID (7 bytes).
    Cpuid,
    /// `mov cr3, r` with the x86 register number of `r`.
    MovToCr3(u8),
    /// `mov r, cr3`.
    MovFromCr3(u8),
    /// `mov cr0, r`: only TS may change (`fpu_taskswitch`), else #GP.
    MovToCr0(u8),
    /// `mov r, cr0`: the real CR0 with the virtual TS.
    MovFromCr0(u8),
    /// CLTS: `fpu_taskswitch(0)`.
    Clts,
}

impl Emulated {
    /// Decodes the start of `code`, returning the instruction and its length.
    pub fn decode(code: &[u8]) -> Option<(Emulated, u64)> {
        if code.starts_with(&[0x0F, 0x0B, 0x78, 0x65, 0x6E, 0x0F, 0xA2]) {
            return Some((Emulated::Cpuid, 7));
        }
        let (rex_b, rest, prefix) = match code.first()? {
            0x40..=0x4F => (code[0] & 1, &code[1..], 1),
            _ => (0, code, 0),
        };
        // REX.R would name CR8 and up: not emulated.
        let rex_r = prefix == 1 && code[0] & 4 != 0;
        match rest {
            [0x0F, 0x06, ..] if prefix == 0 => Some((Emulated::Clts, 2)),
            [0x0F, op @ (0x20 | 0x22), modrm, ..] if modrm & 0xC0 == 0xC0 && !rex_r => {
                let r = (modrm & 7) | (rex_b << 3);
                let insn = match ((modrm >> 3) & 7, *op == 0x22) {
                    (3, true) => Emulated::MovToCr3(r),
                    (3, false) => Emulated::MovFromCr3(r),
                    (0, true) => Emulated::MovToCr0(r),
                    (0, false) => Emulated::MovFromCr0(r),
                    _ => return None,
                };
                Some((insn, 3 + prefix))
            }
            _ => None,
        }
    }
}

/// Index into [`GuestContext::gpr`] of x86 register number `r`, or `None`
/// for RSP (which lives outside `gpr`).
pub fn gpr_index(r: u8) -> Option<usize> {
    Some(match r {
        0 => reg::RAX,
        1 => reg::RCX,
        2 => reg::RDX,
        3 => reg::RBX,
        4 => return None,
        5 => reg::RBP,
        6 => reg::RSI,
        7 => reg::RDI,
        8..=15 => reg::R8 + (r as usize - 8),
        _ => return None,
    })
}

/// Reads x86 register `r` of `ctx`.
pub fn read_reg(ctx: &GuestContext, r: u8) -> u64 {
    gpr_index(r).map_or(ctx.rsp, |i| ctx.gpr[i])
}

/// Writes x86 register `r` of `ctx`.
pub fn write_reg(ctx: &mut GuestContext, r: u8, v: u64) {
    match gpr_index(r) {
        Some(i) => ctx.gpr[i] = v,
        None => ctx.rsp = v,
    }
}

/// The Xen CPUID leaves 0x40000000–0x40000002 as (EAX, EBX, ECX, EDX).
pub fn xen_leaf(leaf: u32, version: (u32, u32)) -> Option<[u32; 4]> {
    match leaf {
        0x4000_0000 => Some([0x4000_0002, 0x566E_6558, 0x6558_4D4D, 0x4D4D_566E]),
        0x4000_0001 => Some([(version.0 << 16) | version.1, 0, 0, 0]),
        // One hypercall page, set up through MSR 0x40000000; ECX bit 0:
        // MMU_PT_UPDATE_PRESERVE_AD is supported.
        0x4000_0002 => Some([1, 0x4000_0000, 1, 0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_emulation_cpuid_is_recognised_with_its_prefix_only() {
        assert_eq!(Emulated::decode(&[0x0F, 0x0B, 0x78, 0x65, 0x6E, 0x0F, 0xA2, 0x90]), Some((Emulated::Cpuid, 7)));
        assert_eq!(Emulated::decode(&[0x0F, 0xA2]), None, "a plain CPUID is not intercepted");
        assert_eq!(Emulated::decode(&[0x0F, 0x0B, 0x78, 0x65, 0x6E, 0x90]), None);
    }

    #[test]
    fn cr3_moves_decode_with_and_without_rex() {
        assert_eq!(Emulated::decode(&[0x0F, 0x22, 0xD8]), Some((Emulated::MovToCr3(0), 3)));
        assert_eq!(Emulated::decode(&[0x0F, 0x22, 0xDF]), Some((Emulated::MovToCr3(7), 3)));
        assert_eq!(Emulated::decode(&[0x41, 0x0F, 0x22, 0xD8]), Some((Emulated::MovToCr3(8), 4)));
        assert_eq!(Emulated::decode(&[0x0F, 0x20, 0xDE]), Some((Emulated::MovFromCr3(6), 3)));
        assert_eq!(Emulated::decode(&[0x0F, 0x22, 0x18]), None, "memory operands do not exist for CR moves");
        assert_eq!(Emulated::decode(&[]), None);
    }

    #[test]
    fn cr0_moves_and_clts_decode_but_other_control_registers_do_not() {
        assert_eq!(Emulated::decode(&[0x0F, 0x22, 0xC0]), Some((Emulated::MovToCr0(0), 3)));
        assert_eq!(Emulated::decode(&[0x0F, 0x20, 0xC3]), Some((Emulated::MovFromCr0(3), 3)));
        assert_eq!(Emulated::decode(&[0x49, 0x0F, 0x20, 0xC7]), Some((Emulated::MovFromCr0(15), 4)));
        assert_eq!(Emulated::decode(&[0x0F, 0x06, 0x90]), Some((Emulated::Clts, 2)));
        assert_eq!(Emulated::decode(&[0x0F, 0x20, 0xE0]), None, "CR4 is not emulated");
        assert_eq!(Emulated::decode(&[0x0F, 0x20, 0xD0]), None, "CR2 is not emulated");
        assert_eq!(Emulated::decode(&[0x44, 0x0F, 0x20, 0xC0]), None, "REX.R names CR8");
    }

    #[test]
    fn registers_map_between_x86_numbers_and_the_context() {
        let mut c = GuestContext::default();
        for r in 0..16u8 {
            write_reg(&mut c, r, 100 + u64::from(r));
        }
        for r in 0..16u8 {
            assert_eq!(read_reg(&c, r), 100 + u64::from(r));
        }
        assert_eq!(c.rsp, 104);
        assert_eq!(c.gpr[reg::RBX], 103);
    }

    #[test]
    fn xen_leaves_carry_the_signature_and_version() {
        let l = xen_leaf(0x4000_0000, (4, 17)).unwrap();
        let sig: Vec<u8> = l[1..].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&sig, b"XenVMMXenVMM");
        assert_eq!(xen_leaf(0x4000_0001, (4, 17)).unwrap()[0], 0x0004_0011);
        assert_eq!(xen_leaf(0x4000_0003, (4, 17)), None);
    }
}
