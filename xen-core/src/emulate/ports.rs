//! Port I/O decisions (fact sheet §5.4): first the guest-level check
//! (virtual IOPL, then the guest's I/O bitmap), then what the access does:
//! real hardware for domain 0 outside the ports the hypervisor keeps, the
//! latched PCI address at 0xCF8 and CMOS index at 0x70, and all-ones reads
//! with dropped writes for everything else.
//!
//! Ports never given to any guest, domain 0 included (a deliberate
//! difference from Xen, which gives its hardware domain nearly all ports):
//! the PICs (0x20-0x21, 0xA0-0xA1), the PIT and speaker gate (0x40-0x43,
//! 0x61), CMOS/RTC (0x70-0x71, emulated as for a Xen domU), QEMU's
//! isa-debug-exit (0xF4), the serial console (0x3F8-0x3FF) and PCI
//! configuration data writes (0xCFC-0xCFF, dropped: domain 0 may read
//! configuration space but not move BARs under the hypervisor).

/// The guest's I/O permissions, set by `PHYSDEVOP_set_iopl` and
/// `PHYSDEVOP_set_iobitmap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoPerms {
    /// Virtual IOPL, 0..=3.
    pub iopl: u8,
    /// Guest virtual address of the I/O bitmap (0: none).
    pub bitmap: u64,
    /// Ports the bitmap covers.
    pub nr_ports: u32,
}

impl IoPerms {
    /// Whether the guest may do I/O (and `cli`/`sti`) without the bitmap:
    /// the virtual IOPL is at least the virtual CPL (1 in kernel mode, 3 in
    /// user mode).
    pub fn iopl_allows(&self, kernel_mode: bool) -> bool {
        self.iopl >= if kernel_mode { 1 } else { 3 }
    }

    /// Where the two bitmap bytes covering `port` are, if the bitmap
    /// covers `port..port + size` at all.
    pub fn bitmap_bytes(&self, port: u16, size: u8) -> Option<u64> {
        (self.bitmap != 0 && u32::from(port) + u32::from(size) <= self.nr_ports)
            .then(|| self.bitmap.wrapping_add(u64::from(port / 8)))
    }
}

/// Whether the two bitmap bytes `bits` (little-endian, first covering
/// `port & !7`) allow `size` ports from `port`: every bit must be clear.
pub fn bitmap_allows(bits: u16, port: u16, size: u8) -> bool {
    let mask = ((1u32 << size) - 1) << (port & 7);
    u32::from(bits) & mask == 0
}

/// `PHYSDEVOP_set_iobitmap`'s limit on `nr_ports`.
pub const MAX_PORTS: u32 = 65536;
/// Bytes of a full I/O bitmap (the range checked at `set_iobitmap`).
pub const BITMAP_BYTES: u64 = 8192;

/// The PCI configuration address port.
pub const PCI_CF8: u16 = 0xCF8;
/// The PCI configuration data ports (4 of them).
pub const PCI_CFC: u16 = 0xCFC;
/// The CMOS index port.
pub const CMOS_INDEX: u16 = 0x70;

/// Port ranges only the hypervisor touches (inclusive).
pub const RESERVED: [(u16, u16); 7] =
    [(0x20, 0x21), (0x40, 0x43), (0x61, 0x61), (0x70, 0x71), (0xA0, 0xA1), (0xF4, 0xF4), (0x3F8, 0x3FF)];

fn overlaps(port: u16, size: u8, lo: u16, hi: u16) -> bool {
    let end = u32::from(port) + u32::from(size) - 1;
    u32::from(port) <= u32::from(hi) && end >= u32::from(lo)
}

/// What an access that passed the guest-level check does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Performed on the hardware (domain 0 only).
    Hardware,
    /// The latched PCI address (a 4-byte access to 0xCF8).
    PciAddress,
    /// PCI configuration data through the latched address: real for
    /// domain 0 reads, all-ones otherwise; writes dropped.
    PciData,
    /// The latched CMOS index (reads give it back & 0x7F).
    CmosIndex,
    /// Reads all-ones, writes dropped.
    Absent,
}

/// The access `port..port + size` by a domain (`hardware_domain`: domain 0).
pub fn access(port: u16, size: u8, hardware_domain: bool) -> Access {
    if port == PCI_CF8 && size == 4 {
        return Access::PciAddress;
    }
    if overlaps(port, size, PCI_CFC, PCI_CFC + 3) && u32::from(port) + u32::from(size) <= u32::from(PCI_CFC) + 4 {
        return Access::PciData;
    }
    if port == CMOS_INDEX {
        return Access::CmosIndex;
    }
    let reserved = RESERVED.iter().any(|&(lo, hi)| overlaps(port, size, lo, hi));
    // 0xCF8-0xCFF other than the cases above stays away from the hardware
    // too: a partial write to 0xCF8 would change the real address latch.
    if !hardware_domain || reserved || overlaps(port, size, PCI_CF8, PCI_CFC + 3) {
        Access::Absent
    } else {
        Access::Hardware
    }
}

/// All-ones of `size` bytes.
pub fn ones(size: u8) -> u32 {
    if size >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * u32::from(size))) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iopl_one_allows_the_kernel_but_not_user_mode() {
        let p = IoPerms { iopl: 1, ..IoPerms::default() };
        assert!(p.iopl_allows(true));
        assert!(!p.iopl_allows(false));
        assert!(!IoPerms::default().iopl_allows(true), "IOPL starts at 0");
        assert!(IoPerms { iopl: 3, ..IoPerms::default() }.iopl_allows(false));
    }

    #[test]
    fn the_bitmap_covers_nr_ports_and_every_byte_of_the_access() {
        let p = IoPerms { iopl: 0, bitmap: 0x1000, nr_ports: 0x400 };
        assert_eq!(p.bitmap_bytes(0x3FC, 4), Some(0x1000 + 0x7F));
        assert_eq!(p.bitmap_bytes(0x3FD, 4), None, "runs past nr_ports");
        assert_eq!(IoPerms::default().bitmap_bytes(0, 1), None);
        assert!(bitmap_allows(0xFF0F, 0x14, 4), "bits 4-7 clear");
        assert!(!bitmap_allows(0xFF0F, 0x13, 2));
        assert!(!bitmap_allows(0xFEFF, 0x06, 4), "the second byte counts");
        assert!(bitmap_allows(0xFF3F, 0x0E, 2), "ports 0xE-0xF are bits 6-7 of the first byte");
    }

    #[test]
    fn domain_zero_gets_the_hardware_except_the_hypervisors_ports() {
        assert_eq!(access(0x80, 1, true), Access::Hardware);
        assert_eq!(access(0x80, 1, false), Access::Absent, "a domU has no host ports");
        for (port, size) in [
            (0x3F8, 1),
            (0x3FD, 1),
            (0x3F6, 4),
            (0xF4, 1),
            (0xF2, 4),
            (0x20, 1),
            (0x43, 1),
            (0x61, 1),
            (0xA1, 1),
            (0x71, 1),
        ] {
            assert_eq!(access(port, size, true), Access::Absent, "port {port:#x}/{size}");
        }
        assert_eq!(access(0x3F7, 1, true), Access::Hardware);
    }

    #[test]
    fn pci_and_cmos_are_latched_for_everyone() {
        for hwdom in [false, true] {
            assert_eq!(access(0xCF8, 4, hwdom), Access::PciAddress);
            assert_eq!(access(0xCF8, 2, hwdom), Access::Absent);
            assert_eq!(access(0xCF9, 1, hwdom), Access::Absent, "reset control stays away");
            assert_eq!(access(0xCFC, 4, hwdom), Access::PciData);
            assert_eq!(access(0xCFE, 2, hwdom), Access::PciData);
            assert_eq!(access(0xCFF, 1, hwdom), Access::PciData);
            assert_eq!(access(0xCFE, 4, hwdom), Access::Absent);
            assert_eq!(access(0x70, 1, hwdom), Access::CmosIndex);
        }
    }

    #[test]
    fn all_ones_has_the_access_size() {
        assert_eq!((ones(1), ones(2), ones(4)), (0xFF, 0xFFFF, 0xFFFF_FFFF));
    }
}
