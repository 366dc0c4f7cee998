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
