//! The guest's page tables as the hardware walks them: 4 levels of
//! guest-physical tables, each table frame found through the p2m, with
//! CR0.WP, EFER.NXE set and SMEP/SMAP off. A PS entry at level 2 maps a
//! 2 MiB page; PS at levels 3 and 4 is a reserved bit (no 1 GiB pages are
//! offered to a shadowed guest, as on Xen).

use super::Access;
use crate::mm::{PhysAddr, PhysMemory};
use crate::p2m::{P2m, P2mType};
use abi::mmu::pte::{ACCESSED, ADDR_MASK, DIRTY, NX, PAT_PSE, PRESENT, RW, USER};
use abi::{Gfn, Mfn};

/// Index of `va` in the table at `level`.
pub const fn index(va: u64, level: u8) -> usize {
    ((va >> (12 + 9 * (level as u32 - 1))) & 511) as usize
}

/// The guest frame an entry points at.
pub const fn entry_gfn(e: u64) -> Gfn {
    Gfn((e & ADDR_MASK) >> 12)
}

/// Whether entry `e` at `level` sets a reserved bit.
pub const fn reserved(e: u64, level: u8) -> bool {
    e & PAT_PSE != 0 && level >= 3
}

/// Whether entry `e` at `level` maps a page (rather than a table).
pub const fn is_leaf(e: u64, level: u8) -> bool {
    level == 1 || (level == 2 && e & PAT_PSE != 0)
}

/// The machine frame of a guest page-table frame: RAM of the domain only.
pub fn table_mfn(p2m: &P2m<'_>, gfn: Gfn) -> Option<Mfn> {
    p2m.get(gfn).filter(|(e, _)| e.ty == P2mType::Ram).map(|(e, _)| e.mfn)
}

/// One guest entry read by a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Step {
    /// Machine frame of the table read.
    pub table: Mfn,
    /// Entry index in it.
    pub index: usize,
    /// The entry.
    pub entry: u64,
}

/// Rights a guest translation grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GuestRights {
    /// Writable (RW at every level).
    pub write: bool,
    /// User-accessible (US at every level).
    pub user: bool,
    /// Executable (NX at no level).
    pub exec: bool,
}

impl GuestRights {
    /// Whether `a` is allowed.
    pub const fn permits(self, a: Access) -> bool {
        (!a.write || self.write) && (!a.user || self.user) && (!a.exec || self.exec)
    }
}

/// A successful guest walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Entries read, level 4 first (`steps[4 - level]`).
    pub steps: [Step; 4],
    /// Level of the leaf entry (1, or 2 for a 2 MiB page).
    pub leaf_level: u8,
    /// The guest frame of the 4 KiB page `va` lies in.
    pub gfn: Gfn,
    /// Rights over the whole walk.
    pub rights: GuestRights,
}

impl Walk {
    /// The leaf entry's step.
    pub fn leaf(&self) -> Step {
        self.steps[4 - self.leaf_level as usize]
    }
}

/// Why a guest walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An entry at `level` is not present.
    NotPresent,
    /// An entry sets a reserved bit.
    Reserved,
    /// A table frame (the root, or one an entry names) is not RAM of the
    /// domain: the hardware would take a nested fault. Crash the domain.
    TableNotRam(Gfn),
}

/// Walks the guest's tables from root `cr3` for `va`.
pub fn walk<M: PhysMemory>(p2m: &P2m<'_>, mem: &M, cr3: Gfn, va: u64) -> Result<Walk, Stop> {
    let mut steps = [Step::default(); 4];
    let mut table_gfn = cr3;
    let mut rights = GuestRights { write: true, user: true, exec: true };
    for level in (1..=4u8).rev() {
        let table = table_mfn(p2m, table_gfn).ok_or(Stop::TableNotRam(table_gfn))?;
        let i = index(va, level);
        let entry = mem.read_u64(PhysAddr(table.to_maddr() + i as u64 * 8));
        steps[4 - level as usize] = Step { table, index: i, entry };
        if entry & PRESENT == 0 {
            return Err(Stop::NotPresent);
        }
        if reserved(entry, level) {
            return Err(Stop::Reserved);
        }
        rights.write &= entry & RW != 0;
        rights.user &= entry & USER != 0;
        rights.exec &= entry & NX == 0;
        if is_leaf(entry, level) {
            let within = if level == 2 { (va >> 12) & 511 } else { 0 };
            let base = entry_gfn(entry).0 & if level == 2 { !511 } else { !0 };
            return Ok(Walk { steps, leaf_level: level, gfn: Gfn(base + within), rights });
        }
        table_gfn = entry_gfn(entry);
    }
    unreachable!("level 1 is always a leaf")
}

/// The #PF error code the hardware reports for `access` stopped by `stop`
/// (or, with `stop` absent, refused by the rights of a complete walk).
pub const fn error_code(access: Access, stop: Option<Stop>) -> u32 {
    let mut ec = 0;
    match stop {
        Some(Stop::NotPresent) => {}
        Some(Stop::Reserved) => ec |= super::ec::PRESENT | super::ec::RSVD,
        _ => ec |= super::ec::PRESENT,
    }
    if access.write {
        ec |= super::ec::WRITE;
    }
    if access.user {
        ec |= super::ec::USER;
    }
    if access.exec {
        ec |= super::ec::FETCH;
    }
    ec
}

/// The accessed (and, for a write, dirty) bits the hardware would set on
/// a walk that succeeded: (table, index, new entry) for each entry that
/// changes, level 4 first.
pub fn ad_updates(w: &Walk, write: bool) -> impl Iterator<Item = Step> + '_ {
    let leaf = 4 - w.leaf_level as usize;
    w.steps[..=leaf].iter().enumerate().filter_map(move |(i, s)| {
        let want = ACCESSED | if write && i == leaf { DIRTY } else { 0 };
        (s.entry & want != want).then_some(Step { entry: s.entry | want, ..*s })
    })
}
