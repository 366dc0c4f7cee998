//! The p2m map over storage its caller owns: one slot per guest frame and
//! one flag per 2 MiB chunk saying the chunk is a single 2 MiB entry.
//!
//! Invariant: a chunk flagged 2 MiB has all 512 slots present, of one type
//! and one set of rights, with machine frames contiguous from a 512-aligned
//! first frame. A change to part of such a chunk splits it first (clears
//! the flag; the 512 slots already hold the per-frame entries), so a 2 MiB
//! entry is never left describing frames it no longer maps.
//!
//! This file changes entries only; the frame-table references each entry
//! holds are taken and dropped by [`super::refs`].

use super::entry::{Order, P2mEntry};
use abi::{DomId, Gfn};

/// Frames per 2 MiB chunk.
pub const CHUNK: u64 = 512;

/// A domain's p2m.
pub struct P2m<'a> {
    /// The domain whose map this is.
    pub owner: DomId,
    slots: &'a mut [Option<P2mEntry>],
    supers: &'a mut [bool],
}

impl<'a> P2m<'a> {
    /// An empty p2m of `slots.len()` guest frames; `supers` needs one flag
    /// per 2 MiB chunk (rounded up).
    pub fn new(owner: DomId, slots: &'a mut [Option<P2mEntry>], supers: &'a mut [bool]) -> P2m<'a> {
        assert!(supers.len() as u64 >= (slots.len() as u64).div_ceil(CHUNK), "one flag per chunk");
        slots.fill(None);
        supers.fill(false);
        P2m { owner, slots, supers }
    }

    /// The p2m already held in `slots` and `supers` (built by [`P2m::new`]
    /// and changed only through `P2m` since): the hypervisor keeps the
    /// storage per domain and reopens it for each change.
    pub fn reopen(owner: DomId, slots: &'a mut [Option<P2mEntry>], supers: &'a mut [bool]) -> P2m<'a> {
        assert!(supers.len() as u64 >= (slots.len() as u64).div_ceil(CHUNK), "one flag per chunk");
        P2m { owner, slots, supers }
    }

    /// Number of guest frames the map can hold (the first invalid gfn).
    pub fn max_gfn(&self) -> Gfn {
        Gfn(self.slots.len() as u64)
    }

    /// Whether `[gfn, gfn + frames)` lies inside the map.
    pub fn in_range(&self, gfn: Gfn, frames: u64) -> bool {
        gfn.0.checked_add(frames).is_some_and(|end| end <= self.slots.len() as u64)
    }

    /// What `gfn` maps to, and the size of the entry covering it.
    pub fn get(&self, gfn: Gfn) -> Option<(P2mEntry, Order)> {
        let e = (*self.slots.get(gfn.0 as usize)?)?;
        let order = if self.is_super(gfn) { Order::Page2M } else { Order::Page4K };
        Some((e, order))
    }

    /// Whether the chunk holding `gfn` is one 2 MiB entry.
    pub fn is_super(&self, gfn: Gfn) -> bool {
        self.supers.get((gfn.0 / CHUNK) as usize).copied().unwrap_or(false)
    }

    /// Every present entry, in guest-frame order.
    pub fn entries(&self) -> impl Iterator<Item = (Gfn, P2mEntry)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, e)| e.map(|e| (Gfn(i as u64), e)))
    }

    /// Maps `gfn` (4 KiB) to a frame the hypervisor owns outside any
    /// domain's frame-table accounting, such as the boot-time SVM probe
    /// guest's memory: no reference is taken (see [`super::refs`] for
    /// domain RAM), so the caller keeps the frame alive and unused
    /// elsewhere until this map is gone. Returns false outside the map.
    pub fn map_untracked(&mut self, gfn: Gfn, entry: P2mEntry) -> bool {
        if !self.in_range(gfn, 1) {
            return false;
        }
        self.store(gfn, Some(entry));
        true
    }

    /// Writes `entry` at `gfn` (absent: removes it). A change inside a
    /// 2 MiB entry splits it. The caller checked the range.
    pub(super) fn store(&mut self, gfn: Gfn, entry: Option<P2mEntry>) {
        self.supers[(gfn.0 / CHUNK) as usize] = false;
        self.slots[gfn.0 as usize] = entry;
    }

    /// Marks the chunk holding `gfn`, whose 512 entries were just written
    /// as one, a 2 MiB entry.
    pub(super) fn set_super(&mut self, gfn: Gfn) {
        self.supers[(gfn.0 / CHUNK) as usize] = true;
        debug_assert!(self.check().is_ok());
    }

    /// Makes the chunk holding `gfn` one 2 MiB entry if its 512 entries
    /// could be one (present, same type and rights, machine frames
    /// contiguous from a 512-aligned frame). Returns whether it is one now.
    pub fn merge(&mut self, gfn: Gfn) -> bool {
        let base = gfn.0 - gfn.0 % CHUNK;
        if !self.in_range(Gfn(base), CHUNK) {
            return false;
        }
        let Some(first) = self.slots[base as usize] else { return false };
        let mergeable = Order::Page2M.aligned(first.mfn.0)
            && (0..CHUNK).all(|i| self.slots[(base + i) as usize] == Some(first.nth(i)));
        if mergeable {
            self.supers[(base / CHUNK) as usize] = true;
        }
        mergeable
    }

    /// Checks the 2 MiB invariant of the module header.
    pub fn check(&self) -> Result<(), &'static str> {
        for (chunk, &sup) in self.supers.iter().enumerate() {
            if !sup {
                continue;
            }
            let base = chunk as u64 * CHUNK;
            if !self.in_range(Gfn(base), CHUNK) {
                return Err("2 MiB entry past the end of the map");
            }
            let Some(first) = self.slots[base as usize] else { return Err("2 MiB entry with a hole") };
            if !Order::Page2M.aligned(first.mfn.0) {
                return Err("2 MiB entry on an unaligned machine frame");
            }
            if (0..CHUNK).any(|i| self.slots[(base + i) as usize] != Some(first.nth(i))) {
                return Err("2 MiB entry whose frames differ");
            }
        }
        Ok(())
    }
}
