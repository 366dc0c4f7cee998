//! `MMUEXT_SET_LDT` (mmuext command 13): the guest's local descriptor table,
//! given as a linear address and a number of entries (fact sheet §4.3).
//!
//! Xen checks the arguments (page-aligned, guest address, at most 8192
//! entries; an empty LDT has base 0) and records them; it maps the LDT's
//! pages lazily, on the first descriptor access through it, taking the
//! descriptor-page type then. xen-core records the LDT the same way but
//! never loads a non-empty LDT into the hardware: the hardware LDT stays
//! null, so no descriptor the guest can write is ever used, and a selector
//! with TI=1 faults in the guest (abi docs, deliberate differences).

use super::model::{Mm, MmHooks};
use super::PhysMemory;
use abi::{DomId, Errno, GuestVa};

/// Most entries of an LDT.
pub const MAX_LDT_ENTRIES: u32 = 8192;

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

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    /// `MMUEXT_SET_LDT` for `dom` (the caller itself).
    ///
    /// # Errors
    /// See [`Ldt::checked`]; nothing changes then.
    pub fn set_ldt(&mut self, dom: DomId, linear_addr: u64, nr_ents: u32) -> Result<(), Errno> {
        let ldt = Ldt::checked(linear_addr, nr_ents).map_err(|e| self.refuse(e, "bad SET_LDT arguments"))?;
        self.domain_mut(dom).ldt = ldt;
        Ok(())
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
