//! Control registers of a shadow-paged PVH guest. Pure.
//!
//! Under shadow paging the hardware's CR0, CR3, CR4 and EFER are the
//! hypervisor's: paging is always on (with CR0.WP, so the write protection
//! of guest page tables holds in the guest's kernel too), CR3 holds a
//! hypervisor-built root, and the CPU is always in long mode (EFER.LME and
//! LMA; NXE, since shadow entries use NX). The guest reads and writes its
//! own copies ([`GuestCrs`]), which these exits keep:
//! * with its paging off (the PVH 32-bit entry), it runs in compatibility
//!   mode on an identity map of its p2m (the NPT image of it, which maps
//!   exactly its own RAM), as Xen runs an unpaged guest on a p2m-derived
//!   table;
//! * turning its paging on with EFER.LME and CR4.PAE (4-level paging)
//!   switches the real CR3 to the shadow of its root; 32-bit and PAE
//!   paging are not shadowed (the domain is crashed with that reason), nor
//!   is turning paging off again.
//!
//! QEMU's TCG SVM has no decode assists, so the `mov` to or from a CR and
//! INVLPG are decoded from the bytes at RIP ([`decode_mov_cr`],
//! [`invlpg_len`]).

/// CR0.PE.
pub const CR0_PE: u64 = 1;
/// CR0.WP.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PSE.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.PCIDE.
pub const CR4_PCIDE: u64 = 1 << 17;
/// CR4.LA57.
pub const CR4_LA57: u64 = 1 << 12;
/// CR4.SMEP.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP.
pub const CR4_SMAP: u64 = 1 << 21;
/// CR4.PKE.
pub const CR4_PKE: u64 = 1 << 22;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE.
pub const EFER_NXE: u64 = 1 << 11;
/// EFER.SVME.
pub const EFER_SVME: u64 = 1 << 12;

/// The guest's own view of its paging registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GuestCrs {
    /// Its CR0.
    pub cr0: u64,
    /// Its CR3.
    pub cr3: u64,
    /// Its CR4.
    pub cr4: u64,
    /// Its EFER (SVME included, as the MSR policy keeps it).
    pub efer: u64,
}

/// What a guest CR write asks of the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrEffect {
    /// Only the guest's copy changed (the real values follow it).
    Done,
    /// The TLB must be flushed (a CR4 paging bit, CR0.WP, …).
    Flush,
    /// The guest turned 4-level paging on: the real CR3 becomes the shadow
    /// of the root at this guest frame.
    PagingOn(u64),
    /// A CR3 load with paging on: switch to the shadow of this root frame.
    NewRoot(u64),
    /// The hardware would raise #GP.
    Gp,
    /// A paging mode shadow paging does not offer: crash the domain.
    Unsupported(&'static str),
}

impl GuestCrs {
    /// Whether the guest has paging on.
    pub const fn paged(&self) -> bool {
        self.cr0 & CR0_PG != 0
    }

    /// The guest's root table frame (CR3 bits 51:12).
    pub const fn root_gfn(&self) -> u64 {
        (self.cr3 & abi::mmu::pte::ADDR_MASK) >> 12
    }

    /// The real CR0: the guest's, with paging, write protection and
    /// protected mode always on.
    pub const fn real_cr0(&self) -> u64 {
        self.cr0 | CR0_PG | CR0_WP | CR0_PE
    }

    /// The real CR4: PAE always (long mode); features that would change
    /// how the hypervisor's tables or CR3 are read are left off (PCID,
    /// 5-level paging), and with the guest unpaged so are the protections
    /// its own tables would have decided (SMEP, SMAP, PKE), as on Xen.
    pub const fn real_cr4(&self) -> u64 {
        let mut v = (self.cr4 | CR4_PAE) & !(CR4_PCIDE | CR4_LA57 | CR4_PSE);
        if !self.paged() {
            v &= !(CR4_SMEP | CR4_SMAP | CR4_PKE);
        }
        v
    }

    /// The real EFER: always long mode with NX.
    pub const fn real_efer(&self) -> u64 {
        self.efer | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME
    }

    /// The value a `mov` from CR `cr` reads.
    pub const fn read(&self, cr: u8) -> Option<u64> {
        match cr {
            0 => Some(self.cr0),
            3 => Some(self.cr3),
            4 => Some(self.cr4),
            _ => None,
        }
    }

    /// A `mov` to CR `cr` of `value`; the copy changes unless the answer
    /// is [`CrEffect::Gp`] or [`CrEffect::Unsupported`].
    pub fn write(&mut self, cr: u8, value: u64) -> CrEffect {
        match cr {
            0 => {
                if value >> 32 != 0 || (value & CR0_PG != 0 && value & CR0_PE == 0) {
                    return CrEffect::Gp;
                }
                let (was, now) = (self.paged(), value & CR0_PG != 0);
                if was && !now {
                    return CrEffect::Unsupported("the guest turned paging off");
                }
                if !was && now {
                    if self.efer & EFER_LME == 0 {
                        return CrEffect::Unsupported("32-bit or PAE paging (only 4-level paging is shadowed)");
                    }
                    if self.cr4 & CR4_PAE == 0 {
                        return CrEffect::Gp;
                    }
                    self.cr0 = value;
                    self.efer |= EFER_LMA;
                    return CrEffect::PagingOn(self.root_gfn());
                }
                let flush = (self.cr0 ^ value) & CR0_WP != 0;
                self.cr0 = value;
                if flush {
                    CrEffect::Flush
                } else {
                    CrEffect::Done
                }
            }
            3 => {
                self.cr3 = value;
                if self.paged() {
                    CrEffect::NewRoot(self.root_gfn())
                } else {
                    CrEffect::Done
                }
            }
            4 => {
                if self.paged() && self.efer & EFER_LMA != 0 && value & CR4_PAE == 0 {
                    return CrEffect::Gp;
                }
                if value & (CR4_PCIDE | CR4_LA57) != 0 {
                    // Not offered (CPUID does not name them to a shadowed guest).
                    return CrEffect::Gp;
                }
                self.cr4 = value;
                CrEffect::Flush
            }
            _ => CrEffect::Gp,
        }
    }
}

/// A decoded `mov` between a control register and a GPR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MovCr {
    /// The control register.
    pub cr: u8,
    /// The general-purpose register (0 = RAX … 15 = R15).
    pub gpr: u8,
    /// To the CR (else from it).
    pub write: bool,
    /// The instruction's length.
    pub len: u8,
}

/// Decodes `mov crN, reg` (0F 22 /r) or `mov reg, crN` (0F 20 /r) at the
/// start of `code`; `long` says 64-bit mode (a REX prefix may extend the
/// GPR). `None` for anything else (LMSW, CLTS, SMSW, a CR8 access).
pub fn decode_mov_cr(code: &[u8], long: bool) -> Option<MovCr> {
    let (rex, rest) = match code.first() {
        Some(&b) if long && (0x40..=0x4F).contains(&b) => (b, &code[1..]),
        _ => (0, code),
    };
    let [0x0F, op @ (0x20 | 0x22), modrm, ..] = *rest else { return None };
    if rex & 4 != 0 {
        return None;
    }
    // The mod field is ignored: the operand is always a register.
    let cr = (modrm >> 3) & 7;
    let gpr = (modrm & 7) | if rex & 1 != 0 { 8 } else { 0 };
    Some(MovCr { cr, gpr, write: op == 0x22, len: 3 + u8::from(rex != 0) })
}

/// The length of the INVLPG (0F 01 /7, a memory operand) at the start of
/// `code`, with segment, address-size and REX prefixes; `long` says
/// 64-bit mode. `None` for anything else or a 16-bit address.
pub fn invlpg_len(code: &[u8], long: bool) -> Option<u8> {
    let mut i = 0;
    loop {
        match *code.get(i)? {
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 => i += 1,
            // 32-bit addressing in long mode has 64-bit's ModRM forms; in
            // 32-bit mode it would be 16-bit addressing.
            0x67 if long => i += 1,
            0x67 => return None,
            b if long && (0x40..=0x4F).contains(&b) => {
                i += 1;
                break;
            }
            _ => break,
        }
    }
    let [0x0F, 0x01, modrm] = *code.get(i..i + 3)? else { return None };
    let (md, reg, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if md == 3 || reg != 7 {
        return None;
    }
    let mut len = i + 3;
    if rm == 4 {
        let sib = *code.get(len)?;
        len += 1;
        if md == 0 && sib & 7 == 5 {
            len += 4;
        }
    }
    len += match (md, rm) {
        (0, 5) => 4,
        (0, _) => 0,
        (1, _) => 1,
        _ => 4,
    };
    (len <= 15).then_some(len as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpaged() -> GuestCrs {
        GuestCrs { cr0: CR0_PE | 0x10, cr3: 0, cr4: 0, efer: EFER_SVME }
    }

    #[test]
    fn the_real_registers_are_long_mode_with_paging_and_write_protection_whatever_the_guest_says() {
        let g = unpaged();
        assert_eq!(g.real_cr0() & (CR0_PG | CR0_WP | CR0_PE), CR0_PG | CR0_WP | CR0_PE);
        assert_eq!(g.real_cr4() & CR4_PAE, CR4_PAE);
        assert_eq!(
            g.real_efer() & (EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME),
            EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME
        );
        let g = GuestCrs { cr4: CR4_SMEP | CR4_SMAP | CR4_PCIDE | 0x600, ..g };
        assert_eq!(g.real_cr4(), CR4_PAE | 0x600, "no SMEP/SMAP unpaged, never PCID");
        let g = GuestCrs { cr0: g.cr0 | CR0_PG, ..g };
        assert_eq!(g.real_cr4(), CR4_PAE | 0x600 | CR4_SMEP | CR4_SMAP);
    }

    #[test]
    fn the_guest_reads_back_its_own_values() {
        let mut g = unpaged();
        assert_eq!(g.write(3, 0x5000), CrEffect::Done, "paging off: only recorded");
        assert_eq!((g.read(0), g.read(3), g.read(4)), (Some(CR0_PE | 0x10), Some(0x5000), Some(0)));
        assert_eq!(g.read(2), None);
    }

    #[test]
    fn turning_on_4_level_paging_switches_to_the_shadow_of_the_root_and_sets_lma() {
        let mut g = unpaged();
        g.write(4, CR4_PAE);
        g.write(3, 0x7000);
        g.efer |= EFER_LME;
        assert_eq!(g.write(0, CR0_PE | CR0_PG | 0x10), CrEffect::PagingOn(7));
        assert!(g.paged() && g.efer & EFER_LMA != 0);
        assert_eq!(g.write(3, 0x9000 | 0x18), CrEffect::NewRoot(9), "PWT/PCD bits are not the frame");
        assert_eq!(g.write(4, 0), CrEffect::Gp, "clearing PAE in long mode");
        assert_eq!(g.write(0, CR0_PE), CrEffect::Unsupported("the guest turned paging off"));
        assert!(g.paged(), "refused writes change nothing");
    }

    #[test]
    fn paging_modes_that_are_not_shadowed_or_not_legal_are_refused() {
        let mut g = unpaged();
        assert!(matches!(g.write(0, CR0_PE | CR0_PG), CrEffect::Unsupported(_)), "32-bit paging");
        g.efer |= EFER_LME;
        assert_eq!(g.write(0, CR0_PE | CR0_PG), CrEffect::Gp, "LME without PAE");
        assert_eq!(g.write(0, CR0_PG), CrEffect::Gp, "PG without PE");
        assert_eq!(g.write(0, 1 << 32), CrEffect::Gp);
        assert_eq!(g.write(4, CR4_PCIDE), CrEffect::Gp);
        assert_eq!(g.write(8, 0), CrEffect::Gp);
        assert!(!g.paged());
        assert_eq!(g.write(0, CR0_PE | CR0_WP), CrEffect::Flush, "WP changes what the TLB holds");
    }

    #[test]
    fn mov_to_and_from_control_registers_decodes_with_and_without_rex() {
        // mov cr3, eax / mov eax, cr0 / mov cr4, ebx (32-bit).
        assert_eq!(decode_mov_cr(&[0x0F, 0x22, 0xD8], false), Some(MovCr { cr: 3, gpr: 0, write: true, len: 3 }));
        assert_eq!(decode_mov_cr(&[0x0F, 0x20, 0xC0], false), Some(MovCr { cr: 0, gpr: 0, write: false, len: 3 }));
        assert_eq!(decode_mov_cr(&[0x0F, 0x22, 0xE3], false), Some(MovCr { cr: 4, gpr: 3, write: true, len: 3 }));
        // mov cr3, rdi; mov cr3, r9 (41 0F 22 D9).
        assert_eq!(decode_mov_cr(&[0x0F, 0x22, 0xDF], true), Some(MovCr { cr: 3, gpr: 7, write: true, len: 3 }));
        assert_eq!(decode_mov_cr(&[0x41, 0x0F, 0x22, 0xD9], true), Some(MovCr { cr: 3, gpr: 9, write: true, len: 4 }));
        // A 0x41 in 32-bit mode is INC ECX, not a prefix; CR8 (REX.R) and LMSW are not decoded.
        assert_eq!(decode_mov_cr(&[0x41, 0x0F, 0x22, 0xD9], false), None);
        assert_eq!(decode_mov_cr(&[0x44, 0x0F, 0x22, 0xC0], true), None);
        assert_eq!(decode_mov_cr(&[0x0F, 0x01, 0xF0], true), None);
        assert_eq!(decode_mov_cr(&[0x0F, 0x22], true), None);
    }

    #[test]
    fn invlpg_lengths_cover_the_addressing_forms() {
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x38], true), Some(3), "invlpg [rax]");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x7F, 0x10], true), Some(4), "invlpg [rdi+0x10]");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0xBF, 0, 0, 1, 0], true), Some(7), "disp32");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x3C, 0x24], true), Some(4), "invlpg [rsp] (SIB)");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x3C, 0x25, 0, 0x10, 0, 0], true), Some(8), "SIB, no base: disp32");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x3D, 1, 2, 3, 4], true), Some(7), "rip-relative");
        assert_eq!(invlpg_len(&[0x41, 0x0F, 0x01, 0x38], true), Some(4), "invlpg [r8]");
        assert_eq!(invlpg_len(&[0x65, 0x0F, 0x01, 0x38], true), Some(4), "gs:");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0xF8], true), None, "swapgs, not invlpg");
        assert_eq!(invlpg_len(&[0x0F, 0x01, 0x30], true), None, "lmsw-shaped /6");
        assert_eq!(invlpg_len(&[0x67, 0x0F, 0x01, 0x38], false), None, "16-bit addressing");
        assert_eq!(invlpg_len(&[0x0F, 0x01], true), None);
    }
}
