//! `update_va_mapping` (hypercall 14): change the L1 entry that maps a
//! virtual address in the caller's current address space (fact sheet §5).
//!
//! The walk to the L1 reads the caller's own validated tables, one entry
//! per level with one combined test of its present and PS bits and one
//! bound test of the frame it names ([`Mm::walk_to_l1`]); the flags are
//! decoded once ([`UvmFlush::decode`]). Host tests
//! (`tests/update_va_walk.rs`) compare the walk with the per-level checks
//! it replaced on random tables.

use super::model::{Mm, MmHooks};
use super::pte::{table_index, Pte, L1_DISALLOWED};
use super::requests::GuestRead;
use super::{PageInfo, PhysAddr, PhysMemory};
use abi::mmu::pte::{ADDR_MASK, GLOBAL, GUEST_KERNEL, PAT_PSE, PRESENT, USER};
use abi::mmu::{UVMF_ALL, UVMF_FLUSHTYPE_MASK, UVMF_INVLPG, UVMF_LOCAL, UVMF_NONE, UVMF_TLB_FLUSH};
use abi::{DomId, Errno, GuestVa, Mfn};

/// The flush `update_va_mapping`'s flags ask for once the entry changed:
/// bits 1:0 the kind, bits 63:2 whose TLBs (fact sheet §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UvmFlush {
    /// Kind 0 (`UVMF_NONE`) or the unnamed kind 3: nothing, and, as on Xen,
    /// a vCPU bitmap pointer in the upper bits is not read.
    None,
    /// A full flush of this vCPU's TLB (`UVMF_TLB_FLUSH` with `UVMF_LOCAL`
    /// or `UVMF_ALL`: the domain has one vCPU).
    Tlb,
    /// This vCPU's translation of the address (`UVMF_INVLPG`, likewise).
    Invlpg,
    /// Either kind (`full` for `UVMF_TLB_FLUSH`) on the vCPUs of the bitmap
    /// at guest address `mask`, read after the change (a fault there is
    /// `EFAULT` with the change kept, as on Xen).
    Masked {
        /// A full flush rather than one address.
        full: bool,
        /// Guest address of the vCPU bitmap.
        mask: u64,
    },
}

impl UvmFlush {
    /// Decodes `flags`.
    pub const fn decode(flags: u64) -> UvmFlush {
        // The common calls' flags first, one compare each.
        match flags {
            UVMF_INVLPG => return UvmFlush::Invlpg,
            UVMF_NONE => return UvmFlush::None,
            _ => {}
        }
        let full = match flags & UVMF_FLUSHTYPE_MASK {
            UVMF_TLB_FLUSH => true,
            UVMF_INVLPG => false,
            _ => return UvmFlush::None,
        };
        match flags & !UVMF_FLUSHTYPE_MASK {
            UVMF_LOCAL | UVMF_ALL if full => UvmFlush::Tlb,
            UVMF_LOCAL | UVMF_ALL => UvmFlush::Invlpg,
            mask => UvmFlush::Masked { full, mask },
        }
    }
}

/// The frame address that entry `e` of a page table names, if `e` is
/// present, not a superpage and names a frame below `ram_frames << 4`
/// (the frame table's length, scaled): the three tests of a walk's step
/// in one compare, on the returned value shifted right by 8.
///
/// The XOR clears PRESENT of an entry that has it; the mask keeps the
/// address, PRESENT and PS; rotating right by 8 moves PRESENT and PS to
/// bits 56 and 63, above any address (bits 12–51 land at 4–43). So the
/// value is below the scaled bound exactly when PRESENT was set, PS clear
/// and the frame below the table's end; and shifted right by 4 more it is
/// the frame number, or a number past any frame table when a test failed.
#[inline(always)]
pub const fn walk_step(e: u64) -> u64 {
    ((e ^ PRESENT) & (ADDR_MASK | PAT_PSE | PRESENT)).rotate_right(8)
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// The validated L1 table of `dom` that maps `va` in its kernel root.
    ///
    /// # Errors
    /// `EINVAL` if `va` is not a guest address, there is no root, an upper
    /// entry is missing or a superpage, or the L1 is not a validated L1 of
    /// `dom`.
    #[inline(always)]
    pub fn l1_for_va(&self, dom: DomId, va: u64) -> Result<Mfn, Errno> {
        if !GuestVa(va).is_guest_accessible() {
            return Err(self.refuse_cold(Errno::EINVAL, "address outside the guest range"));
        }
        let Some(root) = self.domain(dom).and_then(|d| d.kernel_root) else {
            return Err(self.refuse_cold(Errno::EINVAL, "no root"));
        };
        let Some((l1, info)) = self.walk_to_l1(root, va) else {
            return Err(self.refuse_cold(Errno::EINVAL, "no L1 maps the address"));
        };
        if !info.is_validated_l1() || info.owner() != dom {
            return Err(self.refuse_cold(Errno::EINVAL, "the address's L1 is not a validated L1 of the domain"));
        }
        Ok(l1)
    }

    /// The table the L2 entry for `va` names, walking down from table
    /// `root`: `None` if an entry on the way is not present, is a
    /// superpage, or names a frame outside the frame table. The table it
    /// returns is RAM, given with its metadata; its type is the caller's to
    /// check.
    ///
    /// Per level: one read and one compare ([`walk_step`]). A validated
    /// table's present entries name RAM and never set PS (their references
    /// were taken on frames of the frame table, PS is refused above L1),
    /// but the tests stay: the next read goes through the direct map,
    /// which holds RAM only, so the bound is what makes it safe whatever
    /// the tables hold, and PRESENT and PS come with it in the same compare.
    #[inline(always)]
    pub(crate) fn walk_to_l1(&self, root: Mfn, va: u64) -> Option<(Mfn, &PageInfo)> {
        // Frame tables are far below 2^52 frames, so every failed step
        // (2^56 or above) is past the bound.
        let bound = (self.frames.len() as u64) << 4;
        let mut table = root.to_maddr();
        for level in [4, 3] {
            let step = walk_step(self.mem.read_u64(PhysAddr(table + table_index(va, level) as u64 * 8)));
            if step >= bound {
                return None;
            }
            table = step << 8;
        }
        // The last step's bound is the frame table's own.
        let l1 = Mfn(walk_step(self.mem.read_u64(PhysAddr(table + table_index(va, 2) as u64 * 8))) >> 4);
        self.frames.get(l1.0 as usize).map(|info| (l1, info))
    }

    /// Sets the L1 entry mapping `va` to `val`, then flushes as `flags` ask.
    ///
    /// The common call, a map over an empty slot of the caller's own
    /// tables ([`Mm::try_plain_update_va`]) with `UVMF_INVLPG` or
    /// `UVMF_NONE`, is done by [`Mm::update_va_plain`] with no call;
    /// anything else, refusals included, is left untouched to
    /// [`Mm::update_va_general`].
    ///
    /// # Errors
    /// Those of [`Mm::l1_for_va`] and [`Mm::mod_entry`] (no flush happens
    /// then, XSA-279); `EFAULT` if the vCPU bitmap in `flags` cannot be
    /// read, *after* the entry was changed (as on Xen).
    #[inline(always)]
    pub fn update_va_mapping(
        &mut self,
        dom: DomId,
        va: u64,
        val: u64,
        flags: u64,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        // `UVMF_INVLPG` with one compare: the flags of Linux's single-page
        // updates (and the bench's row); the others one call further.
        if flags == UVMF_INVLPG {
            self.update_va_plain::<true>(dom, va, val, guest)
        } else {
            self.update_va_other_flags(dom, va, val, flags, guest)
        }
    }

    /// [`Mm::update_va_mapping`] with flags other than `UVMF_INVLPG`.
    #[cold]
    #[inline(never)]
    fn update_va_other_flags(
        &mut self,
        dom: DomId,
        va: u64,
        val: u64,
        flags: u64,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        if flags == UVMF_NONE {
            self.update_va_plain::<false>(dom, va, val, guest)
        } else {
            self.update_va_general(dom, va, val, flags, guest)
        }
    }

    /// [`Mm::update_va_mapping`] with the common flags, `UVMF_INVLPG` or
    /// `UVMF_NONE`: one function each, so that the flags are a constant
    /// here, neither tested again after the change nor held in a register
    /// for [`Mm::update_va_general`] (which the fast path's register
    /// pressure would otherwise pay for in callee-saved registers).
    #[inline(never)]
    fn update_va_plain<const INVLPG: bool>(
        &mut self,
        dom: DomId,
        va: u64,
        val: u64,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        if !self.try_plain_update_va(dom, va, Pte(val)) {
            return self.update_va_general(dom, va, val, if INVLPG { UVMF_INVLPG } else { UVMF_NONE }, guest);
        }
        if INVLPG {
            self.hooks.invlpg_local(va);
        }
        Ok(())
    }

    /// The common `update_va_mapping` done, if it is one: every test the
    /// general path makes before it changes the entry, as plain tests that
    /// refuse nothing themselves, then [`Mm::try_plain_map`]. False, with
    /// nothing changed, for anything else.
    #[inline(always)]
    fn try_plain_update_va(&mut self, dom: DomId, va: u64, new: Pte) -> bool {
        let Some(d) = self.domains.get(dom.0 as usize) else { return false };
        // Nothing queued, `va` a guest address, a root. `Mm::domain`'s own
        // tests (the slot's id, the domain built) need no test of their own
        // here: a slot's id is its index, and only a built domain holds a
        // root (teardown drops the roots before it clears `exists`; an empty
        // slot has none), both checked by the invariant checker
        // (`check.rs`).
        debug_assert!(d.kernel_root.is_none() || (d.id == dom && d.exists));
        if d.deferred_len != 0 || !GuestVa(va).is_guest_accessible() {
            return false;
        }
        let Some(root) = d.kernel_root else { return false };
        let Some((l1, info)) = self.walk_to_l1(root, va) else { return false };
        if !info.is_validated_l1() || info.owner() != dom {
            return false;
        }
        self.try_plain_map(l1, dom, va, new)
    }

    /// `update_va_mapping` as its rules say it, step by step, for every
    /// call [`Mm::try_plain_update_va`] left.
    ///
    /// No general reference of the call's own is taken on the L1 (Xen takes
    /// one so that another CPU cannot free it meanwhile). Nothing runs
    /// beside a hypercall here, and the change cannot free the L1 itself: a
    /// validated L1 in use has a type count above zero, every type
    /// reference is held on top of a general one (model rules), and the
    /// change drops only the old entry's references: a general one (which
    /// may be the L1's own, through a read-only mapping of it, never its
    /// last) and the writable type of a data frame (never a page-table
    /// type, so nothing is devalidated or freed through it).
    #[inline(never)]
    fn update_va_general(
        &mut self,
        dom: DomId,
        va: u64,
        val: u64,
        flags: u64,
        guest: &mut impl GuestRead,
    ) -> Result<(), Errno> {
        self.settle_queued_first(dom)?;
        let l1 = self.l1_for_va(dom, va)?;
        self.mod_l1_entry(l1, dom, table_index(va, 1), Pte(val), dom, false)?;
        // An L1 entry change queues nothing (L1 entries map no tables):
        // there is nothing of this call's own to settle.
        self.flush_after_update_va(va, flags, guest)
    }

    /// The flush `flags` ask for after the entry changed.
    #[inline(always)]
    fn flush_after_update_va(&mut self, va: u64, flags: u64, guest: &mut impl GuestRead) -> Result<(), Errno> {
        match UvmFlush::decode(flags) {
            UvmFlush::None => {}
            UvmFlush::Tlb => self.hooks.flush_local_tlb(),
            UvmFlush::Invlpg => self.hooks.invlpg_local(va),
            UvmFlush::Masked { full, mask } => return self.masked_flush(va, full, mask, guest),
        }
        Ok(())
    }

    /// The common change done on its own: over an empty slot of L1 `table`
    /// (owned by `owner`), the slot for `va`, a present entry without cache
    /// attributes mapping a frame of `owner` whose references are taken in
    /// one metadata access ([`PageInfo::try_get_plain`]). It is what
    /// [`Mm::mod_l1_entry`] does for it (the §3.5 adjustment stored, no old
    /// references to drop); false, with nothing changed, for anything else.
    #[inline(always)]
    fn try_plain_map(&mut self, table: Mfn, owner: DomId, va: u64, new: Pte) -> bool {
        let slot = PhysAddr(table.to_maddr() + table_index(va, 1) as u64 * 8);
        if self.mem.read_u64(slot) & PRESENT != 0 || new.0 & (PRESENT | L1_DISALLOWED) != PRESENT {
            return false;
        }
        // The §3.5 adjustment (`Pte::adjusted` at level 1) as one test per
        // case.
        let v = new.0;
        let new = Pte(if v & USER == 0 {
            v | USER | GUEST_KERNEL
        } else if v & GUEST_KERNEL == 0 {
            v | GLOBAL
        } else {
            v
        });
        debug_assert_eq!(new, Pte(v).adjusted(1));
        if !self.frames.get_mut(new.mfn().0 as usize).is_some_and(|f| f.try_get_plain(owner, new.writable())) {
            return false;
        }
        self.mem.write_u64(slot, new.0);
        true
    }

    /// The flush of a vCPU bitmap at guest address `mask`: this vCPU's
    /// (vCPU 0, the only one) if its bit is set.
    #[inline(never)]
    fn masked_flush(&mut self, va: u64, full: bool, mask: u64, guest: &mut impl GuestRead) -> Result<(), Errno> {
        let Some(bits) = guest.read_u64(mask) else {
            return Err(self.refuse_cold(Errno::EFAULT, "unreadable vCPU mask"));
        };
        if bits & 1 != 0 {
            if full {
                self.hooks.flush_local_tlb();
            } else {
                self.hooks.invlpg_local(va);
            }
        }
        Ok(())
    }

    /// [`Mm::refuse`] off the hot path.
    #[cold]
    #[inline(never)]
    fn refuse_cold(&self, e: Errno, rule: &'static str) -> Errno {
        self.refuse(e, rule)
    }
}
