//! The control registers a PV guest kernel sees (fact sheet §5.2): CR0 is
//! the real one with TS replaced by the virtual TS, and only TS may be
//! changed; CR4 is a virtual register made of the few bits a guest may
//! choose and Xen's PAE/MCE/OSFXSR/OSXMMEXCPT; CR2 is virtual.

/// CR0.TS.
pub const CR0_TS: u64 = 1 << 3;
/// CR4.TSD.
pub const CR4_TSD: u64 = 1 << 2;
/// CR4.DE.
pub const CR4_DE: u64 = 1 << 3;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.MCE.
pub const CR4_MCE: u64 = 1 << 6;
/// CR4.OSFXSR.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;

/// The real CR4 bits a PV guest always sees.
pub const CR4_HOST_VISIBLE: u64 = CR4_PAE | CR4_MCE | CR4_OSFXSR | CR4_OSXMMEXCPT;
/// The bits a guest may set and read back. Xen also lets TSD, FSGSBASE and
/// OSXSAVE through and makes them real; xen-core keeps only DE (virtual:
/// it governs DR4/5 and I/O breakpoints) and drops the others, since it
/// would have to make them real on every switch (a deliberate difference).
pub const CR4_GUEST_MASK: u64 = CR4_DE;

/// The guest's view of CR0: `real` with TS from the virtual TS.
pub fn guest_cr0(real: u64, virtual_ts: bool) -> u64 {
    (real & !CR0_TS) | if virtual_ts { CR0_TS } else { 0 }
}

/// A `mov cr0` of `value`: `Some(ts)` (the new virtual TS, as
/// `fpu_taskswitch`) if only TS differs from the real CR0, else `None`
/// (#GP, as Xen).
pub fn cr0_write(real: u64, value: u64) -> Option<bool> {
    ((value ^ real) & !CR0_TS == 0).then_some(value & CR0_TS != 0)
}

/// The guest's view of CR4 given the bits it chose. The host bits are the
/// four Xen always runs with (typically 0x660 in all); xen-core runs with
/// PAE, OSFXSR and OSXMMEXCPT too, and shows MCE as Xen does although it
/// does not enable machine-check exceptions itself.
pub fn guest_cr4(chosen: u64) -> u64 {
    (chosen & CR4_GUEST_MASK) | CR4_HOST_VISIBLE
}

/// A `mov cr4` never faults: the bits the guest may not choose are dropped.
/// Returns the new chosen bits.
pub fn cr4_write(value: u64) -> u64 {
    value & CR4_GUEST_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_CR0: u64 = 0x8005_0033;

    #[test]
    fn cr0_reads_show_the_virtual_ts() {
        assert_eq!(guest_cr0(REAL_CR0, false), 0x8005_0033);
        assert_eq!(guest_cr0(REAL_CR0, true), 0x8005_003B);
        assert_eq!(guest_cr0(REAL_CR0 | CR0_TS, false), 0x8005_0033, "the real TS never shows");
    }

    #[test]
    fn cr0_writes_may_change_ts_only() {
        assert_eq!(cr0_write(REAL_CR0, REAL_CR0 | CR0_TS), Some(true));
        assert_eq!(cr0_write(REAL_CR0, REAL_CR0), Some(false));
        assert_eq!(cr0_write(REAL_CR0, REAL_CR0 & !(1 << 16)), None, "clearing WP");
        assert_eq!(cr0_write(REAL_CR0, REAL_CR0 | (1 << 30)), None, "setting CD");
        assert_eq!(cr0_write(REAL_CR0, 0), None);
    }

    #[test]
    fn cr4_shows_the_chosen_de_and_the_host_bits() {
        assert_eq!(guest_cr4(0), 0x660, "PGE and SMEP are Xen's business");
        assert_eq!(guest_cr4(cr4_write(u64::MAX)), 0x668);
        assert_eq!(cr4_write(CR4_TSD | (1 << 16) | (1 << 18)), 0, "TSD/FSGSBASE/OSXSAVE dropped");
    }
}
