//! The hypervisor heap, carved out of contiguous frames in the direct map.
//! The hypercall path never allocates; the heap serves boot-time and
//! domain-creation data.

use super::paging::DIRECT_MAP_BASE;
use crate::mm::{FrameAllocator, PhysAddr};
use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Heap size in frames (4 MiB).
pub const HEAP_FRAMES: u64 = 1024;

/// Heap bytes the invariant checker needs per frame of RAM (its recount
/// vectors), reserved on top of [`HEAP_FRAMES`] when `check=` is given.
pub const CHECKER_BYTES_PER_FRAME: u64 = 48;

/// Sets up the heap with `extra` more frames; returns its size in bytes,
/// or `None` without memory.
pub fn init(frames: &mut FrameAllocator, extra: u64) -> Option<u64> {
    let n = HEAP_FRAMES + extra;
    let first = frames.alloc_contiguous(n)?;
    let size = n * 4096;
    let start = DIRECT_MAP_BASE + PhysAddr::of_mfn(first).0;
    // SAFETY: the frames were just taken from the allocator, so nothing else
    // uses them, and they are mapped RW in the direct map for good.
    unsafe { HEAP.lock().init(start as *mut u8, size as usize) };
    Some(size)
}
