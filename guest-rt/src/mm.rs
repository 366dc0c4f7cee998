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
#![forbid(unsafe_code)]

use crate::arch;
use crate::arch::start_of_day::Alias;
use crate::boot::{Boot, Frame, INVALID_MFN};
use abi::pagetable::Walk;
use abi::{Errno, GuestVa, Mfn};

/// The root of the current kernel page tables (CR3, as the hypervisor
/// reports it to a PV kernel).
pub fn root() -> Mfn {
    Mfn(arch::read_cr3() >> abi::PAGE_SHIFT)
}

/// Entry `index` of the table in `table`, if that table is readable (see
/// the module docs): the M2P names its PFN, and only if the p2m agrees, so
/// a foreign or stale frame is never read.
pub fn read_entry(boot: &Boot, table: Mfn, index: usize) -> Option<u64> {
    boot.memory().table_entry(table, index)
}

/// Walks the current page tables for `va`.
pub fn walk(boot: &Boot, va: GuestVa) -> Walk {
    boot.memory().walk(va)
}

/// Frame `target` mapped a second time, at the address `slot` had.
pub struct Window<'a>(Alias<'a>);

impl Window<'_> {
    /// The target's bytes, through the window's mapping.
    pub fn bytes(&mut self) -> &mut [u8; 4096] {
        self.0.bytes()
    }

    /// Where the window is.
    pub fn va(&self) -> GuestVa {
        self.0.va()
    }

    /// Maps the slot's own frame back and returns it.
    ///
    /// # Errors
    /// As [`map_frame`].
    pub fn unmap(self) -> Result<Frame, Errno> {
        self.0.unmap().map(Frame)
    }
}

/// Maps `target` at `slot`'s address by rewriting the L1 entry there with
/// `mmu_update`, and returns the window.
///
/// # Errors
/// `EINVAL` if the current tables have no readable L1 for the slot
/// (`MMU_NORMAL_PT_UPDATE` answers) and otherwise the `mmu_update` errno.
pub fn map_frame<'a>(boot: &Boot, slot: Frame, target: &'a mut Frame) -> Result<Window<'a>, Errno> {
    slot.0.alias(boot.memory(), &mut target.0).map(Window)
}

/// Gives `frame` back to the hypervisor: unmaps it, `decrease_reservation`
/// of its MFN, and marks its p2m entry invalid. The domain's reservation
/// drops by one page.
///
/// # Errors
/// The `update_va_mapping` errno, or `EBUSY` if the hypervisor kept the frame.
pub fn balloon_out(boot: &mut Boot, frame: Frame) -> Result<(), Errno> {
    let pfn = frame.0.give_back()?;
    boot.set_p2m(pfn, INVALID_MFN);
    Ok(())
}
