//! `update_va_mapping` (hypercall 14): change the L1 entry that maps a
//! virtual address in the caller's current address space (fact sheet §5).

use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::pte::{table_index, Pte};
use super::requests::GuestRead;
use super::PhysMemory;
use abi::mmu::pte::PAT_PSE;
use abi::mmu::{UVMF_ALL, UVMF_FLUSHTYPE_MASK, UVMF_INVLPG, UVMF_LOCAL, UVMF_TLB_FLUSH};
use abi::{DomId, Errno, GuestVa, Mfn};

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// The validated L1 table of `dom` that maps `va` in its kernel root.
    ///
    /// # Errors
    /// `EINVAL` if `va` is not a guest address, there is no root, an upper
    /// entry is missing or a superpage, or the L1 is not a validated L1 of
    /// `dom`.
    pub fn l1_for_va(&self, dom: DomId, va: u64) -> Result<Mfn, Errno> {
        if !GuestVa(va).is_guest_accessible() {
            return Err(self.refuse(Errno::EINVAL, "address outside the guest range"));
        }
        let mut table =
            self.domain(dom).and_then(|d| d.kernel_root).ok_or_else(|| self.refuse(Errno::EINVAL, "no root"))?;
        for level in (2..=4).rev() {
            let e = Pte(self.read_entry(table, table_index(va, level)));
            if !e.present() || e.0 & PAT_PSE != 0 || !self.is_ram(e.mfn()) {
                return Err(self.refuse(Errno::EINVAL, "no L1 maps the address"));
            }
            table = e.mfn();
        }
        let info = self.info(table);
        if info.owner() != dom || info.page_type() != PageType::L1 || info.type_count() == 0 || !info.validated() {
            return Err(self.refuse(Errno::EINVAL, "the address's L1 is not a validated L1 of the domain"));
        }
        Ok(table)
    }

    /// Sets the L1 entry mapping `va` to `val`, then flushes as `flags` ask.
    ///
    /// # Errors
    /// Those of [`Mm::l1_for_va`] and [`Mm::mod_entry`] (no flush happens
    /// then, XSA-279); `EFAULT` if the vCPU bitmap in `flags` cannot be
    /// read, *after* the entry was changed (as on Xen).
    pub fn update_va_mapping(
        &mut self,
        dom: DomId,
        va: u64,
        val: u64,
        flags: u64,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        self.settle_queued_first(dom)?;
        let l1 = self.l1_for_va(dom, va)?;
        self.get_page(l1, dom).map_err(|_| self.refuse(Errno::EINVAL, "L1 not owned by the domain"))?;
        // `l1_for_va` checked that `dom` owns it.
        let r = self.mod_l1_entry(l1, dom, table_index(va, 1), Pte(val), dom, false);
        self.put_page(l1);
        r?;
        // An L1 entry change queues nothing (L1 entries map no tables):
        // there is nothing of this call's own to settle.
        let flush = flags & UVMF_FLUSHTYPE_MASK;
        let target = flags & !UVMF_FLUSHTYPE_MASK;
        let this_vcpu = match target {
            UVMF_LOCAL | UVMF_ALL => true,
            // A guest pointer to a vCPU bitmap; we have one vCPU.
            ptr => guest.read_u64(ptr).ok_or_else(|| self.refuse(Errno::EFAULT, "unreadable vCPU mask"))? & 1 != 0,
        };
        if this_vcpu {
            match flush {
                UVMF_TLB_FLUSH => self.hooks.flush_local_tlb(),
                UVMF_INVLPG => self.hooks.invlpg_local(va),
                _ => {}
            }
        }
        Ok(())
    }
}
