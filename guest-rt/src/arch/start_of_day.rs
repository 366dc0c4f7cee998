//! The start-of-day memory's raw accesses, each behind a proof type that
//! only a check can make, so [`crate::boot`] and [`crate::mm`] need no
//! `unsafe`:
//!
//! * [`StartOfDay`]: the memory start_info describes, made once by the
//!   runtime's entry from start_info and [`Layout::of`]: the p2m list, the
//!   M2P, the initial mapping and which of its pages are still free.
//! * [`OwnedPage`]: one free page of the initial mapping, handed out once
//!   by [`StartOfDay::take_page`], with the frame the p2m list named for
//!   it; its bytes are its holder's alone.
//! * [`Alias`]: an owned page's address showing another owned page's
//!   frame, for as long as it holds that page borrowed.

use crate::boot::Layout;
use crate::VIRT_BASE;
use abi::mmu::{MmuUpdate, MMU_NORMAL_PT_UPDATE, UVMF_INVLPG};
use abi::pagetable::{self, Pte, Walk};
use abi::start_info::StartInfo;
use abi::{guest, DomId, Errno, GuestVa, Mfn, Pfn, PAGE_SIZE};

/// Proof that the start-of-day memory is as the domain builder left it:
///
/// * the p2m list: `nr_pages` entries at `mfn_list`, in the initial
///   mapping, read-write, written only through this value;
/// * the initial mapping: PFN *n* below `mapped_end` at
///   `VIRT_BASE + n × 4096`, readable; from `next_free` on, writable,
///   unused, each page mapping the frame its p2m entry names (entries this
///   value does not let change until the page is handed out);
/// * the M2P: read-only from `MACH2PHYS_VIRT_START` for every machine
///   frame below `m2p_end`.
///
/// There is one per guest (in its [`crate::Boot`]).
pub struct StartOfDay {
    mfn_list: u64,
    nr_pages: u64,
    mapped_end: u64,
    next_free: u64,
    m2p_end: u64,
}

impl StartOfDay {
    /// The memory `si` describes, with `layout` its [`Layout::of`]. Asks
    /// the hypervisor how far the M2P is mapped: for every machine frame
    /// below `maximum_ram_page` (machphys_mapping's `max_mfn` is the area's
    /// capacity for a domU); with no answer it is treated as empty.
    ///
    /// # Safety
    /// `si` is the domain's start_info as the builder wrote it, `layout`
    /// is `Layout::of(si)`, and this is called once per guest.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    pub(crate) unsafe fn new(si: &StartInfo, layout: &Layout) -> StartOfDay {
        let ram_end = guest::maximum_ram_page().unwrap_or(0);
        let m2p_end = guest::machphys_mapping().map_or(0, |m| m.max_mfn.saturating_add(1)).min(ram_end);
        StartOfDay {
            mfn_list: si.mfn_list,
            nr_pages: si.nr_pages,
            mapped_end: layout.mapped_end.0,
            next_free: layout.first_free.0,
            m2p_end,
        }
    }

    /// The p2m entry of `pfn`, `None` past the list's end.
    pub fn p2m_entry(&self, pfn: Pfn) -> Option<Mfn> {
        if pfn.0 >= self.nr_pages {
            return None;
        }
        // SAFETY: entry `pfn` of the p2m list, below its `nr_pages` (checked),
        // is mapped readable (the proof).
        Some(Mfn(unsafe { super::read_u64(self.mfn_list + pfn.0 * 8) }))
    }

    /// Sets the p2m entry of `pfn`; `false` (nothing written) past the
    /// list's end or for a page [`StartOfDay::take_page`] has still to hand
    /// out, whose entry names the frame its [`OwnedPage`] will own.
    pub fn set_p2m_entry(&mut self, pfn: Pfn, mfn: Mfn) -> bool {
        if pfn.0 >= self.nr_pages || (self.next_free..self.mapped_end).contains(&pfn.0) {
            return false;
        }
        // SAFETY: as in `p2m_entry`, mapped writable; `&mut self` keeps every
        // reader out meanwhile.
        unsafe { super::write_u64(self.mfn_list + pfn.0 * 8, mfn.0) };
        true
    }

    /// The M2P entry of `mfn` (the PFN its owner gave it), `None` past the
    /// table's mapped end. A frame the caller does not own may read as
    /// anything.
    pub fn m2p_entry(&self, mfn: Mfn) -> Option<Pfn> {
        if mfn.0 >= self.m2p_end {
            return None;
        }
        // SAFETY: the M2P is mapped read-only for every frame below
        // `m2p_end` (checked); the hypervisor may change an entry at any
        // time, which a volatile read tolerates.
        Some(Pfn(unsafe { super::read_u64(abi::MACH2PHYS_VIRT_START + mfn.0 * 8) }))
    }

    /// Entry `index` of the page table in frame `table`, when the table is
    /// readable: the M2P names its PFN, the p2m list agrees (so a foreign
    /// or stale frame is never read), and the initial mapping covers it.
    pub fn table_entry(&self, table: Mfn, index: usize) -> Option<u64> {
        let pfn = self.m2p_entry(table)?;
        if self.p2m_entry(pfn)? != table || index >= 512 || pfn.0 >= self.mapped_end {
            return None;
        }
        // SAFETY: PFN `pfn` is below `mapped_end` (checked), so mapped
        // readable at VIRT_BASE + pfn × 4096, and the entry is inside the
        // page; entries may change under us, which a volatile read allows.
        Some(unsafe { super::read_u64(VIRT_BASE + pfn.0 * PAGE_SIZE + index as u64 * 8) })
    }

    /// Walks the current page tables (CR3's) for `va` through
    /// [`StartOfDay::table_entry`].
    pub fn walk(&self, va: GuestVa) -> Walk {
        let root = Mfn(super::read_cr3() >> abi::PAGE_SHIFT);
        pagetable::walk(root, va, |t, i| self.table_entry(t, i))
    }

    /// The next free page of the initial mapping with the frame its p2m
    /// entry names, or `None` once they are all handed out.
    pub fn take_page(&mut self) -> Option<OwnedPage> {
        let pfn = Pfn(self.next_free);
        if pfn.0 >= self.mapped_end {
            return None;
        }
        let mfn = self.p2m_entry(pfn)?;
        self.next_free += 1;
        Some(OwnedPage { pfn, mfn })
    }
}

/// Proof that page `pfn` of the initial mapping is this value's alone:
/// handed out once by [`StartOfDay::take_page`], its address mapped
/// writable to frame `mfn`, or, while an [`Alias`] holds it, to the frame
/// of the page the alias borrows.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedPage {
    pfn: Pfn,
    mfn: Mfn,
}

impl OwnedPage {
    /// Its PFN.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// Its machine frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }

    /// Its address in the initial mapping.
    pub fn va(&self) -> GuestVa {
        GuestVa(VIRT_BASE + self.pfn.0 * PAGE_SIZE)
    }

    /// Its 4096 bytes.
    pub fn bytes(&mut self) -> &mut [u8; 4096] {
        // SAFETY: the page's address is mapped writable and used by nothing
        // but this value (the proof); `&mut self` makes the borrow unique.
        unsafe { super::page_mut(self.va().0) }
    }

    /// Its parts; the page is then no longer owned by a proof.
    pub fn into_parts(self) -> (Pfn, Mfn, GuestVa) {
        (self.pfn, self.mfn, self.va())
    }

    /// Gives its frame back: the address unmapped, then
    /// `decrease_reservation` of the frame; its PFN, whose p2m entry the
    /// caller updates.
    ///
    /// # Errors
    /// The `update_va_mapping` errno, or `EBUSY` if the hypervisor kept the
    /// frame (the page is no longer usable either way).
    pub fn give_back(self) -> Result<Pfn, Errno> {
        set_mapping(&self, Pte::empty())?;
        let mut mfns = [self.mfn];
        // SAFETY: the frame is owned (unused elsewhere) and now unmapped.
        let done = unsafe { guest::decrease_reservation(&mut mfns) };
        if done != 1 {
            return Err(Errno::EBUSY);
        }
        Ok(self.pfn)
    }

    /// Maps `target`'s frame at this page's address as well, with one
    /// `mmu_update` of the L1 entry the current page tables map the address
    /// with.
    ///
    /// # Errors
    /// `EINVAL` if the current tables have no readable L1 for the address
    /// (`MMU_NORMAL_PT_UPDATE` answers) and otherwise the `mmu_update` errno.
    pub fn alias<'a>(self, sod: &StartOfDay, target: &'a mut OwnedPage) -> Result<Alias<'a>, Errno> {
        let l1 = sod.walk(self.va()).at(1).ok_or(Errno::EINVAL)?;
        let req =
            [MmuUpdate { ptr: l1.entry_maddr() | MMU_NORMAL_PT_UPDATE, val: Pte::new(target.mfn).writable().bits() }];
        // SAFETY: the entry maps this page's address, which only this value
        // uses; the value is kept in the alias, beside the borrow of the
        // target, so neither address is used another way meanwhile.
        unsafe { guest::mmu_update(&req, DomId::SELF) }.map_err(|e| e.errno)?;
        Ok(Alias { slot: self, target })
    }
}

/// `update_va_mapping` of `page`'s address with an invalidation of it.
fn set_mapping(page: &OwnedPage, pte: Pte) -> Result<(), Errno> {
    // SAFETY: the address is the owned page's, which nothing else uses.
    unsafe { guest::update_va_mapping(page.va(), pte, UVMF_INVLPG) }
}

/// Proof that the `slot` page's address maps `target`'s frame, whose own
/// address is not used while this borrows it.
pub struct Alias<'a> {
    slot: OwnedPage,
    target: &'a mut OwnedPage,
}

impl Alias<'_> {
    /// The target's bytes, through the slot's address.
    pub fn bytes(&mut self) -> &mut [u8; 4096] {
        // SAFETY: the slot's address maps the target's frame writable
        // (`OwnedPage::alias`), and the target is borrowed mutably by this
        // value, so its own address is not used while this borrow lives.
        unsafe { super::page_mut(self.slot.va().0) }
    }

    /// The slot's address.
    pub fn va(&self) -> GuestVa {
        self.slot.va()
    }

    /// Maps the slot's own frame back and returns the slot.
    ///
    /// # Errors
    /// The `update_va_mapping` errno (the slot is then lost).
    pub fn unmap(self) -> Result<OwnedPage, Errno> {
        set_mapping(&self.slot, Pte::new(self.slot.mfn).writable())?;
        let _ = self.target;
        Ok(self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proof over a p2m list in `list` (the M2P empty, nothing read
    /// through the initial mapping).
    fn over(list: &mut [u64], first_free: u64, mapped_end: u64) -> StartOfDay {
        StartOfDay {
            mfn_list: list.as_mut_ptr() as u64,
            nr_pages: list.len() as u64,
            mapped_end,
            next_free: first_free,
            m2p_end: 0,
        }
    }

    #[test]
    fn the_p2m_list_is_read_and_written_only_below_nr_pages() {
        let mut list: Vec<u64> = (100..110).collect();
        let mut sod = over(&mut list, 8, 8);
        assert_eq!(sod.p2m_entry(Pfn(3)), Some(Mfn(103)));
        assert_eq!(sod.p2m_entry(Pfn(10)), None);
        assert!(sod.set_p2m_entry(Pfn(3), Mfn(7)));
        assert_eq!(sod.p2m_entry(Pfn(3)), Some(Mfn(7)));
        assert!(!sod.set_p2m_entry(Pfn(10), Mfn(7)));
        assert_eq!(list[3], 7);
    }

    #[test]
    fn free_pages_are_handed_out_once_each_with_their_frame_and_keep_it_until_then() {
        let mut list: Vec<u64> = (100..110).collect();
        let mut sod = over(&mut list, 5, 8);
        assert!(!sod.set_p2m_entry(Pfn(6), Mfn(1)), "page 6 is still to be handed out");
        assert!(sod.set_p2m_entry(Pfn(4), Mfn(1)), "before the free pages");
        assert!(sod.set_p2m_entry(Pfn(9), Mfn(1)), "past the initial mapping");
        let taken: Vec<_> = core::iter::from_fn(|| sod.take_page()).map(|p| (p.pfn(), p.mfn(), p.va())).collect();
        let want: Vec<_> = (5..8).map(|n| (Pfn(n), Mfn(100 + n), GuestVa(VIRT_BASE + n * PAGE_SIZE))).collect();
        assert_eq!(taken, want);
        assert!(sod.take_page().is_none(), "none twice");
        assert!(sod.set_p2m_entry(Pfn(6), Mfn(1)), "handed out: its owner's bookkeeping");
    }

    #[test]
    fn the_m2p_and_page_tables_are_not_read_past_the_m2p_end() {
        let mut list: Vec<u64> = (100..110).collect();
        let sod = over(&mut list, 5, 8);
        assert_eq!(sod.m2p_entry(Mfn(0)), None);
        assert_eq!(sod.table_entry(Mfn(100), 0), None);
    }
}
