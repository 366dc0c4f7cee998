//! `GNTTABOP_unmap_grant_ref` and `GNTTABOP_unmap_and_replace` (fact
//! sheet §6.2 ops 1 and 7), one element.
//!
//! As on Xen, each element is two steps: the first removes what was asked
//! and still matches (the host PTE must still map the granted frame with
//! the grant's present and RW bits, XSA-234; a non-zero `dev_bus_addr`
//! must be the full frame address), the second drops the pins and frame
//! references of exactly the kinds actually removed (XSA-224). The
//! caller's TLB is flushed at the end of the hypercall, before it runs again,
//! so no translation through a removed PTE survives into the granter's
//! revoke.

use super::map::{grant_pte, pte_slot, put_frame};
use super::translate::{HostSide, P2mSide, PteSide};
use super::{pin, Grants, MAX_MAPTRACK};
use crate::mm::pte::{table_index, Pte};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::grant_table::{gntmap, status};
use abi::mmu::pte::{PRESENT, RW};
use abi::{DomId, Mfn};

/// What one unmap asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmap {
    /// VA or PTE address of the host mapping (0: leave it).
    pub host_addr: u64,
    /// Frame address of the device mapping (0: leave it).
    pub dev_bus_addr: u64,
    /// `unmap_and_replace`: VA whose PTE moves to `host_addr`.
    pub new_addr: u64,
    /// The handle.
    pub handle: u32,
}

impl Grants<'_> {
    /// Removes (part of) mapping `u.handle` of `ld`; returns a `GNTST_*`.
    pub fn unmap<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, ld: DomId, u: Unmap) -> i16 {
        self.unmap_with(mm, ld, u, &mut PteSide)
    }

    /// [`Grants::unmap`] for a translated (PVH) mapper: `host_addr` names
    /// the guest frame of its p2m grant entry ([`super::translate`]).
    pub fn unmap_translated<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        u: Unmap,
        side: &mut P2mSide<'_, '_, M, H>,
    ) -> i16 {
        self.unmap_with(mm, ld, u, side)
    }

    #[inline(always)]
    fn unmap_with<M: PhysMemory, H: MmHooks, S: HostSide<M, H>>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        ld: DomId,
        u: Unmap,
        side: &mut S,
    ) -> i16 {
        if u.handle as usize >= MAX_MAPTRACK {
            return status::BAD_HANDLE;
        }
        let map = *self.maptrack(ld, u.handle).expect("handle in range");
        if map.flags == 0 {
            return status::BAD_HANDLE;
        }
        let (rd, r) = (map.dom, map.ref_);
        if self.table(rd).is_some() && r >= self.tables[rd.0 as usize].nr_entries() {
            return status::BAD_HANDLE;
        }
        let mfn = self.active(rd, r).mfn;
        let flags = map.flags;
        if u.dev_bus_addr != 0 && flags & gntmap::DEVICE_MAP != 0 && u.dev_bus_addr != mfn.to_maddr() {
            return status::BAD_DEV_ADDR;
        }
        let mut done = 0u32;
        let mut left = flags;
        if u.host_addr != 0 && flags & gntmap::HOST_MAP != 0 {
            if let Err(s) = side.replace(mm, ld, u.host_addr, mfn, u.new_addr, flags) {
                return s;
            }
            left &= !gntmap::HOST_MAP;
            done |= gntmap::HOST_MAP;
        }
        if u.dev_bus_addr != 0 && flags & gntmap::DEVICE_MAP != 0 {
            left &= !gntmap::DEVICE_MAP;
            done |= gntmap::DEVICE_MAP;
        }
        if left & (gntmap::HOST_MAP | gntmap::DEVICE_MAP) == 0 {
            left = 0;
        }
        self.maptrack_mut(ld, u.handle).flags = left;
        if done != 0 {
            mm.hooks.flush_domain_tlb(ld);
            self.complete(mm, rd, r, mfn, done, flags & gntmap::READONLY != 0);
        }
        status::OKAY
    }

    /// Drops the pins and references of the kinds in `done`.
    fn complete<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        rd: DomId,
        r: u32,
        mfn: Mfn,
        done: u32,
        ro: bool,
    ) {
        if done & gntmap::DEVICE_MAP != 0 {
            put_frame(mm, mfn, !ro);
            self.active_mut(rd, r).pin -= if ro { pin::DEVR } else { pin::DEVW };
        }
        if done & gntmap::HOST_MAP != 0 {
            // The PTE's references (the replaced entry's, now gone).
            put_frame(mm, mfn, !ro);
            self.active_mut(rd, r).pin -= if ro { pin::HSTR } else { pin::HSTW };
        }
        self.reduce_status_for_pin(mm, rd, r, ro);
    }
}

/// Replaces the host PTE at `addr`, which must still map `frame` with the
/// grant's present and RW bits (XSA-234), by nothing or (`new_addr`, VA
/// form only) by the PTE stolen from `new_addr`. The references of the
/// grant PTE are left to the caller; a stolen PTE keeps its own.
pub(super) fn replace_host_mapping<M: PhysMemory, H: MmHooks>(
    mm: &mut Mm<'_, M, H>,
    ld: DomId,
    addr: u64,
    frame: Mfn,
    new_addr: u64,
    flags: u32,
) -> Result<(), i16> {
    if flags & gntmap::CONTAINS_PTE != 0 && new_addr != 0 {
        return Err(status::GENERAL_ERROR);
    }
    let mut stolen = Pte(0);
    if new_addr != 0 {
        stolen = steal_linear(mm, ld, new_addr)?;
    }
    let r = (|| {
        let (l1, index) = pte_slot(mm, ld, addr, flags)?;
        let old = Pte(mm.read_entry(l1, index));
        let want = grant_pte(frame, flags, false);
        let matches = old.mfn() == frame && (old.0 ^ want.0) & (PRESENT | RW) == 0;
        if matches {
            mm.write_entry(l1, index, stolen.0);
            // A translation through the grant PTE may be cached until the flush.
            mm.stamp(frame);
        }
        put_frame(mm, l1, false);
        if matches {
            Ok(())
        } else {
            Err(status::GENERAL_ERROR)
        }
    })();
    if r.is_err() && stolen.present() {
        // The stolen entry is gone from `new_addr`; its references go too.
        mm.put_l1_refs(stolen);
    }
    r
}

/// Clears the L1 entry mapping `va` and returns it (its references now
/// belong to the caller).
fn steal_linear<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, ld: DomId, va: u64) -> Result<Pte, i16> {
    let l1 = mm.l1_for_va(ld, va).map_err(|_| status::GENERAL_ERROR)?;
    mm.get_page(l1, ld).map_err(|_| status::GENERAL_ERROR)?;
    let index = table_index(va, 1);
    let old = Pte(mm.read_entry(l1, index));
    mm.write_entry(l1, index, 0);
    if old.present() {
        mm.stamp(old.mfn());
    }
    mm.put_page(l1);
    Ok(old)
}
