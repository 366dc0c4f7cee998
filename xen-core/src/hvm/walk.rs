//! Page-walk memory references per TLB miss: what `make modes` reports,
//! since icount cannot see walks.
//!
//! With 1-D paging (PV direct paging, shadow paging) a miss reads one entry
//! per level: `n`. With nested paging every guest-physical address the
//! guest walk produces (each of its `n` table frames, and the final one) is
//! itself walked through the `m`-level nested tables, and the `n` guest
//! entries are read: `n + (n + 1)·m = (n + 1)·(m + 1) − 1`, 24 for 4 and 4.
//! Large pages shorten either dimension; the replays below count what a
//! given set of tables really costs.

use crate::mm::{PhysAddr, PhysMemory};
use crate::p2m::npt;
use crate::shadow::guest;
use abi::mmu::pte::{ADDR_MASK, PAT_PSE, PRESENT};
use abi::{Gfn, Mfn};

/// References of a 1-D walk of `levels` levels.
pub const fn one_d(levels: u32) -> u32 {
    levels
}

/// References of a 2-D walk: `guest` guest levels, `host` nested levels.
pub const fn two_d(guest: u32, host: u32) -> u32 {
    (guest + 1) * (host + 1) - 1
}

/// References of a hardware walk of the machine tables at `root` (direct
/// paging, or shadows) for `va`; `None` if it faults.
pub fn replay_one_d<M: PhysMemory>(mem: &M, root: Mfn, va: u64) -> Option<u32> {
    let mut table = root;
    for (refs, level) in (1..=4u8).rev().enumerate() {
        let e = mem.read_u64(PhysAddr(table.to_maddr() + guest::index(va, level) as u64 * 8));
        if e & PRESENT == 0 {
            return None;
        }
        if level == 1 || (level == 2 && e & PAT_PSE != 0) {
            return Some(refs as u32 + 1);
        }
        table = Mfn((e & ADDR_MASK) >> 12);
    }
    None
}

/// References of a nested walk for `va`: the guest's tables from its CR3
/// `cr3`, each guest-physical address translated through the nested tables
/// at `npt_root`. `None` if either dimension faults.
pub fn replay_two_d<M: PhysMemory>(mem: &M, npt_root: Mfn, cr3: Gfn, va: u64) -> Option<u32> {
    let mut refs = 0;
    let mut table = cr3;
    for level in (1..=4u8).rev() {
        let host = npt::walk(mem, npt_root, table);
        refs += host.refs;
        let (e, _) = host.entry?;
        let entry = mem.read_u64(PhysAddr(e.mfn.to_maddr() + guest::index(va, level) as u64 * 8));
        refs += 1;
        if entry & PRESENT == 0 || guest::reserved(entry, level) {
            return None;
        }
        if guest::is_leaf(entry, level) {
            let within = if level == 2 { (va >> 12) & 511 } else { 0 };
            let base = guest::entry_gfn(entry).0 & if level == 2 { !511 } else { !0 };
            let data = npt::walk(mem, npt_root, Gfn(base + within));
            data.entry?;
            return Some(refs + data.refs);
        }
        table = guest::entry_gfn(entry);
    }
    None
}

/// `make modes`' working set: 2048 pages from 4 MiB above the kernel's
/// base (guest-kernel's walk, PV and PVH alike).
pub const MODES_WALK: (u64, u64) = (0xFFFF_FFFF_8040_0000, 2048);

/// The references per TLB miss over a range of pages, one replay each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeRefs {
    /// Fewest references of a mapped page.
    pub min: u32,
    /// Most.
    pub max: u32,
    /// Their sum over the mapped pages.
    pub total: u64,
    /// Pages whose walk completes.
    pub mapped: u64,
    /// Pages whose walk faults (not mapped, or a shadow not built yet).
    pub unmapped: u64,
}

/// Replays `pages` pages from `va` with `one` (a page's references, `None`
/// if its walk faults).
pub fn over_range(va: u64, pages: u64, mut one: impl FnMut(u64) -> Option<u32>) -> RangeRefs {
    let mut r = RangeRefs { min: u32::MAX, ..RangeRefs::default() };
    for p in 0..pages {
        match one(va.wrapping_add(p << 12)) {
            Some(n) => {
                r.min = r.min.min(n);
                r.max = r.max.max(n);
                r.total += u64::from(n);
                r.mapped += 1;
            }
            None => r.unmapped += 1,
        }
    }
    if r.mapped == 0 {
        r.min = 0;
    }
    r
}

impl core::fmt::Display for RangeRefs {
    /// `4`, or `4-19 (mean 11.5)`, then `, N pages not mapped` if any;
    /// `not mapped` if none is.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.mapped == 0 {
            return write!(f, "not mapped");
        }
        if self.min == self.max {
            write!(f, "{}", self.min)?;
        } else {
            let tenths = self.total * 10 / self.mapped;
            write!(f, "{}-{} (mean {}.{})", self.min, self.max, tenths / 10, tenths % 10)?;
        }
        if self.unmapped > 0 {
            write!(f, ", {} pages not mapped", self.unmapped)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn a_range_reports_its_fewest_and_most_references_and_the_pages_not_mapped() {
        let r = over_range(0x1000, 4, |va| [Some(4), None, Some(19), Some(4)][(va >> 12) as usize - 1]);
        assert_eq!(r, RangeRefs { min: 4, max: 19, total: 27, mapped: 3, unmapped: 1 });
        assert_eq!(r.to_string(), "4-19 (mean 9.0), 1 pages not mapped");
        assert_eq!(over_range(0, 3, |_| Some(4)).to_string(), "4");
        assert_eq!(over_range(0, 3, |_| None).to_string(), "not mapped");
    }
}
