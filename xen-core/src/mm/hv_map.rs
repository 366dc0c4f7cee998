//! The hypervisor's own page tables: building them and auditing W^X.
//!
//! The hypervisor maps itself only inside L4 slots 256–271. Its image is
//! mapped with 4 KiB pages so each section gets exactly its rights (text
//! RX, rodata R, data RW+NX); the direct map of RAM uses 2 MiB pages where
//! alignment allows. The audit walks a live tree and reports any leaf that
//! is both writable and executable.

use super::{FrameAllocator, PhysAddr, PhysMemory};
use abi::mmu::pte;
use abi::Mfn;

const LARGE_PAGE: u64 = 2 << 20;

/// The rights of a hypervisor mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rights {
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
    /// Readable by guests (ring 3): only the read-only M2P table.
    pub user: bool,
}

impl Rights {
    /// Read + execute (text).
    pub const RX: Rights = Rights { write: false, execute: true, user: false };
    /// Read only (rodata).
    pub const R: Rights = Rights { write: false, execute: false, user: false };
    /// Read + write, never execute (data, stacks, direct map).
    pub const RW: Rights = Rights { write: true, execute: false, user: false };
    /// Read only for guests too (the M2P table in L4 slot 256).
    pub const GUEST_RO: Rights = Rights { write: false, execute: false, user: true };
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A page-table frame could not be allocated.
    OutOfFrames,
    /// Addresses or length are not 4 KiB aligned, or the range wraps.
    Misaligned,
    /// The range leaves the hypervisor's L4 slots 256–271.
    OutsideHypervisorSlots,
    /// Something is already mapped there.
    AlreadyMapped,
}

/// Builds hypervisor mappings in one 4-level tree.
pub struct HvMapper<'a, M: PhysMemory> {
    /// Machine memory holding the tables.
    pub mem: &'a mut M,
    /// Where new table frames come from.
    pub frames: &'a mut FrameAllocator,
    /// The L4 table.
    pub root: Mfn,
    /// Whether the CPU honours the NX bit (otherwise it is reserved and must stay clear).
    pub nx: bool,
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

impl<M: PhysMemory> HvMapper<'_, M> {
    /// Maps `[va, va + len)` to `[pa, pa + len)` with `rights`, using 2 MiB
    /// pages where both addresses are aligned and `large` is allowed.
    pub fn map(&mut self, va: u64, pa: PhysAddr, len: u64, rights: Rights, large: bool) -> Result<(), MapError> {
        if !va.is_multiple_of(4096) || !pa.0.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return Err(MapError::Misaligned);
        }
        let end = va.checked_add(len).ok_or(MapError::Misaligned)?;
        if len > 0 && !(abi::HYPERVISOR_VIRT_START..=abi::HYPERVISOR_VIRT_END).contains(&va)
            || end > abi::HYPERVISOR_VIRT_END
        {
            return Err(MapError::OutsideHypervisorSlots);
        }
        let mut flags = pte::PRESENT | pte::GLOBAL;
        if rights.write {
            flags |= pte::RW;
        }
        if !rights.execute && self.nx {
            flags |= pte::NX;
        }
        if rights.user {
            flags |= pte::USER;
        }
        let mut off = 0;
        while off < len {
            let (v, p) = (va + off, pa.0 + off);
            let big = large && v % LARGE_PAGE == 0 && p % LARGE_PAGE == 0 && len - off >= LARGE_PAGE;
            let leaf_level = if big { 2 } else { 1 };
            let table = self.walk_create(v, leaf_level, rights.user)?;
            // One large page, or every 4 KiB page of the range this L1 table
            // holds, after one walk: a large page can only start at the
            // table's end (building the direct map and the image walked
            // once per page, 225 K instructions at boot under -icount).
            let (count, entry) = if big {
                (1, p | flags | pte::PAT_PSE)
            } else {
                ((512 - index(v, 1)).min((len - off) / 4096), p | flags)
            };
            let first = table.to_maddr() + index(v, leaf_level) * 8;
            for i in 0..count {
                let slot = PhysAddr(first + i * 8);
                if self.mem.read_u64(slot) & pte::PRESENT != 0 {
                    return Err(MapError::AlreadyMapped);
                }
                self.mem.write_u64(slot, entry + i * 4096);
            }
            off += if big { LARGE_PAGE } else { count * 4096 };
        }
        Ok(())
    }

    /// Returns the table at `level` covering `va`, creating missing tables.
    fn walk_create(&mut self, va: u64, level: u32, user: bool) -> Result<Mfn, MapError> {
        let mut table = self.root;
        let user_bit = if user { pte::USER } else { 0 };
        for l in (level + 1..=4).rev() {
            let slot = PhysAddr(table.to_maddr() + index(va, l) * 8);
            let e = self.mem.read_u64(slot);
            if e & pte::PRESENT == 0 {
                let new = self.frames.alloc(self.mem).ok_or(MapError::OutOfFrames)?;
                self.mem.zero_frame(new);
                self.mem.write_u64(slot, new.to_maddr() | pte::PRESENT | pte::RW | user_bit);
                table = new;
            } else if e & pte::PAT_PSE != 0 {
                return Err(MapError::AlreadyMapped);
            } else {
                self.mem.write_u64(slot, e | user_bit);
                table = PhysAddr(e & pte::ADDR_MASK).mfn();
            }
        }
        Ok(table)
    }
}

/// The result of a W^X audit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WxAudit {
    /// Leaf mappings seen (4 KiB, 2 MiB or 1 GiB).
    pub leaves: u64,
    /// Leaves that are writable and executable.
    pub writable_executable: u64,
    /// Virtual address of the first such leaf.
    pub first_offender: Option<u64>,
}

/// Walks the tree under `root` and counts leaves that are writable and
/// executable. Rights are combined across levels as the CPU does: a leaf is
/// writable only if every level allows writes, executable only if no level
/// sets NX.
pub fn audit_wx(mem: &impl PhysMemory, root: Mfn, nx: bool) -> WxAudit {
    let mut audit = WxAudit::default();
    walk(mem, root, 4, 0, true, true, nx, &mut audit);
    audit
}

#[allow(clippy::too_many_arguments)]
fn walk(mem: &impl PhysMemory, table: Mfn, level: u32, base: u64, w: bool, x: bool, nx: bool, audit: &mut WxAudit) {
    // Bounded: depth is at most 4 and each level visits 512 entries.
    for i in 0..512u64 {
        let e = mem.read_u64(PhysAddr(table.to_maddr() + i * 8));
        if e & pte::PRESENT == 0 {
            continue;
        }
        let mut va = base | (i << (12 + 9 * (level - 1)));
        if level == 4 && i >= 256 {
            va |= 0xFFFF_0000_0000_0000;
        }
        let w = w && e & pte::RW != 0;
        let x = x && !(nx && e & pte::NX != 0);
        if level == 1 || e & pte::PAT_PSE != 0 {
            audit.leaves += 1;
            if w && x {
                audit.writable_executable += 1;
                audit.first_offender.get_or_insert(va);
            }
        } else {
            walk(mem, PhysAddr(e & pte::ADDR_MASK).mfn(), level - 1, va, w, x, nx, audit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::phys_mem::fake::FakeMemory;
    use crate::mm::PhysRange;

    const IMG: u64 = 0xFFFF_82D0_8000_0000;
    const DIRECT: u64 = 0xFFFF_8300_0000_0000;

    fn setup() -> (FakeMemory, FrameAllocator, Mfn) {
        let mut mem = FakeMemory::default();
        let mut frames = FrameAllocator::new(&[PhysRange::new(1 << 20, 64 << 20)], &[]).unwrap();
        let root = frames.alloc(&mem).unwrap();
        mem.zero_frame(root);
        (mem, frames, root)
    }

    #[test]
    fn image_sections_get_exact_rights_and_audit_finds_no_wx() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        m.map(IMG, PhysAddr(0x20_0000), 0x3000, Rights::RX, false).unwrap();
        m.map(IMG + 0x3000, PhysAddr(0x20_3000), 0x1000, Rights::R, false).unwrap();
        m.map(IMG + 0x4000, PhysAddr(0x20_4000), 0x2000, Rights::RW, false).unwrap();
        m.map(DIRECT, PhysAddr(0), 8 << 20, Rights::RW, true).unwrap();
        let audit = audit_wx(&mem, root, true);
        assert_eq!(audit.leaves, 6 + 4);
        assert_eq!(audit.writable_executable, 0);
    }

    #[test]
    fn audit_reports_a_writable_executable_leaf() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        m.map(IMG, PhysAddr(0x20_0000), 0x1000, Rights { write: true, execute: true, user: false }, false).unwrap();
        let audit = audit_wx(&mem, root, true);
        assert_eq!(audit.writable_executable, 1);
        assert_eq!(audit.first_offender, Some(IMG));
    }

    #[test]
    fn without_nx_support_the_nx_bit_stays_clear_and_data_counts_as_executable() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: false };
        m.map(IMG, PhysAddr(0x20_0000), 0x1000, Rights::RW, false).unwrap();
        assert_eq!(audit_wx(&mem, root, false).writable_executable, 1);
    }

    #[test]
    fn large_pages_are_used_only_when_aligned() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        m.map(DIRECT + 0x1000, PhysAddr(0x1000), (4 << 20) - 0x1000, Rights::RW, true).unwrap();
        // 511 small pages up to the 2 MiB boundary, then one large page.
        assert_eq!(audit_wx(&mem, root, true).leaves, 511 + 1);
    }

    /// The leaf entry mapping `va`, and its level.
    fn leaf(mem: &FakeMemory, root: Mfn, va: u64) -> Option<(u64, u32)> {
        let mut table = root;
        for level in (1..=4).rev() {
            let e = mem.read_u64(PhysAddr(table.to_maddr() + index(va, level) * 8));
            if e & pte::PRESENT == 0 {
                return None;
            }
            if level == 1 || (level == 2 && e & pte::PAT_PSE != 0) {
                return Some((e, level));
            }
            table = PhysAddr(e & pte::ADDR_MASK).mfn();
        }
        None
    }

    #[test]
    fn a_run_of_small_pages_across_l1_tables_maps_each_page_to_its_frame_and_nothing_past_the_end() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        // From 8 KiB below a 2 MiB boundary to 12 KiB past the next one:
        // small pages in three L1 tables (one large page between, with `large`).
        let (va, pa, len) = (DIRECT + (2 << 20) - 0x2000, 0x40_0000 - 0x2000, (2 << 20) + 0x5000);
        m.map(va, PhysAddr(pa), len, Rights::RW, true).unwrap();
        m.map(IMG, PhysAddr(0x50_0000), 0x3000, Rights::R, false).unwrap();
        let audit = audit_wx(&mem, root, true);
        assert_eq!(audit.leaves, 2 + 1 + 3 + 3);
        for off in (0..len).step_by(4096) {
            let (e, level) = leaf(&mem, root, va + off).expect("a page of the range is unmapped");
            let base = if level == 2 { (pa + off) & !((2 << 20) - 1) } else { pa + off };
            assert_eq!(e & pte::ADDR_MASK, base, "page {off:#x} maps the wrong frame");
            assert_eq!(e & (pte::RW | pte::NX | pte::PRESENT), pte::RW | pte::NX | pte::PRESENT);
        }
        assert_eq!(leaf(&mem, root, va - 4096), None);
        assert_eq!(leaf(&mem, root, va + len), None, "mapped past the end");
        assert_eq!(leaf(&mem, root, IMG + 0x3000), None, "mapped past the end");
        assert_eq!(leaf(&mem, root, IMG + 0x2000).map(|(e, _)| e & (pte::ADDR_MASK | pte::RW)), Some(0x50_2000));
    }

    #[test]
    fn a_run_over_one_mapped_page_stops_there_with_already_mapped() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        m.map(IMG + 0x5000, PhysAddr(0x70_0000), 0x1000, Rights::R, false).unwrap();
        assert_eq!(m.map(IMG, PhysAddr(0x20_0000), 0x8000, Rights::RW, false), Err(MapError::AlreadyMapped));
        let (e, _) = leaf(&mem, root, IMG + 0x5000).unwrap();
        assert_eq!(e & (pte::ADDR_MASK | pte::RW), 0x70_0000, "the mapped page was overwritten");
    }

    #[test]
    fn mappings_outside_slots_256_to_271_or_overlapping_are_refused() {
        let (mut mem, mut frames, root) = setup();
        let mut m = HvMapper { mem: &mut mem, frames: &mut frames, root, nx: true };
        assert_eq!(m.map(0x40_0000, PhysAddr(0), 4096, Rights::RW, false), Err(MapError::OutsideHypervisorSlots));
        assert_eq!(
            m.map(abi::HYPERVISOR_VIRT_END - 4096, PhysAddr(0), 8192, Rights::RW, false),
            Err(MapError::OutsideHypervisorSlots)
        );
        assert_eq!(m.map(IMG + 1, PhysAddr(0), 4096, Rights::RW, false), Err(MapError::Misaligned));
        m.map(IMG, PhysAddr(0), 4096, Rights::RW, false).unwrap();
        assert_eq!(m.map(IMG, PhysAddr(0), 4096, Rights::RW, false), Err(MapError::AlreadyMapped));
    }
}
