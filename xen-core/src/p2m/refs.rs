//! p2m changes that hold frame-table references (the rule in
//! [`super`]'s header), through the direct-paging model's frame table.
//!
//! Decode → check → perform: every check (range, alignment, ownership,
//! the references themselves) happens before the map changes, so a refused
//! change leaves the map and every count as they were.

use super::entry::{Order, P2mEntry, P2mType, Rights};
use super::table::P2m;
use crate::mm::reservation::{ExtentArray, Reservation};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::{DomId, Errno, Gfn, Mfn};

/// The M2P value of a frame no guest frame maps.
const M2P_INVALID: u64 = u64::MAX;

/// Receives the first frame of one allocated extent.
struct OneExtent(Option<Mfn>);

impl ExtentArray for OneExtent {
    fn read(&mut self, _: u64) -> Result<u64, Errno> {
        Err(Errno::EFAULT)
    }
    fn write(&mut self, _: u64, value: u64) -> Result<(), Errno> {
        self.0 = Some(Mfn(value));
        Ok(())
    }
}

impl P2m<'_> {
    /// The domain that a general reference on an entry's frame is taken
    /// for: the map's owner for RAM, the frame's owner for a grant.
    fn ref_owner<M: PhysMemory, H: MmHooks>(&self, mm: &Mm<'_, M, H>, e: P2mEntry) -> Result<DomId, Errno> {
        match e.ty {
            P2mType::Ram => Ok(self.owner),
            P2mType::Grant => {
                if !mm.is_ram(e.mfn) {
                    return Err(Errno::EINVAL);
                }
                let owner = mm.info(e.mfn).owner();
                // A grant names another ordinary domain's frame.
                if owner == self.owner || !owner.is_ordinary() || !mm.info(e.mfn).allocated() {
                    return Err(Errno::EINVAL);
                }
                Ok(owner)
            }
            P2mType::Mmio => Err(Errno::EINVAL),
        }
    }

    /// Takes the references a new entry over `frames` frames needs; on a
    /// failure none is left taken.
    fn take_refs<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &mut Mm<'_, M, H>,
        e: P2mEntry,
        frames: u64,
    ) -> Result<(), Errno> {
        if e.ty == P2mType::Mmio {
            // Device memory: for a domain with I/O resources only, and never RAM.
            let io = mm.domain(self.owner).is_some_and(|d| d.io_caps);
            if !io {
                return Err(Errno::EPERM);
            }
            return if (0..frames).all(|i| mm.is_mmio(Mfn(e.mfn.0 + i))) { Ok(()) } else { Err(Errno::EINVAL) };
        }
        let owner = self.ref_owner(mm, e)?;
        for i in 0..frames {
            if mm.get_page(Mfn(e.mfn.0 + i), owner).is_err() {
                for j in 0..i {
                    mm.put_page(Mfn(e.mfn.0 + j));
                }
                return Err(Errno::EINVAL);
            }
        }
        Ok(())
    }

    /// Drops an old entry's reference, after the entry is gone: stamped
    /// first, since the hardware may still cache a translation through it.
    fn drop_ref<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, gfn: Gfn, e: P2mEntry) {
        if e.ty == P2mType::Ram && mm.m2p.get(e.mfn.0 as usize) == Some(&gfn.0) {
            mm.m2p[e.mfn.0 as usize] = M2P_INVALID;
        }
        if e.ty.holds_reference() {
            mm.stamp(e.mfn);
            mm.put_page(e.mfn);
        }
    }

    /// Sets `[gfn, gfn + order)` to `entry` (absent: removes it), taking
    /// the new entry's references before the change and dropping the old
    /// entries' after it.
    ///
    /// # Errors
    /// `EINVAL`: out of the map, unaligned 2 MiB guest or machine frame, a
    /// RAM frame the domain does not own, a grant of a frame that is not
    /// another domain's, an MMIO entry over RAM; `EPERM`: MMIO for a domain
    /// without I/O resources.
    pub fn set_entry<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        gfn: Gfn,
        order: Order,
        entry: Option<P2mEntry>,
    ) -> Result<(), Errno> {
        // Check.
        if !self.in_range(gfn, order.frames()) || !order.aligned(gfn.0) {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = entry {
            if !order.aligned(e.mfn.0) {
                return Err(Errno::EINVAL);
            }
            self.take_refs(mm, e, order.frames())?;
        }
        // Perform, a frame at a time (no 512-entry copy on the stack): each
        // old entry is read, replaced, and only then loses its reference.
        for i in 0..order.frames() {
            let g = Gfn(gfn.0 + i);
            let old = self.get(g).map(|(e, _)| e);
            let new = entry.map(|e| e.nth(i));
            self.store(g, new);
            if let Some(m) = new.filter(|e| e.ty == P2mType::Ram).and_then(|e| mm.m2p.get_mut(e.mfn.0 as usize)) {
                *m = g.0;
            }
            if let Some(e) = old {
                Self::drop_ref(mm, g, e);
            }
        }
        if order == Order::Page2M && entry.is_some() {
            self.set_super(gfn);
        }
        Ok(())
    }

    /// `populate_physmap` for a translated domain: new RAM from the
    /// allocator (within `max_pages`) at `[gfn, gfn + order)`, writable and
    /// executable. A 2 MiB extent becomes one 2 MiB entry when the frames
    /// are 512-aligned, else 512 4 KiB ones. What was mapped there goes, as
    /// on Xen (an old RAM frame stays the domain's until teardown).
    ///
    /// # Errors
    /// `EINVAL`: out of the map or unaligned, or a grant or MMIO entry in the
    /// range (Xen refuses to replace those this way); `ENOMEM`: no memory
    /// or `max_pages` reached.
    pub fn populate<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        gfn: Gfn,
        order: Order,
    ) -> Result<Mfn, Errno> {
        if !self.in_range(gfn, order.frames()) || !order.aligned(gfn.0) {
            return Err(Errno::EINVAL);
        }
        if (0..order.frames()).any(|i| self.get(Gfn(gfn.0 + i)).is_some_and(|(e, _)| e.ty != P2mType::Ram)) {
            return Err(Errno::EINVAL);
        }
        let mut got = OneExtent(None);
        let r = Reservation { nr_extents: 1, extent_order: order.extent_order(), start: 0 };
        mm.increase_reservation(self.owner, r, Some(&mut got));
        let first = got.0.ok_or(Errno::ENOMEM)?;
        let e = P2mEntry { mfn: first, ty: P2mType::Ram, rights: Rights::RWX };
        let result = if order == Order::Page2M && !Order::Page2M.aligned(first.0) {
            (0..order.frames()).try_for_each(|i| self.set_entry(mm, Gfn(gfn.0 + i), Order::Page4K, Some(e.nth(i))))
        } else {
            self.set_entry(mm, gfn, order, Some(e))
        };
        // Cannot fail on checked input; if it did, the frames go back.
        if result.is_err() {
            for i in 0..order.frames() {
                let _ = mm.release_frame(self.owner, Mfn(first.0 + i));
            }
        }
        result.map(|()| first)
    }

    /// `decrease_reservation` for a translated domain, one guest frame:
    /// unmaps it and gives its frame back (Xen's `guest_remove_page`). A
    /// frame something else still references stays alive until that goes.
    ///
    /// # Errors
    /// `EINVAL` out of the map; `ENOENT` if `gfn` is not RAM of the domain.
    pub fn remove_ram<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, gfn: Gfn) -> Result<(), Errno> {
        if !self.in_range(gfn, 1) {
            return Err(Errno::EINVAL);
        }
        let Some((e, _)) = self.get(gfn).filter(|(e, _)| e.ty == P2mType::Ram) else { return Err(Errno::ENOENT) };
        self.set_entry(mm, gfn, Order::Page4K, None)?;
        mm.release_frame(self.owner, e.mfn)
    }

    /// `remove_ram` over a whole extent; a 2 MiB entry covering it goes in
    /// one change. Stops at the first frame that fails.
    ///
    /// # Errors
    /// As [`P2m::remove_ram`]; `EINVAL` for an unaligned extent.
    pub fn decrease<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        gfn: Gfn,
        order: Order,
    ) -> Result<(), Errno> {
        if !self.in_range(gfn, order.frames()) || !order.aligned(gfn.0) {
            return Err(Errno::EINVAL);
        }
        match self.get(gfn) {
            Some((e, Order::Page2M)) if order == Order::Page2M && e.ty == P2mType::Ram => {
                self.set_entry(mm, gfn, order, None)?;
                (0..order.frames()).try_for_each(|i| mm.release_frame(self.owner, Mfn(e.mfn.0 + i)))
            }
            _ => (0..order.frames()).try_for_each(|i| self.remove_ram(mm, Gfn(gfn.0 + i))),
        }
    }

    /// Changes the rights of one guest frame (splitting a 2 MiB entry).
    ///
    /// # Errors
    /// `ENOENT` if nothing is mapped there.
    pub fn set_rights<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        gfn: Gfn,
        rights: Rights,
    ) -> Result<(), Errno> {
        let Some((e, _)) = self.get(gfn) else { return Err(Errno::ENOENT) };
        self.set_entry(mm, gfn, Order::Page4K, Some(P2mEntry { rights, ..e }))
    }

    /// Removes the 4 KiB grant entry at `gfn` (the grant core's unmap) and
    /// hands its general reference to the caller, which drops it once
    /// nothing can translate through the entry any more. The frame is
    /// stamped, as [`P2m::set_entry`] does for an entry it removes.
    /// `None` (nothing changed): out of the map, or no grant entry there.
    pub fn take_grant<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, gfn: Gfn) -> Option<P2mEntry> {
        if !self.in_range(gfn, 1) {
            return None;
        }
        let (e, _) = self.get(gfn).filter(|(e, _)| e.ty == P2mType::Grant)?;
        self.store(gfn, None);
        mm.stamp(e.mfn);
        Some(e)
    }

    /// Removes every entry (domain teardown), dropping their references.
    /// The domain's RAM keeps its allocation reference: the memory model's
    /// teardown releases it.
    pub fn clear<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>) {
        for g in 0..self.max_gfn().0 {
            if self.get(Gfn(g)).is_some() {
                let _ = self.set_entry(mm, Gfn(g), Order::Page4K, None);
            }
        }
    }

    /// General references the entries hold on `mfn` (for the invariant
    /// checker, [`crate::mm::check::ExternalRefs`]).
    pub fn refs_on(&self, mfn: Mfn) -> u64 {
        self.entries().filter(|(_, e)| e.ty.holds_reference() && e.mfn == mfn).count() as u64
    }
}
