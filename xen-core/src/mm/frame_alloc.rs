//! The machine-frame allocator.
//!
//! It starts from the usable RAM ranges of the boot memory map minus every
//! reserved range (the first MiB, the hypervisor image, the multiboot2
//! modules and boot information). Fresh frames are handed out in ascending
//! order from those ranges; freed frames go onto an intrusive free list
//! threaded through the frames themselves, so the allocator needs no
//! metadata of its own and allocation is O(1) with no heap.
//!
//! Invariants: a frame is in at most one of {a free range, the free list,
//! handed out}; a reserved frame is never in a free range.

use super::{PhysAddr, PhysMemory, PhysRange};
use crate::util::FixedVec;
use abi::Mfn;

/// Maximum number of disjoint free ranges tracked.
pub const MAX_RANGES: usize = 64;

/// The first MiB of RAM holds firmware structures and is never handed out.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// A half-open range of frames `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FrameSpan {
    start: u64,
    end: u64,
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
    free_list: Option<Mfn>,
    free_frames: u64,
    total_frames: u64,
}

/// Sentinel stored in the last frame of the free list.
const LIST_END: u64 = u64::MAX;

impl FrameAllocator {
    /// Builds the allocator over `usable` minus `reserved` (and minus the
    /// first MiB). Partial frames at range edges are left out.
    pub fn new(usable: &[PhysRange], reserved: &[PhysRange]) -> Result<Self, FrameAllocError> {
        let mut spans: FixedVec<FrameSpan, MAX_RANGES> = FixedVec::new();
        for range in usable {
            let (first, end) = range.frames_inside();
            let first = first.0.max(LOW_MEMORY_END / abi::PAGE_SIZE);
            if first < end.0 {
                insert_span(&mut spans, FrameSpan { start: first, end: end.0 })?;
            }
        }
        for range in reserved {
            let (first, end) = range.frames_touched();
            remove_span(&mut spans, FrameSpan { start: first.0, end: end.0 })?;
        }
        let total: u64 = spans.as_slice().iter().map(|s| s.end - s.start).sum();
        if total == 0 {
            return Err(FrameAllocError::NoUsableMemory);
        }
        Ok(FrameAllocator { spans, free_list: None, free_frames: total, total_frames: total })
    }

    /// Takes one frame. Its contents are whatever was there before; callers
    /// that hand it to a domain must scrub it.
    pub fn alloc(&mut self, mem: &impl PhysMemory) -> Option<Mfn> {
        if let Some(head) = self.free_list {
            let next = mem.read_u64(PhysAddr::of_mfn(head));
            self.free_list = if next == LIST_END { None } else { Some(Mfn(next)) };
            self.free_frames -= 1;
            return Some(head);
        }
        self.alloc_contiguous(1)
    }

    /// Takes `count` physically contiguous fresh frames (never from the free
    /// list), returning the first.
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<Mfn> {
        if count == 0 {
            return None;
        }
        let index = self.spans.as_slice().iter().position(|s| s.end - s.start >= count)?;
        let span = &mut self.spans.as_mut_slice()[index];
        let first = span.start;
        span.start += count;
        if span.start == span.end {
            self.spans.remove(index);
        }
        self.free_frames -= count;
        Some(Mfn(first))
    }

    /// Returns a frame. The caller guarantees it was handed out by this
    /// allocator and is no longer used; the frame table enforces that.
    pub fn free(&mut self, mfn: Mfn, mem: &mut impl PhysMemory) {
        let next = self.free_list.map_or(LIST_END, |m| m.0);
        mem.write_u64(PhysAddr::of_mfn(mfn), next);
        self.free_list = Some(mfn);
        self.free_frames += 1;
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
                .insert(i, FrameSpan { start: s.start, end: hole.start })
                .map_err(|_| FrameAllocError::TooFragmented)?;
            i += 1;
        }
        if hole.end < s.end {
            spans.insert(i, FrameSpan { start: hole.end, end: s.end }).map_err(|_| FrameAllocError::TooFragmented)?;
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

    fn ranges() -> impl Strategy<Value = Vec<PhysRange>> {
        prop::collection::vec((0u64..64 * MIB, 1u64..8 * MIB), 0..8)
            .prop_map(|v| v.into_iter().map(|(s, l)| PhysRange::new(s, s + l)).collect())
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
