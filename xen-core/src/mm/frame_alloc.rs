//! The machine-frame allocator, and the scrub state of every free frame.
//!
//! It starts from the usable RAM ranges of the boot memory map minus every
//! reserved range (the first MiB, the hypervisor image, the multiboot2
//! modules and boot information). Fresh frames are handed out in ascending
//! order from those ranges; freed frames go onto intrusive free lists
//! threaded through the frames themselves, so the allocator needs no
//! metadata of its own and allocation is O(1) with no heap.
//!
//! Scrubbing happens when the CPU has nothing else to do (the idle loop,
//! and the TSC calibration's PIT wait at boot), not on the allocation path:
//! [`FrameAllocator::scrub_some`] zeroes freed frames (the *dirty* list,
//! moving them to the *clean* list) and then the never-used frames at the
//! front of each range (each range's scrubbed prefix grows). The guarantee
//! that no frame carries data between domains is kept by
//! [`FrameAllocator::alloc_zeroed`], the allocation every frame a domain
//! gets comes from: it hands out a clean frame when there is one, and
//! otherwise scrubs the frame before handing it out. A clean frame on the
//! list is zero except its first word (the link), which is cleared when it
//! is taken.
//!
//! Invariants: a frame is in at most one of {a free range, the dirty list,
//! the clean list, handed out}; a reserved frame is never in a free range;
//! every frame on the clean list and in a range's scrubbed prefix is zero
//! (but the clean list's links).

use super::{PhysAddr, PhysMemory, PhysRange};
use crate::util::FixedVec;
use abi::Mfn;

/// Maximum number of disjoint free ranges tracked.
pub const MAX_RANGES: usize = 64;

/// The first MiB of RAM holds firmware structures and is never handed out.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// A half-open range of frames `[start, end)`, of which `[start, clean)`
/// has been scrubbed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FrameSpan {
    start: u64,
    end: u64,
    clean: u64,
}

/// Why the allocator could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameAllocError {
    /// The memory map is too fragmented for [`MAX_RANGES`] ranges.
    TooFragmented,
    /// No usable frame is left after the reserved ranges.
    NoUsableMemory,
}

/// Hands out machine frames. See the module documentation.
#[derive(Debug)]
pub struct FrameAllocator {
    spans: FixedVec<FrameSpan, MAX_RANGES>,
    /// Freed frames not scrubbed yet: the head's number, or [`LIST_END`]
    /// (a sentinel, not an `Option`: a free is one store and one move).
    dirty: u64,
    /// Freed frames scrubbed since (zero but their link word); as `dirty`.
    clean: u64,
    free_frames: u64,
    total_frames: u64,
}

/// Sentinel stored in the last frame of a free list, and the head of an
/// empty one (no frame has this number).
const LIST_END: u64 = u64::MAX;

impl FrameAllocator {
    /// Builds the allocator over `usable` minus `reserved` (and minus the
    /// first MiB). Partial frames at range edges are left out. No frame
    /// counts as scrubbed yet: RAM holds whatever firmware and loader left.
    pub fn new(usable: &[PhysRange], reserved: &[PhysRange]) -> Result<Self, FrameAllocError> {
        let mut spans: FixedVec<FrameSpan, MAX_RANGES> = FixedVec::new();
        for range in usable {
            let (first, end) = range.frames_inside();
            let first = first.0.max(LOW_MEMORY_END / abi::PAGE_SIZE);
            if first < end.0 {
                insert_span(&mut spans, FrameSpan { start: first, end: end.0, clean: first })?;
            }
        }
        for range in reserved {
            let (first, end) = range.frames_touched();
            remove_span(&mut spans, FrameSpan { start: first.0, end: end.0, clean: first.0 })?;
        }
        for s in spans.as_mut_slice() {
            s.clean = s.start;
        }
        let total: u64 = spans.as_slice().iter().map(|s| s.end - s.start).sum();
        if total == 0 {
            return Err(FrameAllocError::NoUsableMemory);
        }
        Ok(FrameAllocator { spans, dirty: LIST_END, clean: LIST_END, free_frames: total, total_frames: total })
    }

    /// Takes one frame for the hypervisor's own use. Its contents are
    /// whatever was there before (freed frames not scrubbed yet are taken
    /// first, so scrubbed ones stay for domains): a frame a domain gets
    /// comes from [`Self::alloc_zeroed`] instead.
    pub fn alloc(&mut self, mem: &impl PhysMemory) -> Option<Mfn> {
        if let Some(head) = pop(&mut self.dirty, mem) {
            self.free_frames -= 1;
            return Some(head);
        }
        if let Some(head) = pop(&mut self.clean, mem) {
            self.free_frames -= 1;
            return Some(head);
        }
        self.alloc_contiguous(1)
    }

    /// Takes one frame filled with zeroes: a scrubbed one when there is
    /// one (the clean list, then a range's scrubbed prefix), else a dirty
    /// or fresh one, scrubbed here before it is handed out.
    pub fn alloc_zeroed(&mut self, mem: &mut impl PhysMemory) -> Option<Mfn> {
        if let Some(head) = pop(&mut self.clean, mem) {
            self.free_frames -= 1;
            // The rest of the frame was scrubbed when it joined the list.
            mem.write_u64(PhysAddr::of_mfn(head), 0);
            return Some(head);
        }
        if let Some(span) = self.spans.as_slice().iter().position(|s| s.clean > s.start) {
            let s = &mut self.spans.as_mut_slice()[span];
            let mfn = Mfn(s.start);
            s.start += 1;
            if s.start == s.end {
                self.spans.remove(span);
            }
            self.free_frames -= 1;
            return Some(mfn);
        }
        let mfn = self.alloc(mem)?;
        mem.zero_frame(mfn);
        Some(mfn)
    }

    /// Takes a run of up to `max` (at least 1) physically contiguous
    /// frames filled with zeroes, as [`Self::alloc_zeroed`] would take them
    /// one by one: a clean-list frame (one), else as much of a range's
    /// scrubbed prefix as fits, else a dirty frame (one) scrubbed here,
    /// else fresh frames of a range, scrubbed here in one
    /// [`PhysMemory::zero_frames`] call. Building a domain takes its
    /// thousands of frames this way, with the per-frame work of a loop
    /// turn in the zeroing only.
    pub fn alloc_zeroed_run(&mut self, mem: &mut impl PhysMemory, max: u64) -> Option<(Mfn, u64)> {
        if max == 0 {
            return None;
        }
        if self.clean != LIST_END {
            return self.alloc_zeroed(mem).map(|m| (m, 1));
        }
        if let Some(span) = self.spans.as_slice().iter().position(|s| s.clean > s.start) {
            let s = &mut self.spans.as_mut_slice()[span];
            let (first, n) = (s.start, (s.clean - s.start).min(max));
            s.start += n;
            if s.start == s.end {
                self.spans.remove(span);
            }
            self.free_frames -= n;
            return Some((Mfn(first), n));
        }
        if let Some(m) = pop(&mut self.dirty, mem) {
            self.free_frames -= 1;
            mem.zero_frame(m);
            return Some((m, 1));
        }
        let s = self.spans.as_mut_slice().first_mut()?;
        let (first, n) = (s.start, (s.end - s.start).min(max));
        s.start += n;
        s.clean = s.start;
        if s.start == s.end {
            self.spans.remove(0);
        }
        self.free_frames -= n;
        mem.zero_frames(Mfn(first), n);
        Some((Mfn(first), n))
    }

    /// Takes `count` physically contiguous fresh frames (never from the free
    /// lists), returning the first. Their contents are unknown.
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<Mfn> {
        if count == 0 {
            return None;
        }
        let index = self.spans.as_slice().iter().position(|s| s.end - s.start >= count)?;
        let span = &mut self.spans.as_mut_slice()[index];
        let first = span.start;
        span.start += count;
        span.clean = span.clean.max(span.start);
        if span.start == span.end {
            self.spans.remove(index);
        }
        self.free_frames -= count;
        Some(Mfn(first))
    }

    /// Returns a frame, to be scrubbed before anyone gets it again. The
    /// caller guarantees it was handed out by this allocator and is no
    /// longer used; the frame table enforces that.
    pub fn free(&mut self, mfn: Mfn, mem: &mut impl PhysMemory) {
        push(&mut self.dirty, mfn, mem);
        self.free_frames += 1;
    }

    /// Scrubs up to `max` free frames that are not scrubbed yet: freed
    /// ones first, then never-used ones. Returns how many it scrubbed
    /// (fewer than `max` only when every free frame is scrubbed).
    pub fn scrub_some(&mut self, mem: &mut impl PhysMemory, max: u64) -> u64 {
        let mut done = 0;
        while done < max {
            if let Some(mfn) = pop(&mut self.dirty, mem) {
                mem.zero_frame(mfn);
                push(&mut self.clean, mfn, mem);
                done += 1;
            } else if let Some(s) = self.spans.as_mut_slice().iter_mut().find(|s| s.clean < s.end) {
                // As much of the range's unscrubbed rest as fits, in one call.
                let n = (s.end - s.clean).min(max - done);
                mem.zero_frames(Mfn(s.clean), n);
                s.clean += n;
                done += n;
            } else {
                break;
            }
        }
        done
    }

    /// Whether some free frame is not scrubbed yet.
    pub fn has_unscrubbed(&self) -> bool {
        self.dirty != LIST_END || self.spans.as_slice().iter().any(|s| s.clean < s.end)
    }

    /// Frames currently available.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Frames managed in total (free or handed out).
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }
}

/// Takes the head of an intrusive list.
fn pop(list: &mut u64, mem: &impl PhysMemory) -> Option<Mfn> {
    if *list == LIST_END {
        return None;
    }
    let head = Mfn(*list);
    *list = mem.read_u64(PhysAddr::of_mfn(head));
    Some(head)
}

/// Puts `mfn` at the head of an intrusive list.
#[inline(always)]
fn push(list: &mut u64, mfn: Mfn, mem: &mut impl PhysMemory) {
    mem.write_u64(PhysAddr::of_mfn(mfn), *list);
    *list = mfn.0;
}

/// Adds a span, merging with overlapping or touching neighbours.
fn insert_span(spans: &mut FixedVec<FrameSpan, MAX_RANGES>, mut new: FrameSpan) -> Result<(), FrameAllocError> {
    let mut i = 0;
    while i < spans.len() {
        let s = spans.as_slice()[i];
        if s.start <= new.end && new.start <= s.end {
            new.start = new.start.min(s.start);
            new.end = new.end.max(s.end);
            spans.remove(i);
        } else {
            i += 1;
        }
    }
    let at = spans.as_slice().iter().position(|s| s.start > new.start).unwrap_or(spans.len());
    spans.insert(at, new).map_err(|_| FrameAllocError::TooFragmented)
}

/// Cuts `hole` out of every span.
fn remove_span(spans: &mut FixedVec<FrameSpan, MAX_RANGES>, hole: FrameSpan) -> Result<(), FrameAllocError> {
    let mut i = 0;
    while i < spans.len() {
        let s = spans.as_slice()[i];
        if hole.end <= s.start || s.end <= hole.start {
            i += 1;
            continue;
        }
        spans.remove(i);
        if s.start < hole.start {
            spans
                .insert(i, FrameSpan { start: s.start, end: hole.start, clean: s.start })
                .map_err(|_| FrameAllocError::TooFragmented)?;
            i += 1;
        }
        if hole.end < s.end {
            spans
                .insert(i, FrameSpan { start: hole.end, end: s.end, clean: hole.end })
                .map_err(|_| FrameAllocError::TooFragmented)?;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::phys_mem::fake::FakeMemory;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const MIB: u64 = 1 << 20;

    fn frames_of(r: &PhysRange) -> std::ops::Range<u64> {
        let (a, b) = r.frames_touched();
        a.0..b.0
    }

    #[test]
    fn first_mib_is_never_handed_out() {
        let mut a = FrameAllocator::new(&[PhysRange::new(0, 2 * MIB)], &[]).unwrap();
        let mem = FakeMemory::default();
        assert_eq!(a.total_frames(), 256);
        while let Some(m) = a.alloc(&mem) {
            assert!(m.to_maddr() >= MIB, "frame {m:?} is in the first MiB");
        }
    }

    #[test]
    fn reserved_ranges_with_unaligned_edges_exclude_every_touched_frame() {
        let reserved = [PhysRange::new(0x200_123, 0x201_001)];
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, 4 * MIB)], &reserved).unwrap();
        let mem = FakeMemory::default();
        let mut seen = HashSet::new();
        while let Some(m) = a.alloc(&mem) {
            assert!(!(0x200..0x202).contains(&m.0), "reserved frame {:#x} handed out", m.0);
            assert!(seen.insert(m.0));
        }
        assert_eq!(seen.len() as u64, 3 * 256 - 2);
    }

    #[test]
    fn partial_frames_of_usable_ranges_are_dropped() {
        let a = FrameAllocator::new(&[PhysRange::new(MIB + 1, 2 * MIB - 1)], &[]).unwrap();
        assert_eq!(a.total_frames(), 254);
    }

    #[test]
    fn no_usable_memory_is_an_error_not_a_panic() {
        assert_eq!(FrameAllocator::new(&[PhysRange::new(0, MIB)], &[]).unwrap_err(), FrameAllocError::NoUsableMemory);
        assert_eq!(
            FrameAllocator::new(&[PhysRange::new(MIB, 2 * MIB)], &[PhysRange::new(0, u64::MAX)]).unwrap_err(),
            FrameAllocError::NoUsableMemory
        );
    }

    #[test]
    fn too_many_holes_is_reported_as_fragmentation() {
        let holes: Vec<PhysRange> = (0..(MAX_RANGES as u64 + 1))
            .map(|i| PhysRange::new(2 * MIB + i * 8192, 2 * MIB + i * 8192 + 4096))
            .collect();
        assert_eq!(
            FrameAllocator::new(&[PhysRange::new(MIB, 64 * MIB)], &holes).unwrap_err(),
            FrameAllocError::TooFragmented
        );
    }

    #[test]
    fn contiguous_allocation_is_contiguous_and_disjoint_from_single_frames() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, 3 * MIB)], &[]).unwrap();
        let mem = FakeMemory::default();
        let one = a.alloc(&mem).unwrap();
        let run = a.alloc_contiguous(16).unwrap();
        assert!(!(run.0..run.0 + 16).contains(&one.0));
        assert_eq!(a.free_frames(), 512 - 17);
        assert_eq!(a.alloc_contiguous(10_000), None);
    }

    #[test]
    fn freed_frames_are_reused_before_fresh_ones() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, 2 * MIB)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        let x = a.alloc(&mem).unwrap();
        let y = a.alloc(&mem).unwrap();
        a.free(x, &mut mem);
        a.free(y, &mut mem);
        assert_eq!(a.alloc(&mem), Some(y));
        assert_eq!(a.alloc(&mem), Some(x));
    }

    /// Fills frames `[first, first + n)` with a non-zero pattern, as RAM
    /// left by firmware or by a domain would be.
    fn soil(mem: &mut FakeMemory, first: u64, n: u64, tag: u64) {
        for f in first..first + n {
            for w in 0..512 {
                mem.write_u64(PhysAddr((f << 12) + w * 8), tag | f << 16 | w | 1);
            }
        }
    }

    fn is_zero(mem: &FakeMemory, mfn: Mfn) -> bool {
        (0..512).all(|w| mem.read_u64(PhysAddr(mfn.to_maddr() + w * 8)) == 0)
    }

    #[test]
    fn a_freed_frame_not_scrubbed_yet_is_scrubbed_before_it_is_handed_out_again() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, 2 * MIB)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        let x = a.alloc_zeroed(&mut mem).unwrap();
        soil(&mut mem, x.0, 1, 0xd0 << 56);
        a.free(x, &mut mem);
        // Nothing is scrubbed yet, so the next frame is scrubbed on the way out.
        let y = a.alloc_zeroed(&mut mem).unwrap();
        assert_eq!(y, x, "the dirty frame is reused first");
        assert!(is_zero(&mem, y), "a domain's data reached the next owner");
    }

    #[test]
    fn never_used_frames_are_scrubbed_before_a_domain_gets_them() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 8 * 4096)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        soil(&mut mem, MIB >> 12, 8, 0xf1 << 56);
        for _ in 0..8 {
            let m = a.alloc_zeroed(&mut mem).unwrap();
            assert!(is_zero(&mem, m), "boot-time contents of {m:?} reached a domain");
        }
        assert_eq!(a.alloc_zeroed(&mut mem), None);
    }

    #[test]
    fn idle_scrubbing_takes_the_scrub_off_the_allocation_path() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 4 * 4096)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        soil(&mut mem, MIB >> 12, 4, 0xf1 << 56);
        let x = a.alloc_zeroed(&mut mem).unwrap();
        soil(&mut mem, x.0, 1, 0xd0 << 56);
        a.free(x, &mut mem);
        assert!(a.has_unscrubbed());
        // The freed frame and the three never-used ones; then nothing is left.
        assert_eq!(a.scrub_some(&mut mem, 10), 4);
        assert!(!a.has_unscrubbed());
        assert_eq!(a.scrub_some(&mut mem, 10), 0);
        for _ in 0..4 {
            let before = mem.writes;
            let m = a.alloc_zeroed(&mut mem).unwrap();
            assert!(mem.writes - before <= 1, "only the list link is cleared");
            assert!(is_zero(&mem, m));
        }
        assert_eq!(a.free_frames(), 0);
    }

    #[test]
    fn hypervisor_allocations_take_dirty_frames_first_and_leave_scrubbed_ones_for_domains() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 4 * 4096)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        let x = a.alloc(&mem).unwrap();
        let y = a.alloc(&mem).unwrap();
        a.free(x, &mut mem);
        a.scrub_some(&mut mem, 1);
        a.free(y, &mut mem);
        assert_eq!(a.alloc(&mem), Some(y), "the dirty one");
        assert_eq!(a.alloc_zeroed(&mut mem), Some(x), "the scrubbed one");
    }

    #[test]
    fn contiguous_runs_taken_from_a_scrubbed_prefix_keep_the_rest_of_it_scrubbed() {
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 8 * 4096)], &[]).unwrap();
        let mut mem = FakeMemory::default();
        soil(&mut mem, MIB >> 12, 8, 0xf1 << 56);
        a.scrub_some(&mut mem, 3);
        let run = a.alloc_contiguous(2).unwrap();
        soil(&mut mem, run.0, 2, 0xd0 << 56);
        let before = mem.writes;
        let m = a.alloc_zeroed(&mut mem).unwrap();
        assert_eq!((m.0, mem.writes - before), (run.0 + 2, 0), "the third scrubbed frame, as it is");
        let n = a.alloc_zeroed(&mut mem).unwrap();
        assert!(is_zero(&mem, n), "past the prefix it is scrubbed on the way out");
    }

    /// FakeMemory, counting the calls of each zeroing method.
    #[derive(Default)]
    struct CountingZero {
        mem: FakeMemory,
        runs: Vec<(u64, u64)>,
    }

    impl PhysMemory for CountingZero {
        fn read_u64(&self, addr: PhysAddr) -> u64 {
            self.mem.read_u64(addr)
        }
        fn write_u64(&mut self, addr: PhysAddr, value: u64) {
            self.mem.write_u64(addr, value)
        }
        fn zero_frames(&mut self, first: Mfn, count: u64) {
            self.runs.push((first.0, count));
            for f in first.0..first.0 + count {
                self.mem.zero_frame(Mfn(f));
            }
        }
    }

    #[test]
    fn a_zeroed_run_of_fresh_frames_is_scrubbed_in_one_call_and_never_longer_than_asked() {
        let base = MIB >> 12;
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 10 * 4096)], &[]).unwrap();
        let mut mem = CountingZero::default();
        soil(&mut mem.mem, base, 10, 0xf1 << 56);
        assert_eq!(a.alloc_zeroed_run(&mut mem, 0), None);
        assert_eq!(a.alloc_zeroed_run(&mut mem, 6), Some((Mfn(base), 6)));
        assert_eq!(mem.runs, vec![(base, 6)], "one zeroing call for the run");
        assert!((base..base + 6).all(|f| is_zero(&mem.mem, Mfn(f))), "boot-time contents reached a domain");
        assert!(!is_zero(&mem.mem, Mfn(base + 6)), "a frame nobody took was scrubbed");
        assert_eq!(a.alloc_zeroed_run(&mut mem, 6), Some((Mfn(base + 6), 4)), "the rest of the range");
        assert_eq!(a.alloc_zeroed_run(&mut mem, 6), None);
        assert_eq!(a.free_frames(), 0);
    }

    #[test]
    fn a_zeroed_run_takes_scrubbed_frames_first_as_they_are() {
        let base = MIB >> 12;
        let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + 10 * 4096)], &[]).unwrap();
        let mut mem = CountingZero::default();
        soil(&mut mem.mem, base, 10, 0xf1 << 56);
        let x = a.alloc_zeroed(&mut mem).unwrap();
        assert_eq!(a.scrub_some(&mut mem, 4), 4, "a run of four in the range");
        assert_eq!(mem.runs, vec![(base + 1, 4)]);
        soil(&mut mem.mem, x.0, 1, 0xd0 << 56);
        a.free(x, &mut mem);
        a.scrub_some(&mut mem, 1);
        mem.runs.clear();
        // The clean-list frame, then the scrubbed prefix, with no zeroing.
        assert_eq!(a.alloc_zeroed_run(&mut mem, 8), Some((x, 1)));
        assert!(is_zero(&mem.mem, x), "the clean list's link was left in the frame");
        assert_eq!(a.alloc_zeroed_run(&mut mem, 8), Some((Mfn(base + 1), 4)));
        assert!(mem.runs.is_empty(), "scrubbed frames were scrubbed again");
        // A dirty frame comes before fresh ones, and is scrubbed on the way out.
        let y = a.alloc(&mem).unwrap();
        soil(&mut mem.mem, y.0, 1, 0xd1 << 56);
        a.free(y, &mut mem);
        assert_eq!(a.alloc_zeroed_run(&mut mem, 8), Some((y, 1)));
        assert!(is_zero(&mem.mem, y), "a domain's data reached the next owner");
    }

    fn ranges() -> impl Strategy<Value = Vec<PhysRange>> {
        prop::collection::vec((0u64..64 * MIB, 1u64..8 * MIB), 0..8)
            .prop_map(|v| v.into_iter().map(|(s, l)| PhysRange::new(s, s + l)).collect())
    }

    proptest! {
        /// Random sequences of allocation (for a domain, one frame or a
        /// run, or for the hypervisor), frees, writes into held frames and idle scrubbing,
        /// over RAM that starts soiled: every frame handed out for a domain
        /// is all zeroes, whoever held it before, and the counts are exact.
        #[test]
        fn no_frame_ever_carries_data_to_its_next_domain(
            ops in prop::collection::vec((0u8..6, 0usize..64), 0..300),
        ) {
            const N: u64 = 24;
            let mut a = FrameAllocator::new(&[PhysRange::new(MIB, MIB + N * 4096)], &[]).unwrap();
            let mut mem = FakeMemory::default();
            soil(&mut mem, MIB >> 12, N, 0xf1 << 56);
            let mut held: Vec<u64> = Vec::new();
            for (op, arg) in ops {
                match op {
                    0 => if let Some(m) = a.alloc_zeroed(&mut mem) {
                        prop_assert!(is_zero(&mem, m), "frame {:#x} handed to a domain with data in it", m.0);
                        prop_assert!(!held.contains(&m.0));
                        soil(&mut mem, m.0, 1, (arg as u64) << 56);
                        held.push(m.0);
                    },
                    1 => if let Some(m) = a.alloc(&mem) {
                        prop_assert!(!held.contains(&m.0));
                        soil(&mut mem, m.0, 1, 0x77 << 56);
                        held.push(m.0);
                    },
                    2 => if let Some(m) = a.alloc_contiguous(arg as u64 % 3 + 1) {
                        for f in m.0..m.0 + arg as u64 % 3 + 1 {
                            prop_assert!(!held.contains(&f));
                            soil(&mut mem, f, 1, 0x66 << 56);
                            held.push(f);
                        }
                    },
                    3 => if !held.is_empty() {
                        let f = held.swap_remove(arg % held.len());
                        a.free(Mfn(f), &mut mem);
                    },
                    4 => { a.scrub_some(&mut mem, arg as u64 % 5); }
                    _ => if let Some((m, n)) = a.alloc_zeroed_run(&mut mem, arg as u64 % 7 + 1) {
                        prop_assert!(n >= 1 && n <= arg as u64 % 7 + 1, "a run of {} for at most {}", n, arg % 7 + 1);
                        for f in m.0..m.0 + n {
                            prop_assert!(is_zero(&mem, Mfn(f)), "frame {:#x} of a run handed to a domain with data in it", f);
                            prop_assert!(!held.contains(&f));
                            soil(&mut mem, f, 1, (arg as u64) << 56);
                            held.push(f);
                        }
                    },
                }
                prop_assert_eq!(a.free_frames() + held.len() as u64, N);
            }
        }
    }

    proptest! {
        /// Random memory maps, reserved ranges and alloc/free sequences: no
        /// frame is ever handed out twice while held, nothing reserved or
        /// outside usable RAM is handed out, and the free count is exact.
        #[test]
        fn no_frame_is_handed_out_twice_and_reserved_frames_never(
            usable in ranges(), reserved in ranges(),
            ops in prop::collection::vec((0u8..3, 0usize..64), 0..400),
        ) {
            let Ok(mut a) = FrameAllocator::new(&usable, &reserved) else { return Ok(()) };
            let mut mem = FakeMemory::default();
            let mut held: Vec<u64> = Vec::new();
            let mut held_set = HashSet::new();
            let total = a.total_frames();
            for (op, arg) in ops {
                let got: Vec<u64> = match op {
                    0 => a.alloc(&mem).map(|m| vec![m.0]).unwrap_or_default(),
                    1 => a.alloc_contiguous(arg as u64 % 8 + 1).map(|m| (m.0..m.0 + arg as u64 % 8 + 1).collect()).unwrap_or_default(),
                    _ => {
                        if !held.is_empty() {
                            let f = held.swap_remove(arg % held.len());
                            held_set.remove(&f);
                            a.free(Mfn(f), &mut mem);
                        }
                        vec![]
                    }
                };
                for f in got {
                    prop_assert!(held_set.insert(f), "frame {:#x} handed out twice", f);
                    held.push(f);
                    prop_assert!(f >= LOW_MEMORY_END / 4096);
                    prop_assert!(usable.iter().any(|r| frames_of(r).contains(&f) && r.frames_inside().0 .0 <= f && f < r.frames_inside().1 .0));
                    prop_assert!(!reserved.iter().any(|r| frames_of(r).contains(&f)), "reserved frame {:#x} handed out", f);
                }
                prop_assert_eq!(a.free_frames() + held.len() as u64, total);
            }
        }
    }
}
