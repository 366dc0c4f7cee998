//! The virtual debug registers: `set_debugreg`/`get_debugreg` (8/9) and
//! the emulated `mov` to and from DR0–DR7 share these rules (fact sheet
//! §4.4). The validated values are kept per vCPU and loaded into the
//! hardware while a vCPU whose DR7 enables a breakpoint runs (as Xen:
//! only then, so vCPUs without breakpoints cost nothing). DR0–3 can never
//! name the hypervisor's range, so a breakpoint fires only on guest
//! addresses. A #DB merges the hardware DR6 into the virtual one
//! ([`DebugRegs::merge_hw_dr6`]) before it is delivered; I/O breakpoints
//! (CR4.DE) are matched by the emulator ([`DebugRegs::io_breakpoints`]).

use super::cr::CR4_DE;
use abi::Errno;

/// DR6 bits that always read as one (no RTM, no bus-lock detect offered).
pub const DR6_ONES: u64 = 0xFFFF_0FF0;
/// DR6 bit 12 always reads as zero.
pub const DR6_ZEROS: u64 = 1 << 12;
/// DR7 bit 10 always reads as one.
pub const DR7_ONES: u64 = 1 << 10;
/// DR7 bits 11, 12, 14 and 15 always read as zero.
pub const DR7_ZEROS: u64 = (1 << 11) | (1 << 12) | (1 << 14) | (1 << 15);
/// DR7.GD (general detect): refused.
pub const DR7_GD: u64 = 1 << 13;
/// DR7's L0–G3 enable bits (Xen's DR7_ACTIVE_MASK).
pub const DR7_ENABLES: u64 = 0xFF;
/// DR6.BS: the #DB is a single step.
pub const DR6_BS: u64 = 1 << 14;
/// DR6 as the hardware holds it with nothing to report (Xen's
/// X86_DR6_DEFAULT); the hardware register is reset to it after each #DB.
pub const DR6_DEFAULT: u64 = 0xFFFF_0FF0;
/// The lowest address above the guest-reserved hole (Xen's
/// HYPERVISOR_VIRT_END): DR0–3 at or above it are accepted.
pub const GUEST_HIGH_START: u64 = 0xFFFF_8800_0000_0000;
/// One past the top of the lower canonical half.
pub const GUEST_LOW_END: u64 = 1 << 47;

/// A vCPU's debug registers as the guest set them.
#[derive(Clone, Copy, Debug)]
pub struct DebugRegs {
    /// DR0–DR3.
    pub addr: [u64; 4],
    /// DR6.
    pub dr6: u64,
    /// DR7 without the I/O breakpoint enables.
    pub dr7: u64,
    /// DR7 enable bits of I/O breakpoints, which Xen emulates rather than
    /// loading (reported back by reads of DR7).
    pub dr7_io: u64,
}

/// Word by word: the derived comparison hands the address array to
/// `memcmp`, which compares bytes, and every emulated instruction compares
/// the registers before and after (about 70 instructions of the emulated
/// `rdmsr` bench row).
impl PartialEq for DebugRegs {
    fn eq(&self, o: &DebugRegs) -> bool {
        let ([a0, a1, a2, a3], [b0, b1, b2, b3]) = (self.addr, o.addr);
        let dr = (self.dr6 ^ o.dr6) | (self.dr7 ^ o.dr7) | (self.dr7_io ^ o.dr7_io);
        (a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2) | (a3 ^ b3) | dr == 0
    }
}

impl Eq for DebugRegs {}

impl Default for DebugRegs {
    fn default() -> DebugRegs {
        DebugRegs { addr: [0; 4], dr6: DR6_ONES, dr7: DR7_ONES, dr7_io: 0 }
    }
}

impl DebugRegs {
    /// `set_debugreg(reg, value)` with the guest's virtual CR4.
    ///
    /// # Errors
    /// -EPERM for a DR0–3 address in the hypervisor's range, DR7.GD, or an
    /// I/O breakpoint without CR4.DE; -EINVAL for upper bits in DR6/DR7;
    /// -ENODEV for DR4/5 under CR4.DE and registers above 7.
    pub fn set(&mut self, reg: u64, value: u64, cr4: u64) -> Result<(), Errno> {
        match reg {
            0..=3 => {
                if (GUEST_LOW_END..GUEST_HIGH_START).contains(&value) {
                    return Err(Errno::EPERM);
                }
                self.addr[reg as usize] = value;
            }
            4 | 5 if cr4 & CR4_DE != 0 => return Err(Errno::ENODEV),
            4 | 6 => {
                if value >> 32 != 0 {
                    return Err(Errno::EINVAL);
                }
                self.dr6 = (value | DR6_ONES) & !DR6_ZEROS;
            }
            5 | 7 => {
                if value >> 32 != 0 {
                    return Err(Errno::EINVAL);
                }
                let value = (value | DR7_ONES) & !DR7_ZEROS;
                if value & DR7_GD != 0 {
                    return Err(Errno::EPERM);
                }
                let mut io = 0;
                if value & DR7_ENABLES != 0 {
                    for n in 0..4 {
                        // R/W = 10b: an I/O breakpoint, legal only with CR4.DE.
                        if (value >> (16 + 4 * n)) & 3 == 2 {
                            if cr4 & CR4_DE == 0 {
                                return Err(Errno::EPERM);
                            }
                            io |= value & (3 << (2 * n));
                        }
                    }
                }
                self.dr7 = value & !io;
                self.dr7_io = io;
            }
            _ => return Err(Errno::ENODEV),
        }
        Ok(())
    }

    /// Whether a breakpoint is enabled: only then are the registers loaded
    /// into the hardware.
    pub const fn active(&self) -> bool {
        self.dr7 & DR7_ENABLES != 0
    }

    /// Folds the hardware DR6 of a #DB raised in the guest into the
    /// virtual DR6, as Xen does: bits the hardware set away from their
    /// default are set, bits it cleared from their default are cleared.
    pub fn merge_hw_dr6(&mut self, hw: u64) {
        let hw = hw & 0xFFFF_FFFF;
        self.dr6 |= hw & !DR6_DEFAULT;
        self.dr6 &= hw | !DR6_DEFAULT;
    }

    /// Records the DR6 bits of a #DB the emulator raises (a single step
    /// or I/O breakpoint match), with the reserved ones set, as Xen does.
    pub fn note_emulated_debug(&mut self, bits: u64) {
        self.dr6 |= bits | DR6_ONES;
    }

    /// The I/O breakpoints (DR0–3 enabled as such in DR7, CR4.DE set) that
    /// an access of `size` bytes to `port` matches, as DR6's B0–B3 bits.
    /// Xen's rule: breakpoint `n` covers DRn .. DRn + its length.
    pub fn io_breakpoints(&self, port: u16, size: u8, cr4: u64) -> u64 {
        if self.dr7_io == 0 || cr4 & CR4_DE == 0 {
            return 0;
        }
        let (start, end) = (u64::from(port), u64::from(port) + u64::from(size));
        let mut hit = 0;
        for n in 0..4 {
            if self.dr7_io & (3 << (2 * n)) == 0 {
                continue;
            }
            let width = match (self.dr7 >> (18 + 4 * n)) & 3 {
                0 => 1,
                1 => 2,
                2 => 8,
                _ => 4,
            };
            let bp = self.addr[n];
            if bp < end && bp.wrapping_add(width) > start {
                hit |= 1 << n;
            }
        }
        hit
    }

    /// `get_debugreg(reg)`.
    ///
    /// # Errors
    /// -ENODEV for DR4/5 under CR4.DE and registers above 7.
    pub fn get(&self, reg: u64, cr4: u64) -> Result<u64, Errno> {
        match reg {
            0..=3 => Ok(self.addr[reg as usize]),
            4 | 5 if cr4 & CR4_DE != 0 => Err(Errno::ENODEV),
            4 | 6 => Ok(self.dr6),
            5 | 7 => Ok(self.dr7 | self.dr7_io),
            _ => Err(Errno::ENODEV),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_registers_differ_when_any_one_register_differs() {
        let base = DebugRegs::default();
        assert_eq!(base, DebugRegs::default());
        let changes: [fn(&mut DebugRegs); 7] = [
            |r| r.addr[0] = 1,
            |r| r.addr[1] = 1,
            |r| r.addr[2] = 1,
            |r| r.addr[3] = 1,
            |r| r.dr6 ^= 1,
            |r| r.dr7 ^= 1 << 1,
            |r| r.dr7_io = 1,
        ];
        for (k, change) in changes.iter().enumerate() {
            let mut r = base;
            change(&mut r);
            assert_ne!(r, base, "change {k} not seen");
        }
    }

    fn set(reg: u64, v: u64) -> Result<u64, Errno> {
        let mut d = DebugRegs::default();
        d.set(reg, v, 0).and_then(|()| d.get(reg, 0))
    }

    #[test]
    fn start_of_day_values_are_the_architectural_reset_ones() {
        let d = DebugRegs::default();
        assert_eq!(d.get(6, 0), Ok(0xFFFF_0FF0));
        assert_eq!(d.get(7, 0), Ok(0x400));
        assert_eq!(d.get(0, 0), Ok(0));
    }

    #[test]
    fn address_registers_accept_guest_space_only() {
        assert_eq!(set(0, 0x7FFF_FFFF_FFFF), Ok(0x7FFF_FFFF_FFFF));
        assert_eq!(set(1, 1 << 47), Err(Errno::EPERM));
        assert_eq!(set(2, 0xFFFF_8000_0000_0000), Err(Errno::EPERM), "Xen's own range");
        assert_eq!(set(3, 0xFFFF_87FF_FFFF_FFFF), Err(Errno::EPERM));
        assert_eq!(set(3, GUEST_HIGH_START), Ok(GUEST_HIGH_START));
        assert_eq!(set(0, u64::MAX), Ok(u64::MAX));
    }

    #[test]
    fn dr6_forces_its_reserved_bits_and_refuses_upper_ones() {
        assert_eq!(set(6, 0), Ok(0xFFFF_0FF0));
        assert_eq!(set(6, 0x1000 | 0xF), Ok(0xFFFF_0FFF));
        assert_eq!(set(6, 1 << 32), Err(Errno::EINVAL));
    }

    #[test]
    fn dr7_forces_reserved_bits_and_refuses_gd_and_upper_bits() {
        assert_eq!(set(7, 0), Ok(0x400));
        assert_eq!(set(7, 0xD801), Ok(0x401), "bits 11, 12, 14, 15 read as zero");
        assert_eq!(set(7, DR7_GD), Err(Errno::EPERM));
        assert_eq!(set(7, 1 << 32), Err(Errno::EINVAL));
        assert_eq!(set(7, 0x000F_0003), Ok(0x000F_0403), "a write breakpoint on DR0");
    }

    #[test]
    fn io_breakpoints_need_cr4_de_and_are_reported_back() {
        assert_eq!(set(7, 0x0002_0001), Err(Errno::EPERM));
        assert_eq!(set(7, 0x0002_0000), Ok(0x0002_0400), "not enabled: not checked");
        let mut d = DebugRegs::default();
        assert_eq!(d.set(7, 0x0002_0001, CR4_DE), Ok(()));
        assert_eq!(d.dr7_io, 1);
        assert_eq!(d.get(7, CR4_DE), Ok(0x0002_0401));
    }

    #[test]
    fn only_enabled_breakpoints_make_the_registers_active() {
        let mut d = DebugRegs::default();
        assert!(!d.active());
        assert_eq!(d.set(0, 0x1000, 0), Ok(()));
        assert!(!d.active(), "an address alone enables nothing");
        assert_eq!(d.set(7, 0x000D_0002, 0), Ok(()));
        assert!(d.active(), "G0");
        assert_eq!(d.set(7, 0x0002_0001, CR4_DE), Ok(()));
        assert!(!d.active(), "an I/O breakpoint is emulated, never loaded");
    }

    #[test]
    fn a_hardware_dr6_is_merged_as_xen_does() {
        let mut d = DebugRegs::default();
        d.merge_hw_dr6(DR6_DEFAULT | 0b0010);
        assert_eq!(d.get(6, 0), Ok(0xFFFF_0FF2), "B1 set");
        d.merge_hw_dr6(DR6_DEFAULT | DR6_BS);
        assert_eq!(d.get(6, 0), Ok(0xFFFF_4FF2), "sticky: B1 stays, BS added");
        d.merge_hw_dr6(DR6_DEFAULT & !(1 << 16));
        assert_eq!(d.get(6, 0), Ok(0xFFFE_4FF2), "RTM (active low) cleared");
        d.merge_hw_dr6(u64::MAX << 32 | DR6_DEFAULT);
        assert_eq!(d.get(6, 0), Ok(0xFFFE_4FF2), "upper half ignored");
        d.note_emulated_debug(DR6_BS | 1);
        assert_eq!(d.get(6, 0), Ok(0xFFFF_4FF3));
    }

    #[test]
    fn io_breakpoints_match_overlapping_accesses_under_cr4_de() {
        let mut d = DebugRegs::default();
        assert_eq!(d.set(0, 0x60, CR4_DE), Ok(()));
        assert_eq!(d.set(2, 0x70, CR4_DE), Ok(()));
        // DR0: I/O, 2 bytes (LEN 01); DR2: I/O, 4 bytes (LEN 11), G2.
        assert_eq!(d.set(7, 0x0E06_0021, CR4_DE), Ok(()));
        assert_eq!(d.io_breakpoints(0x60, 1, CR4_DE), 1);
        assert_eq!(d.io_breakpoints(0x61, 1, CR4_DE), 1);
        assert_eq!(d.io_breakpoints(0x62, 1, CR4_DE), 0);
        assert_eq!(d.io_breakpoints(0x5F, 2, CR4_DE), 1, "overlaps the start");
        assert_eq!(d.io_breakpoints(0x73, 4, CR4_DE), 0b100);
        assert_eq!(d.io_breakpoints(0x74, 1, CR4_DE), 0);
        assert_eq!(d.io_breakpoints(0x60, 1, 0), 0, "CR4.DE clear now: no match");
    }

    #[test]
    fn dr4_and_dr5_alias_dr6_and_dr7_unless_cr4_de() {
        let mut d = DebugRegs::default();
        assert_eq!(d.set(5, 0x1, 0), Ok(()));
        assert_eq!(d.get(7, 0), Ok(0x401));
        assert_eq!(d.get(4, 0), Ok(0xFFFF_0FF0));
        assert_eq!(d.set(4, 0, CR4_DE), Err(Errno::ENODEV));
        assert_eq!(d.get(5, CR4_DE), Err(Errno::ENODEV));
        assert_eq!(d.set(8, 0, 0), Err(Errno::ENODEV));
        assert_eq!(d.get(8, 0), Err(Errno::ENODEV));
    }
}
