//! Helpers of the privileged-instruction emulator ([`crate::emulate`],
//! which decodes and performs): x86 register numbers to [`GuestContext`]
//! slots, and Xen's own CPUID leaves for the forced-emulation CPUID (fact
//! sheet §1.4).

use super::vcpu::{reg, GuestContext};

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
