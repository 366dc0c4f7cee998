//! `update_descriptor` (hypercall 10): one 8-byte descriptor written at a
//! machine address of the caller's, with Xen's order of checks (fact sheet
//! §4.2): alignment and the descriptor itself, then the frame's owner, then
//! its type. A frame that is a descriptor page (a live GDT frame) keeps that
//! type and is written in place; any other frame must be able to take the
//! writable type for the write, so a page table is refused.

use super::gdt::descriptor_ok;
use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::{PhysAddr, PhysMemory};
use abi::{DomId, Errno, Mfn};

const PRESENT: u64 = 1 << 47;
const DPL_MASK: u64 = 3 << 45;

/// The descriptor as it is stored: `None` if refused. A present descriptor
/// gets DPL 3, as Xen raises any lower DPL for a 64-bit PV guest (the guest
/// kernel runs in ring 3), so the stored value may differ from the input.
pub const fn checked_descriptor(d: u64) -> Option<u64> {
    if !descriptor_ok(d) {
        None
    } else if d & PRESENT == 0 {
        Some(d)
    } else {
        Some(d | DPL_MASK)
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Writes descriptor `desc` at machine address `maddr` for `dom`.
    ///
    /// # Errors
    /// `EINVAL` for an address not 8-aligned, a refused descriptor, a frame
    /// `dom` does not own, or one that is neither a descriptor page nor able
    /// to become writable (a page table). Nothing changes then.
    pub fn update_descriptor(&mut self, dom: DomId, maddr: u64, desc: u64) -> Result<(), Errno> {
        if !maddr.is_multiple_of(8) {
            return Err(self.refuse(Errno::EINVAL, "descriptor address not 8-aligned"));
        }
        let Some(stored) = checked_descriptor(desc) else {
            return Err(self.refuse(Errno::EINVAL, "descriptor refused"));
        };
        let mfn = Mfn(maddr >> 12);
        self.get_page(mfn, dom).map_err(|_| self.refuse(Errno::EINVAL, "descriptor frame not owned by the domain"))?;
        self.settle(mfn);
        let info = *self.info(mfn);
        let ty = if info.type_count() > 0 && info.page_type() == PageType::SegDesc {
            PageType::SegDesc
        } else {
            PageType::Writable
        };
        if self.get_simple_type(mfn, ty).is_err() {
            self.put_page(mfn);
            return Err(self.refuse(Errno::EINVAL, "descriptor frame cannot be writable"));
        }
        self.mem.write_u64(PhysAddr(maddr), stored);
        if ty == PageType::SegDesc {
            // A live GDT or LDT frame: the hardware copy must see the new
            // entry, at once and again when the tables are reloaded.
            let slot = ((maddr & 0xFFF) / 8) as usize;
            let d = *self.domain_mut(dom);
            for (k, &g) in d.gdt[..d.gdt_frames as usize].iter().enumerate() {
                if g == mfn && k * 512 + slot < usize::from(d.gdt_entries) {
                    self.hooks.descriptor_written(dom, false, k * 512 + slot, stored);
                }
            }
            for (k, l) in d.ldt_frames.iter().enumerate() {
                if *l == Some(mfn) && k * 512 + slot < d.ldt.entries as usize {
                    self.hooks.descriptor_written(dom, true, k * 512 + slot, stored);
                }
            }
            self.hooks.gdt_changed(dom);
        }
        self.put_page_and_type(mfn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_descriptors_get_dpl_3_and_not_present_ones_stay_as_given() {
        assert_eq!(checked_descriptor(0x00CF_9200_0000_FFFF), Some(0x00CF_F200_0000_FFFF));
        assert_eq!(checked_descriptor(0x00AF_FA00_0000_FFFF), Some(0x00AF_FA00_0000_FFFF));
        assert_eq!(checked_descriptor(0x00CF_1200_0000_FFFF), Some(0x00CF_1200_0000_FFFF));
        assert_eq!(checked_descriptor(0), Some(0));
    }

    #[test]
    fn present_system_descriptors_are_refused() {
        assert_eq!(checked_descriptor(0x0000_8900_0000_0067), None, "TSS");
        assert_eq!(checked_descriptor(0x0000_8200_0000_0000), None, "LDT");
        assert_eq!(checked_descriptor(0x0000_EC00_E008_1000), None, "call gate");
    }
}
