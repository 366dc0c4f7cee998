//! Guest GDT frames (`set_gdt`, hypercall 2): up to 14 frames of the guest
//! hold its descriptors (entries 0–7167; the hypervisor owns 7168 and up).
//! Each frame takes the descriptor-page type, so it can be mapped only
//! read-only and never written through `mmu_update`, and its contents are
//! checked when the type is taken: present system descriptors (TSS, LDT,
//! gates) are refused, code and data descriptors of any privilege accepted
//! (they are loaded with DPL 3, since the guest kernel runs in ring 3).

use super::model::{Mm, MmHooks};
use super::page_info::{PageType, MAX_COUNT};
use super::test_modes::{table_entries, Fault};
use super::{PhysAddr, PhysMemory};
use abi::traps::FIRST_RESERVED_GDT_ENTRY;
use abi::{DomId, Errno, Mfn};

/// Most GDT frames a guest may give.
pub const MAX_GDT_FRAMES: usize = FIRST_RESERVED_GDT_ENTRY / 512;

const PRESENT: u64 = 1 << 47;
const CODE_OR_DATA: u64 = 1 << 44;

/// Whether a descriptor may sit in a guest GDT.
pub const fn descriptor_ok(d: u64) -> bool {
    d & PRESENT == 0 || d & CODE_OR_DATA != 0
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// Takes a descriptor-page type reference on `mfn` (general reference
    /// held by the caller), checking its descriptors the first time.
    pub(super) fn get_desc_type(&mut self, mfn: Mfn) -> Result<(), Errno> {
        self.settle(mfn);
        let info = *self.info(mfn);
        if info.type_count() > 0 {
            if info.page_type() != PageType::SegDesc || info.type_count() >= MAX_COUNT {
                return Err(self.refuse(Errno::EINVAL, "GDT frame in use with another type"));
            }
        } else {
            // Rule 1 of §10: a writable translation cached before would let
            // the guest rewrite the descriptors after they were checked.
            if info.page_type() != PageType::SegDesc {
                self.flush_if_stale(mfn, Fault::NoTypeChangeFlush);
            }
            let n = u64::from(table_entries());
            let ok = (0..n).all(|i| descriptor_ok(self.mem.read_u64(PhysAddr(mfn.to_maddr() + i * 8))));
            if !ok {
                return Err(self.refuse(Errno::EINVAL, "GDT frame holds a refused descriptor"));
            }
        }
        self.get_simple_type(mfn, PageType::SegDesc)
            .map_err(|_| self.refuse(Errno::EINVAL, "GDT frame cannot be a descriptor page"))
    }

    /// Installs `frames` as `dom`'s GDT with `entries` descriptors,
    /// releasing the previous frames.
    ///
    /// # Errors
    /// `EINVAL` for more than 7168 entries or fewer frames than they need,
    /// a frame the domain does not own, or one that cannot be a descriptor
    /// page (mapped writable, a page table, bad descriptors). Nothing
    /// changes then.
    pub fn set_gdt(&mut self, dom: DomId, frames: &[Mfn], entries: u64) -> Result<(), Errno> {
        let needed = entries.div_ceil(512) as usize;
        if entries > FIRST_RESERVED_GDT_ENTRY as u64 || frames.len() < needed {
            return Err(self.refuse(Errno::EINVAL, "too many GDT entries or too few frames"));
        }
        for (i, &mfn) in frames[..needed].iter().enumerate() {
            let r = self
                .get_page(mfn, dom)
                .map_err(|_| self.refuse(Errno::EINVAL, "GDT frame not owned by the domain"))
                .and_then(|()| self.get_desc_type(mfn).inspect_err(|_| self.put_page(mfn)));
            if let Err(e) = r {
                for &done in &frames[..i] {
                    self.put_page_and_type(done);
                }
                return Err(e);
            }
        }
        let d = self.domain_mut(dom);
        let old = (d.gdt, d.gdt_frames);
        d.gdt = [Mfn(0); MAX_GDT_FRAMES];
        d.gdt[..needed].copy_from_slice(&frames[..needed]);
        d.gdt_frames = needed as u8;
        d.gdt_entries = entries as u16;
        for &mfn in &old.0[..old.1 as usize] {
            self.put_page_and_type(mfn);
        }
        self.hooks.gdt_changed(dom);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_descriptors_are_refused_unless_not_present() {
        assert!(descriptor_ok(0));
        assert!(descriptor_ok(0x00CF_F200_0000_FFFF));
        assert!(descriptor_ok(0x00AF_9A00_0000_FFFF));
        assert!(!descriptor_ok(0x0000_8900_0000_0067), "TSS");
        assert!(!descriptor_ok(0x0000_8200_0000_0000), "LDT");
        assert!(!descriptor_ok(0x0000_EC00_E008_1000), "call gate");
        assert!(descriptor_ok(0x0000_0900_0000_0067), "not-present TSS");
    }
}
