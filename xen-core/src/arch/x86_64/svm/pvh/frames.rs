//! The hypervisor's frames a PVH domain holds besides its RAM: its
//! hardware frames (VMCB, permission maps, host state), its nested tables
//! (kept in step with its p2m, [`NptSync`]) and its p2m's storage, each
//! given back when the domain goes.

use crate::arch::x86_64::hooks::ArchHooks;
use crate::arch::x86_64::paging::DirectMap;
use crate::hvm::pvh_call::NptSync;
use crate::mm::{FrameAllocator, Mm};
use crate::p2m::npt::{self, TableFrames};
use crate::p2m::{Order, P2m, P2mEntry};
use abi::{Errno, Gfn, Mfn};
use alloc::vec::Vec;

/// The hypervisor's frames one PVH domain uses (nested tables, VMCB,
/// permission maps, host state), freed when it is gone.
pub(super) struct Frames(pub(super) Vec<Mfn>);

impl Frames {
    pub(super) fn take(&mut self, alloc: &mut FrameAllocator) -> Option<Mfn> {
        let m = alloc.alloc_zeroed(&mut DirectMap)?;
        self.0.push(m);
        Some(m)
    }

    pub(super) fn free_all(&mut self, alloc: &mut FrameAllocator) {
        for m in self.0.drain(..) {
            alloc.free(m, &mut DirectMap);
        }
    }
}

/// Table frames for the first build, from the allocator.
pub(super) struct BuildFrames<'f> {
    pub(super) frames: &'f mut Frames,
    pub(super) alloc: &'f mut FrameAllocator,
}

impl TableFrames for BuildFrames<'_> {
    fn alloc_table(&mut self) -> Option<Mfn> {
        self.frames.take(self.alloc)
    }
}

/// The nested tables of the running domain, kept in step with its p2m.
pub(super) struct Npt {
    pub(super) root: Mfn,
    pub(super) frames: Frames,
    pub(super) flush: bool,
}

impl NptSync<DirectMap, ArchHooks> for Npt {
    fn changed(
        &mut self,
        p2m: &P2m<'_>,
        mm: &mut Mm<'_, DirectMap, ArchHooks>,
        gfn: Gfn,
        order: Order,
    ) -> Result<(), Errno> {
        let mut f = BuildFrames { frames: &mut self.frames, alloc: &mut mm.hooks.frames };
        let r = npt::update(p2m, &mut DirectMap, &mut f, self.root, gfn, order);
        // Flushed at the next VMRUN, before the guest runs again: a frame
        // it gave back cannot be reached through a stale translation.
        self.flush = true;
        r
    }
}

/// A p2m's storage (one slot per guest frame, one flag per 2 MiB chunk)
/// in contiguous frames of the hypervisor's, not on its small heap: a
/// domain's `maxmem=` decides its size, and a size the allocator cannot
/// give refuses the domain rather than failing a heap allocation.
pub(super) struct P2mStore {
    first: Mfn,
    frames: u64,
}

impl P2mStore {
    const SLOT: u64 = core::mem::size_of::<Option<P2mEntry>>() as u64;

    /// The storage for `gfns` guest frames, and its slots and flags, all
    /// empty (handed out once, here).
    #[allow(clippy::type_complexity)]
    pub(super) fn new(
        alloc: &mut FrameAllocator,
        gfns: u64,
    ) -> Option<(P2mStore, &'static mut [Option<P2mEntry>], &'static mut [bool])> {
        let bytes = gfns.checked_mul(Self::SLOT)?.checked_add(gfns / 512)?;
        let frames = bytes.div_ceil(4096);
        let first = alloc.alloc_contiguous(frames)?;
        let base = crate::arch::x86_64::paging::DIRECT_MAP_BASE + first.to_maddr();
        let flags = base + gfns * Self::SLOT;
        // SAFETY: the frames were just taken from the allocator and are
        // this store's alone, in the direct map (frame aligned, so the slot
        // array is aligned; the flags follow it). Every slot and flag is
        // written before the slices are made, and the slices are the only
        // references to the storage: they go with the p2m made from them,
        // before the caller gives the frames back through `free`.
        unsafe {
            for i in 0..gfns as usize {
                (base as *mut Option<P2mEntry>).add(i).write(None);
            }
            core::ptr::write_bytes(flags as *mut bool, 0, (gfns / 512) as usize);
            Some((
                P2mStore { first, frames },
                core::slice::from_raw_parts_mut(base as *mut Option<P2mEntry>, gfns as usize),
                core::slice::from_raw_parts_mut(flags as *mut bool, (gfns / 512) as usize),
            ))
        }
    }

    pub(super) fn free(self, alloc: &mut FrameAllocator) {
        for i in 0..self.frames {
            alloc.free(Mfn(self.first.0 + i), &mut DirectMap);
        }
    }
}
