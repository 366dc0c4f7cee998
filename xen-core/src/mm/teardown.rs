//! Domain teardown: release every reference a domain holds so that all its
//! frames go back to the allocator.
//!
//! Roots and pins are the only long-lived holders of page-table type
//! references; dropping them devalidates every table (releasing the
//! references its entries held), and dropping the allocation reference of
//! each frame frees it. The work is a scan of the frame table, done in
//! bounded steps so a scheduler can interleave other work.
//!
//! When it finishes the domain is gone: [`Mm::domain`] no longer finds it,
//! so no hypercall can add memory to it, map its frames or name it again
//! (`ESRCH`, as Xen answers for a domain that does not exist). Frames other
//! domains still reference stay owned by the slot until they go.

use super::model::{Mm, MmHooks};
use super::PhysMemory;
use abi::{DomId, Mfn};

/// Progress of a teardown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Teardown {
    dom: DomId,
    phase: u8,
    cursor: u64,
    /// Frames the domain owned when teardown started.
    pub frames_at_start: u64,
}

/// What a finished teardown left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TeardownReport {
    /// Frames returned to the allocator.
    pub frames_freed: u64,
    /// Frames still alive because another domain references them.
    pub still_referenced: u64,
}

impl Teardown {
    /// Starts tearing down `dom`.
    pub fn new<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, dom: DomId) -> Teardown {
        Teardown { dom, phase: 0, cursor: 0, frames_at_start: mm.domain(dom).map_or(0, |d| d.tot_pages) }
    }

    /// Does up to `budget` frames of work; returns the report when finished.
    pub fn step<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, budget: u64) -> Option<TeardownReport> {
        if self.phase == 0 {
            // Preempted validations are abandoned first.
            for i in 0..mm.frames.len() as u64 {
                let info = *mm.info(Mfn(i));
                if info.owner() == self.dom && info.count() > 0 && info.partial_root() {
                    mm.abort_partial(Mfn(i));
                }
            }
            let d = mm.domain_mut(self.dom);
            let roots = [d.kernel_root.take(), d.user_root.take()];
            let gdt = (d.gdt, d.gdt_frames);
            d.gdt_frames = 0;
            d.gdt_entries = 0;
            for root in roots.into_iter().flatten() {
                mm.put_page_and_type(root);
            }
            for &mfn in &gdt.0[..gdt.1 as usize] {
                mm.put_page_and_type(mfn);
            }
            mm.destroy_ldt(self.dom);
            self.phase = 1;
        }
        let n = mm.frames.len() as u64;
        let end = (self.cursor + budget).min(n);
        while self.cursor < end {
            let mfn = Mfn(self.cursor);
            let info = *mm.info(mfn);
            if info.owner() == self.dom && info.count() > 0 {
                if self.phase == 1 && info.pinned() {
                    mm.info_mut(mfn).set_pinned(false);
                    mm.put_page_and_type(mfn);
                } else if self.phase == 2 && info.allocated() {
                    mm.info_mut(mfn).set_allocated(false);
                    mm.put_page(mfn);
                }
            }
            self.cursor += 1;
        }
        if self.cursor < n {
            return None;
        }
        if self.phase == 1 {
            // Devalidations deferred by the unpins above are finished now.
            let _ = mm.process_deferred(self.dom, false);
            self.phase = 2;
            self.cursor = 0;
            return None;
        }
        let left = mm.domain(self.dom).map_or(0, |d| d.tot_pages);
        mm.domain_mut(self.dom).exists = false;
        Some(TeardownReport { frames_freed: self.frames_at_start - left, still_referenced: left })
    }

    /// Runs to completion.
    pub fn run<M: PhysMemory, H: MmHooks>(mut self, mm: &mut Mm<'_, M, H>) -> TeardownReport {
        loop {
            if let Some(r) = self.step(mm, 4096) {
                return r;
            }
        }
    }
}
