//! Changing one entry of a validated page table (mod_l1..l4_entry).
//!
//! Order matters: the new entry's references are taken (validating lower
//! tables if needed) before it is written, and the old entry's references
//! are dropped after, so a failure changes nothing.

use super::model::{Mm, MmHooks};
use super::pte::{Pte, L1_DISALLOWED};
use super::validate::{is_hv_slot, UpperRef};
use super::PhysMemory;
use abi::mmu::pte::{ACCESSED, DIRTY};
use abi::{DomId, Errno, Mfn};

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Sets entry `index` of validated L`level` table `table` to `new`.
    /// `fd` owns the frames new L1 entries may map. With `preserve_ad`,
    /// Accessed and Dirty already set in the entry are kept.
    ///
    /// # Errors
    /// `EINVAL` for hypervisor L4 slots, disallowed flags, bad L2+ targets,
    /// an L2+ update with `fd` other than the table's owner; `EBUSY` for L1
    /// targets that are foreign, unallocated, or page tables mapped RW;
    /// `EPERM` for non-RAM without I/O permission; nested validation errors
    /// unchanged.
    pub fn mod_entry(
        &mut self,
        table: Mfn,
        level: u8,
        index: usize,
        new: Pte,
        fd: DomId,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        let pt_owner = self.info(table).owner();
        if level == 1 {
            return self.mod_l1_entry(table, pt_owner, index, new, fd, preserve_ad);
        }
        if is_hv_slot(level, index) {
            return Err(self.refuse(Errno::EINVAL, "hypervisor L4 slot"));
        }
        if level > 1 && fd != pt_owner {
            return Err(self.refuse(Errno::EINVAL, "L2+ update with a foreign FD"));
        }
        let old = Pte(self.read_entry(table, index));
        let mut new = new;
        if preserve_ad {
            new.0 |= old.0 & (ACCESSED | DIRTY);
        }
        if new.present() {
            // Only L1 cache attributes depend on the owner's I/O rights.
            if new.has_disallowed_flags(level, false)
                && !(level == 1 && self.domain(pt_owner).is_some_and(|d| d.io_caps))
            {
                return Err(self.refuse(Errno::EINVAL, "entry has disallowed flags"));
            }
            new = new.adjusted(level);
            if !new.is_fast_path_change_from(old) {
                if level == 1 && fd == pt_owner {
                    self.get_own_l1_refs(new, fd)?;
                } else if level == 1 {
                    self.get_l1_refs(new, fd, pt_owner)?;
                } else if let UpperRef::Validate(child) = self.get_upper_refs(table, level, new)? {
                    if let Err(e) = self.validate_table(child, level - 1) {
                        if e != Errno::ERESTART {
                            self.put_page(child);
                        }
                        return Err(e);
                    }
                }
                self.write_entry(table, index, new.0);
                self.drop_entry(table, level, old);
                self.flush_after_upper_change(level, pt_owner);
                return Ok(());
            }
        }
        self.write_entry(table, index, new.0);
        if !new.present() {
            self.drop_entry(table, level, old);
        }
        self.flush_after_upper_change(level, pt_owner);
        Ok(())
    }

    /// [`Mm::mod_entry`] for an entry of validated L1 table `table`, owned
    /// by `pt_owner`: the same rules with the level known, so the common
    /// map and unmap take no calls (L1 entries reference no tables, so
    /// nothing is validated, queued or flushed here).
    ///
    /// # Errors
    /// As [`Mm::mod_entry`] for level 1.
    #[inline(always)]
    pub(crate) fn mod_l1_entry(
        &mut self,
        table: Mfn,
        pt_owner: DomId,
        index: usize,
        new: Pte,
        fd: DomId,
        preserve_ad: bool,
    ) -> Result<(), Errno> {
        let old = Pte(self.read_entry(table, index));
        let mut new = new;
        if preserve_ad {
            new.0 |= old.0 & (ACCESSED | DIRTY);
        }
        if new.present() {
            // Cache attributes only with the table owner's I/O rights.
            let plain = new.0 & L1_DISALLOWED == 0;
            if !plain && !self.domain(pt_owner).is_some_and(|d| d.io_caps) {
                return Err(self.refuse(Errno::EINVAL, "entry has disallowed flags"));
            }
            new = new.adjusted(1);
            if !new.is_fast_path_change_from(old) {
                // The owner's own frame without cache bits in one metadata
                // access ([`Mm::get_own_l1_refs`]'s common case, its
                // flags test already made); anything else the general way.
                if !(plain && fd == pt_owner && self.try_get_plain_l1_refs(new, fd)) {
                    self.get_l1_refs(new, fd, pt_owner)?;
                }
                self.write_entry(table, index, new.0);
                self.put_l1_refs(old);
                return Ok(());
            }
            self.write_entry(table, index, new.0);
            return Ok(());
        }
        self.write_entry(table, index, new.0);
        self.put_l1_refs(old);
        Ok(())
    }

    /// Any L2+ change may leave stale translations for the table's owner,
    /// including ones the hypervisor relies on (XSA-286).
    fn flush_after_upper_change(&mut self, level: u8, owner: DomId) {
        if level > 1 {
            self.hooks.flush_domain_tlb(owner);
        }
    }
}
