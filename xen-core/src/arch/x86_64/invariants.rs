//! The `check=N` debug option: the memory model's invariant checker
//! (`mm::check`) runs every N SYSCALL hypercalls and after every domain's
//! teardown. A violation is logged with the hypercall count, crashes the
//! domain that made the call and fails the run; at the end the frames not
//! returned are counted and, if any, fail the run too.
//!
//! Off by default, and then free: the hypercall fast path is unchanged.
//! On, the `PENDING_CHECK` bit sends every SYSCALL hypercall through the
//! slow path, where it is counted. The checker allocates its recount
//! vectors on the heap, which `setup` enlarges for it.

use super::hooks::PENDING_CHECK;
use crate::mm::{MmHooks, PhysMemory};

/// The checker's schedule and results.
pub struct DebugCheck {
    /// Period in hypercalls (0: off).
    every: u64,
    /// Hypercalls until the next check.
    left: u64,
    /// Hypercalls counted.
    pub hypercalls: u64,
    /// Checks run.
    pub runs: u64,
    /// Checks that found a violation.
    pub violations: u64,
}

impl DebugCheck {
    /// A schedule of one check every `every` hypercalls (0: never).
    pub const fn new(every: u64) -> DebugCheck {
        DebugCheck { every, left: every, hypercalls: 0, runs: 0, violations: 0 }
    }

    /// Whether the option is on.
    pub const fn enabled(&self) -> bool {
        self.every != 0
    }

    /// Makes the next SYSCALL hypercall take the slow path (when on).
    #[inline(always)]
    pub fn arm(&self, pending: &mut u8) {
        if self.enabled() {
            *pending |= PENDING_CHECK;
        }
    }

    /// Counts one hypercall; true when a check is due.
    pub fn tick(&mut self) -> bool {
        self.hypercalls += 1;
        self.left -= 1;
        if self.left == 0 {
            self.left = self.every;
            return true;
        }
        false
    }

    /// Runs the checker; logs a violation (`what` says when) and returns
    /// false on one.
    pub fn run<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &crate::mm::Mm<'_, M, H>,
        grants: &crate::grant::Grants<'_>,
        what: core::fmt::Arguments<'_>,
    ) -> bool {
        self.runs += 1;
        let fifo = super::events::events().frame_refs();
        let both = Both(fifo, super::svm::pvh::P2mHeld::new(mm.m2p));
        let held = crate::console::WithRings(&both, super::console_rings::rings());
        match crate::grant::check::check_all_with(mm, grants, &held) {
            Ok(()) => true,
            Err(msg) => {
                self.violations += 1;
                log::error!("check: invariant violated {what}: {msg}");
                false
            }
        }
    }
}

/// Two holders of references outside the page tables: the event core's
/// frames and the live PVH domains' p2m entries.
struct Both<'m>(crate::event::FifoRefs, super::svm::pvh::P2mHeld<'m>);

impl crate::mm::check::ExternalRefs for Both<'_> {
    fn refs(&self, mfn: abi::Mfn) -> (u64, u64) {
        let (a, b) = (self.0.refs(mfn), self.1.refs(mfn));
        (a.0 + b.0, a.1 + b.1)
    }
    fn foreign_map_allowed(&self, dom: abi::DomId, mfn: abi::Mfn) -> bool {
        self.0.foreign_map_allowed(dom, mfn)
    }
}
