//! `MMUEXT_SET_LDT` (mmuext command 13): the guest's local descriptor table,
//! given as a linear address and a number of entries (fact sheet §4.3).
//!
//! Xen checks the arguments (page-aligned, guest address, at most 8192
//! entries; an empty LDT has base 0) and records them; it maps the LDT's
//! pages lazily, on the first descriptor access through them, taking the
//! descriptor-page type then (so a page whose descriptors fail the checks,
//! or that is mapped writable, cannot be used, and the access becomes a
//! page fault at the LDT address in the guest). xen-core does the same:
//! [`Mm::map_ldt_page`] runs on the first #GP with a TI=1 selector into a
//! page not mapped yet, and the hardware LDT is a copy of the mapped pages'
//! descriptors (as [`crate::domain::segments::hardware_descriptor`] loads
//! them), refreshed whenever they can change. The references are dropped
//! when the LDT changes (`SET_LDT` with other arguments) and at teardown.

use super::model::{Mm, MmHooks};
use super::{PhysAddr, PhysMemory};
use abi::{DomId, Errno, GuestVa, Mfn};

/// Most entries of an LDT.
pub const MAX_LDT_ENTRIES: u32 = 8192;
/// Pages a full LDT spans.
pub const LDT_PAGES: usize = MAX_LDT_ENTRIES as usize / 512;

/// A vCPU's LDT as the guest set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ldt {
    /// Linear address of entry 0 (0 when empty).
    pub base: u64,
    /// Number of 8-byte entries (0: no LDT).
    pub entries: u32,
}

impl Ldt {
    /// No LDT.
    pub const NONE: Ldt = Ldt { base: 0, entries: 0 };

    /// Checks `SET_LDT(linear_addr, nr_ents)`: the address is ignored when
    /// there are no entries.
    ///
    /// # Errors
    /// `EINVAL` for an address not page-aligned or outside guest space, or
    /// more than 8192 entries.
    pub const fn checked(linear_addr: u64, nr_ents: u32) -> Result<Ldt, Errno> {
        let base = if nr_ents == 0 { 0 } else { linear_addr };
        if base % abi::PAGE_SIZE != 0 || !GuestVa(base).is_guest_accessible() || nr_ents > MAX_LDT_ENTRIES {
            return Err(Errno::EINVAL);
        }
        Ok(Ldt { base, entries: nr_ents })
    }
}

impl Ldt {
    /// Pages the LDT spans.
    pub const fn pages(self) -> usize {
        (self.entries as usize).div_ceil(512)
    }
}

/// Why an LDT page could not be mapped: the guest gets a page fault at
/// the LDT address (Xen's answer for each of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdtMapError {
    /// The page is beyond the LDT's entries (the hardware limit stops such
    /// accesses first; never reached from a real fault).
    OutOfRange,
    /// The guest's kernel page tables do not map the address.
    NotMapped,
    /// The frame is not the domain's, or cannot be a descriptor page
    /// (mapped writable, a page table, a refused descriptor).
    NotDescriptorPage,
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// `MMUEXT_SET_LDT` for `dom` (the caller itself). New arguments drop
    /// the pages mapped for the old LDT, as Xen's does.
    ///
    /// # Errors
    /// See [`Ldt::checked`]; nothing changes then.
    pub fn set_ldt(&mut self, dom: DomId, linear_addr: u64, nr_ents: u32) -> Result<(), Errno> {
        let ldt = Ldt::checked(linear_addr, nr_ents).map_err(|e| self.refuse(e, "bad SET_LDT arguments"))?;
        if self.domain(dom).is_some_and(|d| d.ldt != ldt) {
            self.destroy_ldt(dom);
            self.domain_mut(dom).ldt = ldt;
            // The hardware LDT follows (same channel as the GDT's).
            self.hooks.gdt_changed(dom);
        }
        Ok(())
    }

    /// Drops every LDT page `dom` has mapped (their references go).
    pub fn destroy_ldt(&mut self, dom: DomId) {
        let frames = core::mem::replace(&mut self.domain_mut(dom).ldt_frames, [None; LDT_PAGES]);
        for mfn in frames.into_iter().flatten() {
            self.put_page_and_type(mfn);
        }
    }

    /// The frame the guest's kernel page tables map at `va`, if any (4 KiB
    /// pages only; the same walk the hardware would do).
    pub fn guest_frame_at(&self, dom: DomId, va: u64) -> Option<Mfn> {
        use abi::mmu::pte::{ADDR_MASK, PAT_PSE, PRESENT};
        let mut table = self.domain(dom)?.kernel_root?;
        for level in (0..4).rev() {
            let index = (va >> (12 + 9 * level)) & 511;
            let e = self.mem.read_u64(PhysAddr(table.to_maddr() + index * 8));
            if e & PRESENT == 0 || (level > 0 && level < 3 && e & PAT_PSE != 0) {
                return None;
            }
            table = Mfn((e & ADDR_MASK) >> 12);
        }
        Some(table)
    }

    /// Maps page `page` of `dom`'s LDT on its first use: the frame its
    /// kernel page tables map there takes a descriptor-page type reference
    /// (its 512 descriptors checked) and is recorded. Already mapped: its
    /// frame.
    ///
    /// # Errors
    /// See [`LdtMapError`]; nothing changes then.
    pub fn map_ldt_page(&mut self, dom: DomId, page: usize) -> Result<Mfn, LdtMapError> {
        let Some(d) = self.domain(dom) else { return Err(LdtMapError::NotMapped) };
        let ldt = d.ldt;
        if page >= ldt.pages() {
            return Err(LdtMapError::OutOfRange);
        }
        if let Some(mfn) = d.ldt_frames[page] {
            return Ok(mfn);
        }
        let mfn = self.guest_frame_at(dom, ldt.base + page as u64 * abi::PAGE_SIZE).ok_or(LdtMapError::NotMapped)?;
        if mfn.0 >= self.frames.len() as u64 || self.get_page(mfn, dom).is_err() {
            return Err(LdtMapError::NotDescriptorPage);
        }
        if self.get_desc_type(mfn).is_err() {
            self.put_page(mfn);
            return Err(LdtMapError::NotDescriptorPage);
        }
        self.domain_mut(dom).ldt_frames[page] = Some(mfn);
        Ok(mfn)
    }

    /// Descriptor `index` of `dom`'s LDT as the guest wrote it, if its page
    /// is mapped.
    pub fn ldt_descriptor(&self, dom: DomId, index: usize) -> Option<u64> {
        let d = self.domain(dom)?;
        if index >= d.ldt.entries as usize {
            return None;
        }
        let mfn = d.ldt_frames[index / 512]?;
        Some(self.mem.read_u64(PhysAddr(mfn.to_maddr() + (index % 512) as u64 * 8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::tests::world::{refused, World, D1};
    use abi::mmu::{MmuextOp, MMUEXT_SET_LDT};

    fn set_ldt(base: u64, ents: u64) -> MmuextOp {
        MmuextOp { cmd: MMUEXT_SET_LDT, pad: 0, arg1: base, arg2: ents }
    }

    #[test]
    fn set_ldt_records_the_ldt_and_refusals_change_nothing() {
        let mut w = World::new(64);
        w.give(D1, 1);
        assert_eq!(w.ext(D1, set_ldt(0x40_0000, 32)), Ok(()));
        assert_eq!(w.mm().domain(D1).map(|d| d.ldt), Some(Ldt { base: 0x40_0000, entries: 32 }));
        refused(&mut w, Errno::EINVAL, |w| w.ext(D1, set_ldt(0x40_0000, 8193)));
        refused(&mut w, Errno::EINVAL, |w| w.ext(D1, set_ldt(0x40_0800, 1)));
        assert_eq!(w.mm().domain(D1).map(|d| d.ldt.entries), Some(32));
        refused(&mut w, Errno::EPERM, |w| w.ext_on(D1, set_ldt(0, 0), 0));
        assert_eq!(w.ext(D1, set_ldt(0x40_0000, 1 << 32)), Ok(()), "nr_ents is 32 bits: 0");
        assert_eq!(w.mm().domain(D1).map(|d| d.ldt), Some(Ldt::NONE));
    }

    #[test]
    fn set_ldt_arguments_follow_xens_checks() {
        assert_eq!(Ldt::checked(0, 0), Ok(Ldt::NONE));
        assert_eq!(Ldt::checked(0x1234, 0), Ok(Ldt::NONE), "no entries: the address is ignored");
        assert_eq!(Ldt::checked(0x40_0000, 16), Ok(Ldt { base: 0x40_0000, entries: 16 }));
        assert_eq!(Ldt::checked(0x40_0000, 8192).map(|l| l.entries), Ok(8192));
        assert_eq!(Ldt::checked(0xFFFF_8800_0000_0000, 1).map(|l| l.entries), Ok(1), "guest kernel space");
        assert_eq!(Ldt::checked(0x40_0000, 8193), Err(Errno::EINVAL));
        assert_eq!(Ldt::checked(0x40_0008, 1), Err(Errno::EINVAL), "not page-aligned");
        assert_eq!(Ldt::checked(0xFFFF_8000_0000_0000, 1), Err(Errno::EINVAL), "hypervisor range");
        assert_eq!(Ldt::checked(0x8000_0000_0000, 1), Err(Errno::EINVAL), "non-canonical");
    }
}
