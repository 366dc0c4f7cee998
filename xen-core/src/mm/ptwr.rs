//! The tables behind writable-page-table emulation (Xen's ptwr): a guest
//! kernel's store to a page it maps read-only is emulated
//! ([`crate::emulate::pte_write`]) when that page is an L1 table of its
//! own, in use (type count non-zero, validated). The entry is then changed
//! exactly as `mmu_update` changes it, with the domain as both table owner
//! and FD. Upper levels are never written this way: their stores fault
//! (Xen 4.17 emulates L1 writes only).

use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::pte::{table_index, Pte};
use super::PhysMemory;
use crate::emulate::pte_write::PteTables;
use abi::mmu::pte::PAT_PSE;
use abi::{DomId, Errno, GuestVa, Mfn};

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// The L1 table of `dom` that its kernel root maps read-only at `va`,
    /// and the index of the entry `va` points into; `None` if `va` is not
    /// such a page (the write is then an ordinary page fault). Silent: a
    /// miss is no refusal.
    pub fn ptwr_slot(&self, dom: DomId, va: u64) -> Option<(Mfn, usize)> {
        if !GuestVa(va).is_guest_accessible() {
            return None;
        }
        let mut table = self.domain(dom)?.kernel_root?;
        for level in (1..=4).rev() {
            let e = Pte(self.read_entry(table, table_index(va, level)));
            if !e.present() || (level > 1 && e.0 & PAT_PSE != 0) || !self.is_ram(e.mfn()) {
                return None;
            }
            // Only a read-only mapping: a writable one faulted for another
            // reason.
            if level == 1 && e.writable() {
                return None;
            }
            table = e.mfn();
        }
        let info = self.info(table);
        let ours = info.owner() == dom && info.page_type() == PageType::L1;
        (ours && info.type_count() > 0 && info.validated()).then_some((table, ((va & 0xFFF) >> 3) as usize))
    }

    /// Sets entry `index` of `dom`'s L1 table `table` to `new`, as
    /// `mmu_update` would.
    ///
    /// # Errors
    /// Those of [`Mm::mod_entry`] for an L1 entry.
    pub fn ptwr_update(&mut self, dom: DomId, table: Mfn, index: usize, new: u64) -> Result<(), Errno> {
        self.get_page(table, dom).map_err(|_| self.refuse(Errno::EINVAL, "ptwr: L1 not owned by the domain"))?;
        let r = self.mod_entry(table, 1, index, Pte(new), dom, false);
        self.put_page(table);
        r
    }
}

/// One domain's L1 tables, as [`PteTables`] for the emulator.
pub struct GuestL1s<'m, 'a, M: PhysMemory, H: MmHooks> {
    /// The memory model.
    pub mm: &'m mut Mm<'a, M, H>,
    /// The domain whose kernel wrote.
    pub dom: DomId,
}

impl<M: PhysMemory, H: MmHooks> PteTables for GuestL1s<'_, '_, M, H> {
    fn entry(&mut self, va: u64) -> Option<u64> {
        let (table, index) = self.mm.ptwr_slot(self.dom, va)?;
        Some(self.mm.read_entry(table, index))
    }

    fn update(&mut self, va: u64, new: u64) -> bool {
        match self.mm.ptwr_slot(self.dom, va) {
            Some((table, index)) => self.mm.ptwr_update(self.dom, table, index, new).is_ok(),
            None => false,
        }
    }
}
