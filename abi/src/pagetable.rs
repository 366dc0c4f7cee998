//! Building page-table entries and walking a 4-level table tree.
//!
//! Both are plain computations, so they run (and are tested) anywhere; a
//! guest supplies the one thing that needs its address space, a function
//! reading entry `index` of the table in machine frame `mfn`.
//!
//! ```
//! use xen_core_pv_abi::pagetable::Pte;
//! use xen_core_pv_abi::Mfn;
//!
//! // A writable, non-executable kernel mapping of machine frame 0x1234.
//! let pte = Pte::new(Mfn(0x1234)).writable().no_execute();
//! assert_eq!(pte.bits(), 0x8000_0000_0123_4023); // NX | frame | Accessed | RW | Present
//! assert!(pte.is_present() && pte.is_writable() && !pte.is_user());
//! assert_eq!(pte.mfn(), Mfn(0x1234));
//! // Read-only again, as a page table must be mapped in a PV guest.
//! assert!(!pte.read_only().is_writable());
//! ```

use crate::mmu::pte::{ACCESSED, ADDR_MASK, DIRTY, GLOBAL, NX, PAT_PSE, PRESENT, RW, USER};
use crate::{GuestVa, Mfn};

/// A page-table entry (any level), built from a frame and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Pte(pub u64);

impl Pte {
    /// A present, read-only, kernel-only entry mapping `mfn`, Accessed set
    /// (as the hypervisor's validation would leave it).
    pub const fn new(mfn: Mfn) -> Pte {
        Pte((mfn.0 << crate::PAGE_SHIFT) & ADDR_MASK | PRESENT | ACCESSED)
    }

    /// The not-present entry 0 (unmaps).
    pub const fn empty() -> Pte {
        Pte(0)
    }

    /// With RW set.
    pub const fn writable(self) -> Pte {
        Pte(self.0 | RW)
    }

    /// With RW clear.
    pub const fn read_only(self) -> Pte {
        Pte(self.0 & !RW)
    }

    /// With USER set (reachable from guest user mode; the hypervisor sets it
    /// on every entry a 64-bit PV kernel writes anyway, since the kernel
    /// itself runs in ring 3).
    pub const fn user(self) -> Pte {
        Pte(self.0 | USER)
    }

    /// With NX set.
    pub const fn no_execute(self) -> Pte {
        Pte(self.0 | NX)
    }

    /// With Global set (L1 entries only).
    pub const fn global(self) -> Pte {
        Pte(self.0 | GLOBAL)
    }

    /// With Dirty set.
    pub const fn dirty(self) -> Pte {
        Pte(self.0 | DIRTY)
    }

    /// The raw value, as `mmu_update`'s `val`.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The frame it maps (meaningful if present).
    pub const fn mfn(self) -> Mfn {
        Mfn((self.0 & ADDR_MASK) >> crate::PAGE_SHIFT)
    }

    /// Present bit.
    pub const fn is_present(self) -> bool {
        self.0 & PRESENT != 0
    }

    /// RW bit.
    pub const fn is_writable(self) -> bool {
        self.0 & RW != 0
    }

    /// USER bit.
    pub const fn is_user(self) -> bool {
        self.0 & USER != 0
    }

    /// PSE bit (a 2 MiB or 1 GiB leaf in an L2 or L3 entry).
    pub const fn is_huge(self) -> bool {
        self.0 & PAT_PSE != 0
    }
}

/// The index of `va` in its level-`level` table (4 = L4 … 1 = L1).
///
/// ```
/// use xen_core_pv_abi::pagetable::table_index;
/// use xen_core_pv_abi::GuestVa;
///
/// let va = GuestVa(0xFFFF_FFFF_8020_3000);
/// assert_eq!([4, 3, 2, 1].map(|l| table_index(va, l)), [511, 510, 1, 3]);
/// ```
pub const fn table_index(va: GuestVa, level: u8) -> usize {
    ((va.0 >> (12 + 9 * (level as u32 - 1))) & 511) as usize
}

/// One level of a walk: the table read, the index used and its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// 4 for the root … 1 for the L1.
    pub level: u8,
    /// The table's machine frame.
    pub table: Mfn,
    /// The entry's index in it.
    pub index: usize,
    /// The entry.
    pub entry: Pte,
}

impl Step {
    /// The machine address of the entry: `mmu_update`'s `ptr` for changing it.
    pub const fn entry_maddr(&self) -> u64 {
        self.table.to_maddr() + self.index as u64 * 8
    }
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkEnd {
    /// `va` is mapped to `mfn` (the 4 KiB frame holding it, also inside a
    /// huge page) by a leaf at `level`.
    Mapped {
        /// The frame holding `va`.
        mfn: Mfn,
        /// The leaf's level (1, or 2/3 for a huge page).
        level: u8,
    },
    /// The entry at `level` is not present.
    NotPresent {
        /// The level of the not-present entry.
        level: u8,
    },
    /// The table at `level` could not be read (the reader returned `None`).
    Unreadable {
        /// The level of the unreadable table.
        level: u8,
    },
}

/// The result of [`walk`]: the steps taken (root first) and the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Steps taken, in order; `None` past the end.
    pub steps: [Option<Step>; 4],
    /// How it ended.
    pub end: WalkEnd,
}

impl Walk {
    /// The step at `level`, if the walk got there.
    pub fn at(&self, level: u8) -> Option<Step> {
        self.steps.iter().flatten().find(|s| s.level == level).copied()
    }

    /// The frame `va` is mapped to, if it is.
    pub fn mfn(&self) -> Option<Mfn> {
        match self.end {
            WalkEnd::Mapped { mfn, .. } => Some(mfn),
            _ => None,
        }
    }
}

/// Walks the tree rooted at `root` for `va`, reading entries with
/// `read(table, index)`.
///
/// ```
/// use xen_core_pv_abi::pagetable::{walk, Pte, WalkEnd};
/// use xen_core_pv_abi::{GuestVa, Mfn};
///
/// // A tiny tree: L4 (frame 1) -> L3 (2) -> L2 (3) -> L1 (4) -> frame 99.
/// let read = |t: Mfn, i: usize| {
///     Some(match (t.0, i) {
///         (1, 0) => Pte::new(Mfn(2)).bits(),
///         (2, 0) => Pte::new(Mfn(3)).bits(),
///         (3, 0) => Pte::new(Mfn(4)).bits(),
///         (4, 5) => Pte::new(Mfn(99)).writable().bits(),
///         _ => 0,
///     })
/// };
/// let w = walk(Mfn(1), GuestVa(0x5000), read);
/// assert_eq!(w.end, WalkEnd::Mapped { mfn: Mfn(99), level: 1 });
/// // The L1 entry to rewrite to move the mapping elsewhere:
/// assert_eq!(w.at(1).unwrap().entry_maddr(), 0x4000 + 5 * 8);
/// assert_eq!(walk(Mfn(1), GuestVa(0x6000), read).end, WalkEnd::NotPresent { level: 1 });
/// ```
pub fn walk(root: Mfn, va: GuestVa, mut read: impl FnMut(Mfn, usize) -> Option<u64>) -> Walk {
    let mut steps = [None; 4];
    let mut table = root;
    for (i, level) in [4u8, 3, 2, 1].into_iter().enumerate() {
        let index = table_index(va, level);
        let Some(bits) = read(table, index) else {
            return Walk { steps, end: WalkEnd::Unreadable { level } };
        };
        let entry = Pte(bits);
        steps[i] = Some(Step { level, table, index, entry });
        if !entry.is_present() {
            return Walk { steps, end: WalkEnd::NotPresent { level } };
        }
        if level == 1 || (level <= 3 && entry.is_huge()) {
            // Frames inside a huge page: the 4 KiB frame holding va.
            let inside = (va.0 >> crate::PAGE_SHIFT) & ((1 << (9 * (level as u32 - 1))) - 1);
            let base = if level == 1 { entry.mfn().0 } else { entry.mfn().0 & !((1 << (9 * (level as u32 - 1))) - 1) };
            return Walk { steps, end: WalkEnd::Mapped { mfn: Mfn(base + inside), level } };
        }
        table = entry.mfn();
    }
    unreachable!("level 1 always ends the walk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_l2_leaf_maps_the_4k_frame_inside_it() {
        let read = |t: Mfn, i: usize| {
            Some(match (t.0, i) {
                (1, 0) => Pte::new(Mfn(2)).bits(),
                (2, 0) => Pte::new(Mfn(3)).bits(),
                (3, 1) => Pte::new(Mfn(0x400)).bits() | PAT_PSE,
                _ => 0,
            })
        };
        let w = walk(Mfn(1), GuestVa(0x20_0000 + 7 * 4096 + 5), read);
        assert_eq!(w.end, WalkEnd::Mapped { mfn: Mfn(0x407), level: 2 });
        assert_eq!(w.at(1), None);
    }

    #[test]
    fn an_unreadable_table_ends_the_walk_there() {
        let w = walk(Mfn(1), GuestVa(0), |t, _| (t.0 == 1).then_some(Pte::new(Mfn(2)).bits()));
        assert_eq!(w.end, WalkEnd::Unreadable { level: 3 });
        assert_eq!(w.mfn(), None);
    }

    #[test]
    fn the_builder_keeps_the_frame_and_flag_bits_apart() {
        let p = Pte::new(Mfn(u64::MAX)).user().global().dirty();
        assert_eq!(p.mfn(), Mfn(ADDR_MASK >> 12));
        assert!(p.is_user() && !p.is_writable() && p.is_present());
        assert!(!Pte::empty().is_present());
    }
}
