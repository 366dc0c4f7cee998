//! Page-table entry rules that depend only on the entry's bits: disallowed
//! flags per level, the guest-visible adjustments applied before an entry is
//! stored (fact sheet §3.4–§3.6), and the fast path for harmless changes.

use abi::mmu::pte::*;
use abi::Mfn;

/// A 64-bit page-table entry as a guest wrote or reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Pte(pub u64);

/// Flags a guest may never set in a present L2, L3 or L4 entry: cache
/// attributes, PS (no superpages for guests) and G.
pub const UPPER_DISALLOWED: u64 = PWT | PCD | PAT_PSE | GLOBAL;
/// Flags a guest without I/O resources may never set in a present L1 entry:
/// cache attributes (PWT, PCD, PAT). G is allowed.
pub const L1_DISALLOWED: u64 = PWT | PCD | PAT_PSE;
/// Bits that may change without revalidation (§3.6). RW is deliberately not
/// here (XSA-182), nor are PS or the cache bits (XSA-148).
pub const FAST_PATH_BITS: u64 = NX | AVAIL_HIGH | AVAIL_LOW | GLOBAL | DIRTY | ACCESSED | USER;

impl Pte {
    /// Present bit.
    pub const fn present(self) -> bool {
        self.0 & PRESENT != 0
    }
    /// Writable bit.
    pub const fn writable(self) -> bool {
        self.0 & RW != 0
    }
    /// The frame the entry points at.
    pub const fn mfn(self) -> Mfn {
        Mfn((self.0 & ADDR_MASK) >> 12)
    }
    /// Whether the frame field is all ones (an impossible frame).
    pub const fn mfn_all_ones(self) -> bool {
        self.0 & ADDR_MASK == ADDR_MASK
    }

    /// Whether a present entry sets a flag disallowed at `level`.
    /// `cache_attrs` is true for domains with I/O resources, which may use
    /// cache attributes in L1 entries.
    pub const fn has_disallowed_flags(self, level: u8, cache_attrs: bool) -> bool {
        let mask = match level {
            1 if cache_attrs => 0,
            1 => L1_DISALLOWED,
            _ => UPPER_DISALLOWED,
        };
        self.0 & mask != 0
    }

    /// The value actually stored for a present entry of a 64-bit PV guest
    /// (§3.5). Guest kernels run in ring 3, so every level gets USER; L1
    /// kernel mappings are marked with bit 52, user mappings made global;
    /// L4 entries also get ACCESSED.
    pub const fn adjusted(self, level: u8) -> Pte {
        if !self.present() {
            return self;
        }
        let mut v = self.0;
        match level {
            1 => {
                if v & USER == 0 {
                    v |= USER | GUEST_KERNEL;
                }
                if v & GUEST_KERNEL == 0 {
                    v |= USER | GLOBAL;
                }
            }
            2 | 3 => v |= USER,
            _ => v |= USER | ACCESSED,
        }
        Pte(v)
    }

    /// Whether a present L1 entry is already stored as [`Pte::adjusted`]
    /// would store it (`adjusted(1) == self`), told by its bits alone: USER
    /// set, and the kernel mark or GLOBAL with it. Two tests instead of
    /// building the adjusted value, for the per-entry loops.
    #[inline(always)]
    pub const fn l1_already_adjusted(self) -> bool {
        self.0 & USER != 0 && self.0 & (GUEST_KERNEL | GLOBAL) != 0
    }

    /// Whether replacing `old` by `self` (both present, `self` already
    /// adjusted) changes only bits that need no revalidation.
    pub const fn is_fast_path_change_from(self, old: Pte) -> bool {
        old.present() && self.present() && (old.0 ^ self.0) & !FAST_PATH_BITS == 0
    }
}

/// Index of `va` in the table at `level`.
pub const fn table_index(va: u64, level: u8) -> usize {
    ((va >> (12 + 9 * (level as u32 - 1))) & 511) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superpages_cache_bits_and_global_are_refused_above_l1() {
        for level in 2..=4 {
            for bit in [PWT, PCD, PAT_PSE, GLOBAL] {
                assert!(Pte(PRESENT | bit).has_disallowed_flags(level, true), "level {level} bit {bit:#x}");
            }
            assert!(!Pte(PRESENT | RW | USER | ACCESSED | DIRTY | NX | AVAIL_HIGH).has_disallowed_flags(level, false));
        }
    }

    #[test]
    fn l1_allows_global_and_allows_cache_bits_only_with_io_resources() {
        assert!(!Pte(PRESENT | GLOBAL).has_disallowed_flags(1, false));
        for bit in [PWT, PCD, PAT_PSE] {
            assert!(Pte(PRESENT | bit).has_disallowed_flags(1, false));
            assert!(!Pte(PRESENT | bit).has_disallowed_flags(1, true));
        }
    }

    #[test]
    fn stored_entries_get_the_guest_visible_adjustments() {
        assert_eq!(Pte(PRESENT).adjusted(1), Pte(PRESENT | USER | GUEST_KERNEL));
        assert_eq!(Pte(PRESENT | USER).adjusted(1), Pte(PRESENT | USER | GLOBAL));
        assert_eq!(Pte(PRESENT | USER | GUEST_KERNEL).adjusted(1), Pte(PRESENT | USER | GUEST_KERNEL));
        assert_eq!(Pte(PRESENT).adjusted(2), Pte(PRESENT | USER));
        assert_eq!(Pte(PRESENT).adjusted(3), Pte(PRESENT | USER));
        assert_eq!(Pte(PRESENT).adjusted(4), Pte(PRESENT | USER | ACCESSED));
        assert_eq!(Pte(0x1234_5000).adjusted(4), Pte(0x1234_5000));
    }

    #[test]
    fn l1_entries_already_adjusted_are_told_by_their_bits() {
        // Every combination of the bits the adjustment reads or sets, over
        // a few frames and other flags.
        for other in [PRESENT, PRESENT | RW | ACCESSED | DIRTY, PRESENT | NX | (0x1234 << 12)] {
            for bits in 0..8u64 {
                let e = Pte(other
                    | if bits & 1 != 0 { USER } else { 0 }
                    | if bits & 2 != 0 { GLOBAL } else { 0 }
                    | if bits & 4 != 0 { GUEST_KERNEL } else { 0 });
                assert_eq!(e.l1_already_adjusted(), e.adjusted(1) == e, "{e:x?}");
            }
        }
    }

    #[test]
    fn fast_path_covers_harmless_bits_but_never_rw_ps_or_frame() {
        let old = Pte(0x5000 | PRESENT | USER);
        assert!(Pte(old.0 | ACCESSED | DIRTY | NX | (1 << 60)).is_fast_path_change_from(old));
        assert!(!Pte(old.0 | RW).is_fast_path_change_from(old));
        assert!(!Pte(old.0 | PAT_PSE).is_fast_path_change_from(old));
        assert!(!Pte(old.0 | PCD).is_fast_path_change_from(old));
        assert!(!Pte(0x6000 | PRESENT | USER).is_fast_path_change_from(old));
        assert!(!Pte(old.0).is_fast_path_change_from(Pte(0)));
    }

    #[test]
    fn table_index_selects_nine_bits_per_level() {
        let va = 0xFFFF_8880_1234_5678u64;
        assert_eq!(table_index(va, 4), 273);
        assert_eq!(table_index(va, 1), (va >> 12) as usize & 511);
    }
}
