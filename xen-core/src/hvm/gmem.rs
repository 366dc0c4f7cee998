//! A PVH guest's memory as the hypervisor reaches it on the guest's
//! behalf (hypercall arguments, the hypercall page): a guest-physical
//! address goes through the p2m, a guest-virtual one first through the
//! guest's own page tables, whose entries hold guest frames, read through
//! the p2m too. Nothing the guest names is trusted: every table entry and
//! every frame is looked up, and anything missing is `EFAULT`.
//!
//! Only RAM entries of the p2m are reached (a grant or MMIO entry is not a
//! place for hypercall arguments), and a write needs the p2m's write right.
//! Guest paging: off (virtual = physical, the PVH entry state) and 4-level
//! long mode. Legacy 32-bit and PAE paging are refused (`EFAULT`): a PVH
//! guest reaches long mode before it pages. The walk checks present and
//! writable bits at every level as a supervisor access with CR0.WP set; it
//! does not set the guest's accessed or dirty bits (Xen's copy does).

use crate::mm::{PhysAddr, PhysMemory};
use crate::p2m::{P2m, P2mType};
use abi::mmu::pte::{ADDR_MASK, PAT_PSE, PRESENT, RW};
use abi::{Errno, Gfn};

/// CR0.PG.
const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
const CR4_PAE: u64 = 1 << 5;
/// EFER.LMA.
const EFER_LMA: u64 = 1 << 10;

/// How the guest translates its virtual addresses now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestPaging {
    /// Paging off: virtual addresses are guest-physical.
    Off,
    /// 4-level long mode with this CR3.
    Long4 {
        /// The guest's CR3 (a guest-physical address).
        cr3: u64,
    },
    /// A mode the hypervisor does not walk (32-bit or PAE paging).
    Unsupported,
}

impl GuestPaging {
    /// The mode the guest's control registers describe.
    pub const fn of(cr0: u64, cr3: u64, cr4: u64, efer: u64) -> GuestPaging {
        if cr0 & CR0_PG == 0 {
            GuestPaging::Off
        } else if efer & EFER_LMA != 0 && cr4 & CR4_PAE != 0 {
            GuestPaging::Long4 { cr3 }
        } else {
            GuestPaging::Unsupported
        }
    }
}

/// The machine address of guest-physical `gpa`, if the p2m maps it as RAM
/// (and writable, for a write).
pub fn gpa_to_maddr(p2m: &P2m<'_>, gpa: u64, write: bool) -> Option<PhysAddr> {
    let (e, _) = p2m.get(Gfn(gpa >> 12))?;
    if e.ty != P2mType::Ram || (write && !e.rights.write) {
        return None;
    }
    Some(PhysAddr(e.mfn.to_maddr() | (gpa & 0xFFF)))
}

/// The guest-physical address of virtual `va` under `paging`.
pub fn translate<M: PhysMemory>(p2m: &P2m<'_>, mem: &M, paging: GuestPaging, va: u64, write: bool) -> Option<u64> {
    let cr3 = match paging {
        GuestPaging::Off => return (va >> 32 == 0).then_some(va),
        GuestPaging::Unsupported => return None,
        GuestPaging::Long4 { cr3 } => cr3,
    };
    // Canonical only.
    if ((1 << 47)..0xFFFF_8000_0000_0000).contains(&va) {
        return None;
    }
    let mut table = cr3 & ADDR_MASK;
    for level in (1..=4u32).rev() {
        let index = (va >> (12 + 9 * (level - 1))) & 511;
        let at = gpa_to_maddr(p2m, table + index * 8, false)?;
        let e = mem.read_u64(at);
        if e & PRESENT == 0 || (write && e & RW == 0) {
            return None;
        }
        let frame = e & ADDR_MASK;
        if level == 1 || ((level == 2 || level == 3) && e & PAT_PSE != 0) {
            let size_mask = (1u64 << (12 + 9 * (level - 1))) - 1;
            return Some((frame & !size_mask) | (va & size_mask));
        }
        table = frame;
    }
    None
}

/// A PVH guest's memory, seen through its p2m and its paging mode.
pub struct GuestView<'v, 'a, M: PhysMemory> {
    /// The guest's p2m.
    pub p2m: &'v P2m<'a>,
    /// Machine memory.
    pub mem: &'v mut M,
    /// The guest's paging mode at the hypercall.
    pub paging: GuestPaging,
}

impl<M: PhysMemory> GuestView<'_, '_, M> {
    /// The machine address of the byte at `va` and how many bytes follow
    /// it in the same guest page.
    fn locate(&self, va: u64, write: bool) -> Result<(PhysAddr, usize), Errno> {
        let gpa = translate(self.p2m, &*self.mem, self.paging, va, write).ok_or(Errno::EFAULT)?;
        let at = gpa_to_maddr(self.p2m, gpa, write).ok_or(Errno::EFAULT)?;
        Ok((at, (4096 - (gpa & 0xFFF)) as usize))
    }

    /// Reads `buf.len()` bytes at guest-virtual `va`.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not reachable.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let v = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let (at, room) = self.locate(v, false)?;
            let n = room.min(buf.len() - done);
            for (i, b) in buf[done..done + n].iter_mut().enumerate() {
                let a = at.0 + i as u64;
                *b = (self.mem.read_u64(PhysAddr(a & !7)) >> ((a & 7) * 8)) as u8;
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `buf` at guest-virtual `va`. Every page is checked before
    /// any byte is written, so a refused write changes nothing.
    ///
    /// # Errors
    /// `EFAULT` if any byte is not reachable for writing.
    pub fn write(&mut self, va: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let v = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let (_, room) = self.locate(v, true)?;
            done += room.min(buf.len() - done);
        }
        let mut done = 0;
        while done < buf.len() {
            let (at, room) = self.locate(va + done as u64, true)?;
            let n = room.min(buf.len() - done);
            self.mem.write_bytes(at, &buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Reads a little-endian u64 at `va`.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read_u64(&self, va: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian u32 at `va`.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read_u32(&self, va: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
}

/// Writes `bytes` at guest-physical `gpa` through the p2m (the domain
/// builder's copy).
///
/// # Errors
/// `EFAULT` if a page is not writable RAM of the guest (nothing written).
pub fn write_phys<M: PhysMemory>(p2m: &P2m<'_>, mem: &mut M, gpa: u64, bytes: &[u8]) -> Result<(), Errno> {
    GuestView { p2m, mem, paging: GuestPaging::Off }.write(gpa, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::phys_mem::fake::FakeMemory;
    use crate::p2m::{P2mEntry, Rights};
    use abi::{DomId, Mfn};

    /// gfn g → mfn 100 + g for g in 0..8; gfn 5 read-only.
    fn world() -> (Vec<Option<P2mEntry>>, Vec<bool>) {
        let mut slots = vec![None; 16];
        let mut supers = vec![false; 1];
        let mut p = P2m::new(DomId(1), &mut slots, &mut supers);
        for g in 0..8 {
            let rights = if g == 5 { Rights::RX } else { Rights::RWX };
            p.map_untracked(Gfn(g), P2mEntry { mfn: Mfn(100 + g), ty: P2mType::Ram, rights });
        }
        (slots, supers)
    }

    #[test]
    fn paging_off_copies_reach_guest_frames_through_the_p2m_and_nothing_else() {
        let (mut slots, mut supers) = world();
        let p2m = P2m::reopen(DomId(1), &mut slots, &mut supers);
        let mut mem = FakeMemory::default();
        let mut v = GuestView { p2m: &p2m, mem: &mut mem, paging: GuestPaging::Off };
        // Across a page boundary: gfn 1's last bytes and gfn 2's first.
        v.write(0x1FFC, b"abcdefgh").unwrap();
        let mut b = [0u8; 8];
        v.read(0x1FFC, &mut b).unwrap();
        assert_eq!(&b, b"abcdefgh");
        assert_eq!(v.mem.read_u64(PhysAddr(102 * 4096)) & 0xFFFF_FFFF, u64::from(u32::from_le_bytes(*b"efgh")));
        // Outside the p2m, and straddling its end.
        assert_eq!(v.read(0x8000, &mut b), Err(Errno::EFAULT));
        assert_eq!(v.write(0x7FFC, b"12345678"), Err(Errno::EFAULT));
        assert_eq!(v.read_u32(0x7FFC).map(|_| ()), Ok(()), "the in-range part was not written");
        assert_eq!(v.read_u32(0x7FFC), Ok(0));
        // Read-only frame: read yes, write no.
        assert!(v.read(0x5000, &mut b).is_ok());
        assert_eq!(v.write(0x5000, b"x"), Err(Errno::EFAULT));
        // Above 4 GiB with paging off.
        assert_eq!(v.read(1 << 32, &mut b), Err(Errno::EFAULT));
    }

    #[test]
    fn long_mode_walks_the_guests_own_tables_in_guest_frames() {
        let (mut slots, mut supers) = world();
        let p2m = P2m::reopen(DomId(1), &mut slots, &mut supers);
        let mut mem = FakeMemory::default();
        // Guest tables: L4 at gfn 1, L3 at gfn 2, L2 at gfn 3 (a 2 MiB
        // leaf at va 0x4000_0000 → gpa 0), L1 at gfn 4 for va 0x4020_0000.
        let w = |mem: &mut FakeMemory, gfn: u64, i: u64, v: u64| mem.write_u64(PhysAddr((100 + gfn) * 4096 + i * 8), v);
        w(&mut mem, 1, 0, 0x2000 | PRESENT | RW);
        w(&mut mem, 2, 1, 0x3000 | PRESENT | RW);
        w(&mut mem, 3, 0, PRESENT | RW | PAT_PSE);
        w(&mut mem, 3, 1, 0x4000 | PRESENT | RW);
        w(&mut mem, 4, 0, 0x6000 | PRESENT); // read-only guest mapping of gfn 6
        w(&mut mem, 4, 1, 0x9000 | PRESENT | RW); // gfn 9: outside the p2m
        let paging = GuestPaging::of(CR0_PG | 1, 0x1000, CR4_PAE, EFER_LMA | (1 << 8));
        assert_eq!(paging, GuestPaging::Long4 { cr3: 0x1000 });
        assert_eq!(translate(&p2m, &mem, paging, 0x4000_0123, true), Some(0x123));
        assert_eq!(translate(&p2m, &mem, paging, 0x4010_0123, false), Some(0x10_0123));
        assert_eq!(translate(&p2m, &mem, paging, 0x4020_0010, false), Some(0x6010));
        assert_eq!(translate(&p2m, &mem, paging, 0x4020_0010, true), None, "guest PTE read-only");
        assert_eq!(translate(&p2m, &mem, paging, 0x4020_1010, false), Some(0x9010));
        let mut v = GuestView { p2m: &p2m, mem: &mut mem, paging };
        let mut b = [0u8; 4];
        assert_eq!(v.read(0x4020_1010, &mut b), Err(Errno::EFAULT), "the PTE names a gfn the p2m lacks");
        assert_eq!(v.read(0x8000_0000, &mut b), Err(Errno::EFAULT), "not present");
        assert_eq!(v.read(0x0000_8000_0000_0000, &mut b), Err(Errno::EFAULT), "not canonical");
        v.write(0x4000_0100, b"pvh!").unwrap();
        assert!(v.read(0x100, &mut b).is_err(), "va 0x100 is unmapped in the guest's tables");
        assert_eq!(v.read_u32(0x4000_0100), Ok(u32::from_le_bytes(*b"pvh!")));
        // A table pointer outside the p2m.
        let bad = GuestPaging::Long4 { cr3: 0x20_0000 };
        assert_eq!(translate(&p2m, v.mem, bad, 0, false), None);
        assert_eq!(GuestPaging::of(CR0_PG, 0, 0, 0), GuestPaging::Unsupported);
        assert_eq!(translate(&p2m, v.mem, GuestPaging::Unsupported, 0, false), None);
    }
}
