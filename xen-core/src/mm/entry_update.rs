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

    /// [`Mm::mod_l1_entry`] for the common requests of a batch on an L1
    /// table `table` of `owner`'s mapping `owner`'s own frames, when only
    /// plain references move: a new entry without cache bits whose
    /// references [`Mm::try_get_plain_l1_refs`] takes, or a fast-path
    /// change, or an unmap. [`L1Plain::Refer`] with nothing changed for
    /// anything else (cache bits, a type change, a refusal), which the
    /// caller sends the general way. [`L1Plain::DoneSlow`] when the old
    /// entry's references needed [`Mm::put_l1_refs_slow`].
    ///
    /// Plain references never touch `table`'s own type: an L1 is never
    /// mapped writable, and a read-only mapping of it moves only its
    /// general count, which the caller's reference keeps above zero. So a
    /// batch that found `table` a validated L1 may go on without testing
    /// it again while its requests end [`L1Plain::Done`].
    #[inline(always)]
    pub(crate) fn mod_l1_entry_plain(
        &mut self,
        table: Mfn,
        owner: DomId,
        index: usize,
        new: Pte,
        preserve_ad: bool,
    ) -> L1Plain {
        let old = Pte(self.read_entry(table, index));
        let mut new = new;
        if preserve_ad {
            new.0 |= old.0 & (ACCESSED | DIRTY);
        }
        if new.present() {
            if new.0 & L1_DISALLOWED != 0 {
                return L1Plain::Refer;
            }
            new = new.adjusted(1);
            if new.is_fast_path_change_from(old) {
                self.write_entry(table, index, new.0);
                return L1Plain::Done;
            }
            if !self.try_get_plain_l1_refs(new, owner) {
                return L1Plain::Refer;
            }
        }
        self.write_entry(table, index, new.0);
        if self.try_put_plain_l1_refs(old) {
            L1Plain::Done
        } else {
            self.put_l1_refs_slow(old);
            L1Plain::DoneSlow
        }
    }

    /// Any L2+ change may leave stale translations for the table's owner,
    /// including ones the hypervisor relies on (XSA-286).
    fn flush_after_upper_change(&mut self, level: u8, owner: DomId) {
        if level > 1 {
            self.hooks.flush_domain_tlb(owner);
        }
    }
}

/// What [`Mm::mod_l1_entry_plain`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L1Plain {
    /// The entry is written; only plain references moved.
    Done,
    /// The entry is written; the old entry's references took the general
    /// way ([`Mm::put_l1_refs_slow`]).
    DoneSlow,
    /// Nothing changed: the request needs [`Mm::mod_l1_entry`].
    Refer,
}
