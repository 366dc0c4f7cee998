//! Xen's lazy idle switch, as a pure policy: whether switching PV domain
//! *d* in may keep the page tables and the TLB the CPU already holds
//! instead of reloading CR3 and flushing every translation.
//!
//! It may when *d* blocked, the CPU idled (the hypervisor alone ran), and
//! *d* is the next to run: its root is still in CR3, and the TLB holds
//! nothing but *d*'s own translations and the hypervisor's. Xen's idle
//! vCPU borrows the blocked vCPU's page tables for the same reason, so a
//! wake-up after a short block pays no CR3 load; under QEMU every CR3 or
//! CR4.PGE write empties its whole soft TLB, which the guest then refills
//! page by page (the plain-TCG view of the timer row).
//!
//! Why that keeps TLB coherence (platform §10):
//! * Nothing but *d* ran since its last full switch in ([`Resident::loaded`]),
//!   so no other domain's translation can be cached: any other domain
//!   switched in, or a PVH slice, makes the next switch a full one.
//! * Frames: the flush clock does not move, since no flush happened. A
//!   translation *d* dropped before it blocked keeps its stamp "current",
//!   so whoever frees or retypes that frame while *d* sleeps (a teardown
//!   in the idle loop, a balloon or grant unmap by a domain that runs
//!   later) flushes first, exactly as if *d* were still running.
//! * Work *d*'s last entry asked of the switch: the exit that switches
//!   out drops the pending flush, root, GDT, FPU and debug-register work
//!   because the switch in does all of it. Such work dropped
//!   ([`Resident::left`]), or pending when the switch comes, forces the
//!   full switch.
//! * The root: kept only when CR3 holds exactly the root *d* returns to
//!   (kernel or user), so a new baseptr, or the hypervisor's own root
//!   loaded by a teardown, is loaded again.
//!
//! Everything else a switch does (GDT, FPU, debug registers, selectors,
//! time) is done either way.

/// The PV domain whose page tables and TLB contents the CPU holds, if it
/// is the only one they can be from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resident {
    slot: Option<usize>,
}

impl Resident {
    /// No domain yet: the first switch is a full one.
    pub const fn none() -> Resident {
        Resident { slot: None }
    }

    /// Domain `slot` was switched in: its root loaded and every
    /// translation flushed, or kept by [`Self::may_keep`].
    pub fn loaded(&mut self, slot: usize) {
        self.slot = Some(slot);
    }

    /// Something other than the resident domain used the CPU's page tables
    /// or TLB (a PVH slice, the hypervisor's own root), or changed what a
    /// switch must load: the next switch is a full one.
    pub fn forget(&mut self) {
        self.slot = None;
    }

    /// The resident domain leaves the CPU; `dropped_work` is whether its
    /// exit dropped work (flush, root, GDT, FPU, debug registers) that
    /// only a full switch in would do.
    pub fn left(&mut self, dropped_work: bool) {
        if dropped_work {
            self.forget();
        }
    }

    /// Whether domain `slot`, returning to root `root`, may be switched
    /// in without a CR3 load or a flush: it is the resident domain, CR3
    /// (`cr3`) still holds that root, and no work that only a full switch
    /// does is pending (`pending_work`).
    pub fn may_keep(&self, slot: usize, cr3: u64, root: u64, pending_work: bool) -> bool {
        self.slot == Some(slot) && cr3 == root && root != 0 && !pending_work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: u64 = 0x1234_5000;

    #[test]
    fn the_same_domain_back_after_idle_keeps_its_root() {
        let mut r = Resident::none();
        r.loaded(2);
        r.left(false);
        assert!(r.may_keep(2, ROOT, ROOT, false));
    }

    #[test]
    fn the_first_switch_is_always_full() {
        assert!(!Resident::none().may_keep(0, ROOT, ROOT, false));
        assert!(!Resident::default().may_keep(0, ROOT, ROOT, false));
    }

    #[test]
    fn another_domain_switched_in_makes_the_next_switch_full() {
        let mut r = Resident::none();
        r.loaded(0);
        r.left(false);
        r.loaded(1);
        r.left(false);
        // Domain 1 ran on the CPU: its translations may be cached.
        assert!(!r.may_keep(0, ROOT, ROOT, false));
        assert!(r.may_keep(1, ROOT, ROOT, false));
    }

    #[test]
    fn work_dropped_at_the_switch_out_forces_a_full_switch() {
        let mut r = Resident::none();
        r.loaded(0);
        // A flush (or new root, GDT, ...) was asked for, then the domain
        // blocked: the exit left it to the switch in.
        r.left(true);
        assert!(!r.may_keep(0, ROOT, ROOT, false));
    }

    #[test]
    fn work_pending_at_the_switch_in_forces_a_full_switch() {
        let mut r = Resident::none();
        r.loaded(0);
        r.left(false);
        assert!(!r.may_keep(0, ROOT, ROOT, true));
    }

    #[test]
    fn a_different_root_in_cr3_is_loaded_again() {
        let mut r = Resident::none();
        r.loaded(0);
        r.left(false);
        // A new baseptr, the other mode's root, or the hypervisor's own.
        assert!(!r.may_keep(0, 0x9999_0000, ROOT, false));
        assert!(!r.may_keep(0, 0, 0, false), "a domain without a root is never kept");
    }

    #[test]
    fn forgetting_makes_the_next_switch_full() {
        let mut r = Resident::none();
        r.loaded(3);
        r.forget();
        assert!(!r.may_keep(3, ROOT, ROOT, false));
        r.loaded(3);
        assert!(r.may_keep(3, ROOT, ROOT, false));
    }
}
