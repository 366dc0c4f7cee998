//! The balloon: `increase_reservation`, `decrease_reservation` and
//! `populate_physmap` (fact sheet §6) on the page-type model.
//!
//! The result counts extents done, including `start`; processing stops at
//! the first failing extent, and an extent that failed half-way is neither
//! counted nor rolled back. Between two extents the work may be preempted
//! ([`MmHooks::preempt_batch`]): the hypercall then continues from `done`
//! (Xen encodes it in the command, `cmd >> MEMOP_EXTENT_SHIFT`). `max_pages` bounds what a domain owns.
//! Decreasing drops only the allocation reference: a frame that is still
//! mapped, pinned or a root stays alive (and counted) until its last
//! reference goes, and nothing is unpinned implicitly (XSA-252).

use super::model::{Mm, MmHooks};
use super::PhysMemory;
use abi::{DomId, Errno, Mfn};

/// Largest extent order a domain may use (2 MiB).
pub const MAX_ORDER: u32 = 9;
/// Most extents one call may name (`UINT_MAX >> MEMOP_EXTENT_SHIFT`).
pub const MAX_NR_EXTENTS: u64 = (1 << 26) - 1;

/// The guest's array of frame numbers (`extent_start`). Every element
/// access is checked on its own (XSA-212).
pub trait ExtentArray {
    /// Element `i`.
    fn read(&mut self, i: u64) -> Result<u64, Errno>;
    /// Sets element `i`.
    fn write(&mut self, i: u64, value: u64) -> Result<(), Errno>;
}

/// A reservation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Extents named.
    pub nr_extents: u64,
    /// Each extent is 2^order frames.
    pub extent_order: u32,
    /// Extents already done (continuation progress from the command).
    pub start: u64,
}

/// How far a reservation got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtentsDone {
    /// Extents done, counting `start`.
    pub done: u64,
    /// Stopped by preemption, not by a failure: continue from `done`.
    pub preempted: bool,
}

impl ExtentsDone {
    const fn stopped(done: u64) -> ExtentsDone {
        ExtentsDone { done, preempted: false }
    }
}

impl Reservation {
    /// Whether the request is acceptable at all; if not, nothing is done
    /// and the call returns `start`.
    pub fn acceptable(&self) -> bool {
        self.nr_extents <= MAX_NR_EXTENTS && self.start < self.nr_extents && self.extent_order <= MAX_ORDER
    }
}

impl<M: PhysMemory, H: MmHooks> Mm<'_, M, H> {
    fn fits(&self, dom: DomId, pages: u64) -> bool {
        self.domain(dom).is_some_and(|d| d.tot_pages + pages <= d.max_pages)
    }

    /// Whether to stop before extent `i` of `r` (never before the first one
    /// of a call, so every call makes progress).
    fn preempt_extent(&mut self, r: &Reservation, i: u64) -> bool {
        i != r.start && self.hooks.preempt_batch(1 << r.extent_order)
    }

    /// [`Self::preempt_extent`] for an order-0 extent, the cost a constant.
    #[inline(always)]
    fn preempt_page(&mut self, r: &Reservation, i: u64) -> bool {
        i != r.start && self.hooks.preempt_batch(1)
    }

    fn take_extent(&mut self, dom: DomId, order: u32) -> Option<Mfn> {
        if !self.fits(dom, 1 << order) {
            return None;
        }
        let first = self.hooks.alloc_extent(order)?;
        for j in 0..1u64 << order {
            self.assign_frame(Mfn(first.0 + j), dom);
        }
        Some(first)
    }

    /// Gives `dom` new extents; writes each extent's first MFN back when an
    /// array is given. Returns the extents done, counting `r.start`.
    pub fn increase_reservation(
        &mut self,
        dom: DomId,
        r: Reservation,
        mut array: Option<&mut dyn ExtentArray>,
    ) -> ExtentsDone {
        if !r.acceptable() {
            return ExtentsDone::stopped(r.start);
        }
        for i in r.start..r.nr_extents {
            if self.preempt_extent(&r, i) {
                return ExtentsDone { done: i, preempted: true };
            }
            let Some(first) = self.take_extent(dom, r.extent_order) else { return ExtentsDone::stopped(i) };
            if let Some(a) = array.as_deref_mut() {
                if a.write(i, first.0).is_err() {
                    return ExtentsDone::stopped(i);
                }
            }
        }
        ExtentsDone::stopped(r.nr_extents)
    }

    /// For each guest frame number in the array, gives `dom` an extent,
    /// records it in the M2P and writes its first MFN back.
    pub fn populate_physmap<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        if !r.acceptable() {
            return ExtentsDone::stopped(r.start);
        }
        if r.extent_order == 0 {
            return self.populate_pages(dom, r, array);
        }
        self.populate_extents(dom, r, array)
    }

    /// [`Mm::populate_physmap`] for extents of any order (the general loop;
    /// host tests compare it with [`Mm::populate_pages`] at order 0).
    pub(crate) fn populate_extents<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        for i in r.start..r.nr_extents {
            if self.preempt_extent(&r, i) {
                return ExtentsDone { done: i, preempted: true };
            }
            let Ok(gpfn) = array.read(i) else { return ExtentsDone::stopped(i) };
            let Some(first) = self.take_extent(dom, r.extent_order) else { return ExtentsDone::stopped(i) };
            for j in 0..1u64 << r.extent_order {
                self.m2p[(first.0 + j) as usize] = gpfn.wrapping_add(j);
            }
            if array.write(i, first.0).is_err() {
                return ExtentsDone::stopped(i);
            }
        }
        ExtentsDone::stopped(r.nr_extents)
    }

    /// Takes the extents named by MFN in the array away from `dom`.
    pub fn decrease_reservation<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        if !r.acceptable() {
            return ExtentsDone::stopped(r.start);
        }
        if r.extent_order == 0 {
            return self.decrease_pages(dom, r, array);
        }
        self.decrease_extents(dom, r, array)
    }

    /// [`Mm::decrease_reservation`] for extents of any order (the general
    /// loop; host tests compare it with [`Mm::decrease_pages`] at order 0).
    pub(crate) fn decrease_extents<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        for i in r.start..r.nr_extents {
            if self.preempt_extent(&r, i) {
                return ExtentsDone { done: i, preempted: true };
            }
            let Ok(first) = array.read(i) else { return ExtentsDone::stopped(i) };
            for j in 0..1u64 << r.extent_order {
                let Some(mfn) = first.checked_add(j) else { return ExtentsDone::stopped(i) };
                if self.release_frame(dom, Mfn(mfn)).is_err() {
                    return ExtentsDone::stopped(i);
                }
            }
        }
        ExtentsDone::stopped(r.nr_extents)
    }

    /// [`Mm::decrease_reservation`] for single pages (order 0, the
    /// balloon's usual size): the same checks per element, without the
    /// per-extent inner loop, and with the release (checks and free)
    /// inlined.
    #[inline(never)]
    pub(crate) fn decrease_pages<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        debug_assert_eq!(r.extent_order, 0);
        for i in r.start..r.nr_extents {
            if self.preempt_page(&r, i) {
                return ExtentsDone { done: i, preempted: true };
            }
            let Ok(mfn) = array.read(i) else { return ExtentsDone::stopped(i) };
            if self.release_frame(dom, Mfn(mfn)).is_err() {
                return ExtentsDone::stopped(i);
            }
        }
        ExtentsDone::stopped(r.nr_extents)
    }

    /// [`Mm::populate_physmap`] for single pages (order 0): the same steps
    /// per element in the same order (read, `max_pages`, allocate, assign,
    /// M2P, write back), without the per-extent inner loops.
    #[inline(never)]
    pub(crate) fn populate_pages<A: ExtentArray + ?Sized>(
        &mut self,
        dom: DomId,
        r: Reservation,
        array: &mut A,
    ) -> ExtentsDone {
        debug_assert_eq!(r.extent_order, 0);
        for i in r.start..r.nr_extents {
            if self.preempt_page(&r, i) {
                return ExtentsDone { done: i, preempted: true };
            }
            let Ok(gpfn) = array.read(i) else { return ExtentsDone::stopped(i) };
            if !self.fits(dom, 1) {
                return ExtentsDone::stopped(i);
            }
            let Some(mfn) = self.hooks.alloc_extent(0) else { return ExtentsDone::stopped(i) };
            self.assign_frame(mfn, dom);
            self.m2p[mfn.0 as usize] = gpfn;
            if array.write(i, mfn.0).is_err() {
                return ExtentsDone::stopped(i);
            }
        }
        ExtentsDone::stopped(r.nr_extents)
    }
}
