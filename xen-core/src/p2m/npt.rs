//! The nested page tables (AMD NPT) computed from a p2m: the 4-level tables
//! the hardware walks to turn a guest-physical address into a machine one.
//!
//! The format is the long-mode page-table format. Every entry has USER set,
//! since the hardware treats every nested walk as a user access. Upper
//! entries allow everything (P, RW, US, A): the rights live in the leaves,
//! so one leaf decides each frame. A 2 MiB p2m entry becomes an L2 entry
//! with PS; a 4 KiB one an L1 entry. Leaves have A and D preset (the
//! hardware need not write them), NX unless executable, RW only if
//! writable, PCD|PWT for MMIO, and the p2m type in software bits 9–11 so
//! an NPT fault can be classified from the entry alone.
//!
//! Pure: tables are written through [`PhysMemory`] into frames that
//! [`TableFrames`] supplies.

use super::entry::{Order, P2mEntry, P2mType, Rights};
use super::table::P2m;
use crate::mm::{PhysAddr, PhysMemory};
use abi::mmu::pte::{ACCESSED, ADDR_MASK, DIRTY, NX, PAT_PSE, PCD, PRESENT, PWT, RW, USER};
use abi::{Errno, Gfn, Mfn};

/// Where the p2m type code sits (software bits 9–11).
const TYPE_SHIFT: u32 = 9;
/// Upper entries: present, writable, user, accessed.
const UPPER: u64 = PRESENT | RW | USER | ACCESSED;
/// The largest guest frame a 4-level walk reaches (48-bit guest-physical).
pub const MAX_GFN: u64 = 1 << 36;

/// Supplies zeroed frames for nested tables (the hypervisor's own).
pub trait TableFrames {
    /// A frame for one table, or `None` when memory is short.
    fn alloc_table(&mut self) -> Option<Mfn>;
}

/// The leaf entry the hardware walks for `e`, at `order`.
pub const fn leaf(e: P2mEntry, order: Order) -> u64 {
    let mut v = (e.mfn.0 << 12) & ADDR_MASK;
    v |= PRESENT | USER | ACCESSED | DIRTY | (e.ty.code() << TYPE_SHIFT);
    if e.rights.write {
        v |= RW;
    }
    if !e.rights.exec {
        v |= NX;
    }
    if matches!(e.ty, P2mType::Mmio) {
        v |= PCD | PWT;
    }
    if matches!(order, Order::Page2M) {
        v |= PAT_PSE;
    }
    v
}

/// Index of `gfn` in the table at `level` (1–4).
const fn index(gfn: Gfn, level: u32) -> usize {
    ((gfn.0 >> (9 * (level - 1))) & 511) as usize
}

fn entry_addr(table: Mfn, i: usize) -> PhysAddr {
    PhysAddr(table.to_maddr() + i as u64 * 8)
}

/// The table below entry `i` of `table`, made if absent.
fn child<M: PhysMemory>(mem: &mut M, frames: &mut impl TableFrames, table: Mfn, i: usize) -> Result<Mfn, Errno> {
    let e = mem.read_u64(entry_addr(table, i));
    if e & PRESENT != 0 {
        return Ok(Mfn((e & ADDR_MASK) >> 12));
    }
    let t = frames.alloc_table().ok_or(Errno::ENOMEM)?;
    mem.zero_frame(t);
    mem.write_u64(entry_addr(table, i), t.to_maddr() | UPPER);
    Ok(t)
}

/// Builds the nested tables for `p2m` and returns the root (the VMCB's
/// `N_CR3`). Every guest frame the p2m maps is mapped with its rights;
/// nothing else is.
///
/// # Errors
/// `ENOMEM` when [`TableFrames`] runs out (the tables built so far are
/// the caller's to free); `EINVAL` for a map beyond [`MAX_GFN`].
pub fn build<M: PhysMemory>(p2m: &P2m<'_>, mem: &mut M, frames: &mut impl TableFrames) -> Result<Mfn, Errno> {
    if p2m.max_gfn().0 > MAX_GFN {
        return Err(Errno::EINVAL);
    }
    let root = frames.alloc_table().ok_or(Errno::ENOMEM)?;
    mem.zero_frame(root);
    let mut g = 0;
    while g < p2m.max_gfn().0 {
        let gfn = Gfn(g);
        let Some((e, order)) = p2m.get(gfn) else {
            g += 1;
            continue;
        };
        let l3 = child(mem, frames, root, index(gfn, 4))?;
        let l2 = child(mem, frames, l3, index(gfn, 3))?;
        match order {
            Order::Page2M => {
                mem.write_u64(entry_addr(l2, index(gfn, 2)), leaf(e, order));
                g += order.frames();
            }
            Order::Page4K => {
                let l1 = child(mem, frames, l2, index(gfn, 2))?;
                mem.write_u64(entry_addr(l1, index(gfn, 1)), leaf(e, order));
                g += 1;
            }
        }
    }
    Ok(root)
}

/// Makes the nested tables at `root` agree with `p2m` again for
/// `[gfn, gfn + order)` after a change there (ballooning): a chunk that is
/// one 2 MiB entry becomes one 2 MiB leaf; otherwise its L1 table gets the
/// changed entries, and a 2 MiB leaf being split gets a new L1 table,
/// filled completely before the L2 entry points at it, so the hardware
/// never walks a half-written table. An L1 table a merge left unreachable
/// stays the caller's (it frees every table frame at teardown). The
/// caller flushes the domain's ASID before the guest runs again.
///
/// # Errors
/// `ENOMEM` when a table frame is needed and [`TableFrames`] has none: the
/// tables may then still map what the p2m no longer does, so the caller
/// must not run the guest again (it crashes the domain).
pub fn update<M: PhysMemory>(
    p2m: &P2m<'_>,
    mem: &mut M,
    frames: &mut impl TableFrames,
    root: Mfn,
    gfn: Gfn,
    order: Order,
) -> Result<(), Errno> {
    let base = Gfn(gfn.0 - gfn.0 % 512);
    let l3 = child(mem, frames, root, index(base, 4))?;
    let l2 = child(mem, frames, l3, index(base, 3))?;
    let l2e = entry_addr(l2, index(base, 2));
    if p2m.is_super(base) {
        let (e, _) = p2m.get(base).ok_or(Errno::EINVAL)?;
        mem.write_u64(l2e, leaf(e, Order::Page2M));
        return Ok(());
    }
    let old = mem.read_u64(l2e);
    let l4k = |g: u64| p2m.get(Gfn(g)).map_or(0, |(e, _)| leaf(e, Order::Page4K));
    if old & PRESENT != 0 && old & PAT_PSE == 0 {
        let l1 = Mfn((old & ADDR_MASK) >> 12);
        for g in gfn.0..gfn.0 + order.frames() {
            mem.write_u64(entry_addr(l1, index(Gfn(g), 1)), l4k(g));
        }
        return Ok(());
    }
    let l1 = frames.alloc_table().ok_or(Errno::ENOMEM)?;
    for i in 0..512 {
        mem.write_u64(entry_addr(l1, i as usize), l4k(base.0 + i));
    }
    mem.write_u64(l2e, l1.to_maddr() | UPPER);
    Ok(())
}

/// What a nested walk of one guest frame found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NptWalk {
    /// The entry found, as the p2m would state it (`None`: an NPT fault).
    pub entry: Option<(P2mEntry, Order)>,
    /// Table entries read (the walk's memory references).
    pub refs: u32,
}

/// Walks the nested tables at `root` for `gfn` as the hardware does.
pub fn walk<M: PhysMemory>(mem: &M, root: Mfn, gfn: Gfn) -> NptWalk {
    let mut table = root;
    let mut refs = 0;
    for level in (1..=4).rev() {
        let e = mem.read_u64(entry_addr(table, index(gfn, level)));
        refs += 1;
        if e & PRESENT == 0 {
            return NptWalk { entry: None, refs };
        }
        let frame = (e & ADDR_MASK) >> 12;
        let leaf_here = level == 1 || (level == 2 && e & PAT_PSE != 0);
        if !leaf_here {
            table = Mfn(frame);
            continue;
        }
        let order = if level == 2 { Order::Page2M } else { Order::Page4K };
        let within = gfn.0 % order.frames();
        let Some(ty) = P2mType::from_code((e >> TYPE_SHIFT) & 7) else { return NptWalk { entry: None, refs } };
        let rights = Rights { write: e & RW != 0, exec: e & NX == 0 };
        let entry = P2mEntry { mfn: Mfn(frame + within), ty, rights };
        return NptWalk { entry: Some((entry, order)), refs };
    }
    NptWalk { entry: None, refs }
}
