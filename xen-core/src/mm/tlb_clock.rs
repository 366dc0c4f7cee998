//! The TLB flush clock (fact sheet §10): knowing, per frame, whether a
//! translation of it may still be cached, without walking anything.
//!
//! Removing an entry does not remove the translation the CPU cached from
//! it. So every place that drops a reference through which a translation
//! could have been cached (an L1 entry mapping the frame, read-only or
//! writable; an upper entry referencing it, which the paging-structure
//! caches may hold; a self map) stamps the frame with the clock. The clock
//! advances on every *full* flush: one that removes every guest
//! translation, global ones included (guest user mappings are global, so a
//! CR3 reload does not count, and neither does INVLPG, which removes one
//! address). The arch layer reports each such flush ([`super::Mm::tlb_flushed`]).
//!
//! A frame needs a flush first exactly when no full flush happened since its
//! stamp. That is checked with one compare:
//! * when a frame at type count zero takes a *different* type (rules 1 and
//!   3 of §10: writable → table or descriptor page, and back, which matters
//!   for cached upper entries that still lead to a former table);
//! * when its last general reference goes, before it returns to the
//!   allocator (rule 2). The allocator threads its free list through the
//!   free frames, so a stale writable translation of a free frame would let
//!   the guest steer later allocations; flushing here also covers the
//!   frame's reallocation, to anyone, itself included.
//!
//! Why this shape: there is one CPU now, so "a full flush since the stamp"
//! is "the clock moved since the stamp", and the stamp can be the clock's
//! low 16 bits (the per-frame metadata stays 16 bytes). Wrapping can only
//! make an old stamp look current, which costs a needless flush, never a
//! missed one: a frame stamped at the current time always matches. With
//! several CPUs, each CPU will record the clock at its last full flush; a
//! frame needs CPU *c* flushed when *c*'s time is not after the stamp
//! (compared as distances from now, in 16 bits, with every CPU made to
//! flush at least once per 2^15 ticks), and the flush goes only to those
//! CPUs, as Xen's `tlbflush_filter` does. The stamps and the call sites
//! stay as they are.

/// The flush clock of the one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbClock {
    time: u64,
}

impl Default for TlbClock {
    fn default() -> Self {
        TlbClock::new()
    }
}

impl TlbClock {
    /// A clock just after a flush. Frames never mapped carry stamp 0, which
    /// is in the past.
    pub const fn new() -> TlbClock {
        TlbClock { time: 1 }
    }

    /// Full flushes so far, plus one.
    pub const fn time(&self) -> u64 {
        self.time
    }

    /// The stamp for a translation dropped now.
    pub const fn stamp(&self) -> u16 {
        self.time as u16
    }

    /// Whether a translation dropped at `stamp` may still be cached.
    pub const fn needs_flush(&self, stamp: u16) -> bool {
        stamp == self.time as u16
    }

    /// A full flush has just been done.
    pub fn flushed(&mut self) {
        self.time += 1;
    }

    /// Sets the clock (tests: canonical states of the exhaustive search).
    #[cfg(test)]
    pub fn set_time(&mut self, time: u64) {
        self.time = time;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_needs_a_flush_until_the_next_full_flush() {
        let mut c = TlbClock::new();
        assert!(!c.needs_flush(0), "never-mapped frames need no flush");
        let s = c.stamp();
        assert!(c.needs_flush(s));
        c.flushed();
        assert!(!c.needs_flush(s));
        assert!(c.needs_flush(c.stamp()));
    }

    #[test]
    fn wrapping_can_only_ask_for_a_needless_flush() {
        let mut c = TlbClock::new();
        let old = c.stamp();
        for _ in 0..65536 {
            c.flushed();
        }
        // 65536 flushes later the old stamp looks current: a spare flush.
        assert!(c.needs_flush(old));
        assert!(c.needs_flush(c.stamp()));
    }
}
