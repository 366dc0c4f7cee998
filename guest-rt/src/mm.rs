//! Page tables and the balloon, the safe way round.
//!
//! [`walk`] reads the current page tables. A table is readable when the
//! initial mapping covers its PFN (the bootstrap tables always are, read
//! only, at `VIRT_BASE + pfn × 4096`; so is any table the guest builds from
//! its start-of-day frames), found through the M2P.
//!
//! [`map_frame`] and [`balloon_out`] change mappings, which is unsafe in
//! general (the guest could unmap its own stack). They only touch the
//! address of an owned [`Frame`], which nothing else uses, so they are safe.

use crate::arch;
use crate::boot::{Boot, Frame, INVALID_MFN};
use abi::mmu::{MmuUpdate, MMU_NORMAL_PT_UPDATE, UVMF_INVLPG};
use abi::pagetable::{self, Pte, Walk};
use abi::{guest, DomId, Errno, GuestVa, Mfn};

/// The root of the current kernel page tables (CR3, as the hypervisor
/// reports it to a PV kernel).
pub fn root() -> Mfn {
    Mfn(arch::read_cr3() >> abi::PAGE_SHIFT)
}

/// Entry `index` of the table in `table`, if that table is readable (see
/// the module docs).
pub fn read_entry(boot: &Boot, table: Mfn, index: usize) -> Option<u64> {
    let pfn = boot.m2p(table)?;
    // The M2P says what PFN the owner gave the frame; only trust it if the
    // p2m agrees, so a foreign or stale frame is never read.
    if boot.p2m(pfn)? != table || index >= 512 {
        return None;
    }
    let va = boot.layout().va(pfn)?;
    // SAFETY: the initial mapping covers `va` (checked above) and maps it
    // readable; entries may change under us, which a volatile read allows.
    #[allow(unsafe_code)]
    let entry = unsafe { arch::read_u64(va.0 + index as u64 * 8) };
    Some(entry)
}

/// Walks the current page tables for `va`.
pub fn walk(boot: &Boot, va: GuestVa) -> Walk {
    pagetable::walk(root(), va, |t, i| read_entry(boot, t, i))
}

/// `update_va_mapping` with an invalidation of that address.
fn set_mapping(va: GuestVa, pte: Pte) -> Result<(), Errno> {
    // SAFETY: only called with the address of a Frame the caller owns,
    // which nothing else uses.
    #[allow(unsafe_code)]
    unsafe {
        guest::update_va_mapping(va, pte, UVMF_INVLPG)
    }
}

/// Frame `target` mapped a second time, at the address `slot` had.
pub struct Window<'a> {
    slot: Frame,
    target: &'a mut Frame,
}

impl Window<'_> {
    /// The target's bytes, through the window's mapping.
    pub fn bytes(&mut self) -> &mut [u8; 4096] {
        // SAFETY: the slot's address maps the target (`map_frame`), whose
        // own mapping is not used while the window borrows it mutably.
        #[allow(unsafe_code)]
        unsafe {
            arch::page_mut(self.slot.va().0)
        }
    }

    /// Where the window is.
    pub fn va(&self) -> GuestVa {
        self.slot.va()
    }

    /// Maps the slot's own frame back and returns it.
    ///
    /// # Errors
    /// As [`map_frame`].
    pub fn unmap(self) -> Result<Frame, Errno> {
        set_mapping(self.slot.va(), Pte::new(self.slot.mfn()).writable())?;
        let _ = self.target;
        Ok(self.slot)
    }
}

/// Maps `target` at `slot`'s address by rewriting the L1 entry there with
/// `mmu_update`, and returns the window.
///
/// # Errors
/// `EINVAL` if the current tables have no readable L1 for the slot
/// (`MMU_NORMAL_PT_UPDATE` answers) and otherwise the `mmu_update` errno.
pub fn map_frame<'a>(boot: &Boot, slot: Frame, target: &'a mut Frame) -> Result<Window<'a>, Errno> {
    let l1 = walk(boot, slot.va()).at(1).ok_or(Errno::EINVAL)?;
    let req =
        [MmuUpdate { ptr: l1.entry_maddr() | MMU_NORMAL_PT_UPDATE, val: Pte::new(target.mfn()).writable().bits() }];
    // SAFETY: the entry maps the slot's address, which only the owned slot
    // Frame uses; the slot is kept in the window so nothing reaches it.
    #[allow(unsafe_code)]
    unsafe { guest::mmu_update(&req, DomId::SELF) }.map_err(|e| e.errno)?;
    Ok(Window { slot, target })
}

/// Gives `frame` back to the hypervisor: unmaps it, `decrease_reservation`
/// of its MFN, and marks its p2m entry invalid. The domain's reservation
/// drops by one page.
///
/// # Errors
/// The `update_va_mapping` errno, or `EBUSY` if the hypervisor kept the frame.
pub fn balloon_out(boot: &mut Boot, frame: Frame) -> Result<(), Errno> {
    set_mapping(frame.va(), Pte::empty())?;
    let mut mfns = [frame.mfn()];
    // SAFETY: the frame is owned (unused elsewhere) and now unmapped.
    #[allow(unsafe_code)]
    let done = unsafe { guest::decrease_reservation(&mut mfns) };
    if done != 1 {
        return Err(Errno::EBUSY);
    }
    boot.set_p2m(frame.pfn(), INVALID_MFN);
    Ok(())
}
