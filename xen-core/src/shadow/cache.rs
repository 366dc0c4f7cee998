//! The shadows: one hypervisor frame per (guest table frame, level), and
//! one per guest 2 MiB page (its split table), found by a linear scan of
//! the slot array. Shadows outlive CR3 switches, so returning to an address
//! space finds its shadows ready. When the pool runs out, every shadow but
//! the current root is dropped (Xen's "blow the tables") and rebuilt on
//! demand.
//!
//! A guest frame with a shadow of its table is write-protected: creating
//! the first shadow of a frame removes write access to it from every
//! shadow leaf and flushes the TLB, and [`super::entries`] never grants it
//! again while a shadow of it exists.

use super::{Env, Shadow, ShadowFrames, ShadowHooks};
use crate::mm::{PhysAddr, PhysMemory};
use abi::mmu::pte::{ADDR_MASK, PRESENT, RW};
use abi::{Gfn, Mfn};

/// What a shadow frame shadows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The guest table in machine frame `mfn` (guest frame `gfn` when it
    /// was shadowed), read as a level-`level` table.
    Table {
        /// Machine frame of the guest table.
        mfn: Mfn,
        /// Level it is read at (1–4).
        level: u8,
    },
    /// The guest 2 MiB page starting at guest frame `base`, split into
    /// 4 KiB entries.
    Split {
        /// First guest frame (512-aligned).
        base: Gfn,
    },
}

/// One shadow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// What it shadows.
    pub kind: Kind,
    /// The guest frame it was made for (for logs).
    pub gfn: Gfn,
    /// The hypervisor frame holding it.
    pub smfn: Mfn,
    /// Marked for [`Shadow::destroy`].
    dying: bool,
}

/// The pool or the slot array is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

pub(super) fn entry_addr(table: Mfn, i: usize) -> PhysAddr {
    PhysAddr(table.to_maddr() + i as u64 * 8)
}

pub(super) const fn entry_mfn(e: u64) -> Mfn {
    Mfn((e & ADDR_MASK) >> 12)
}

impl<'s> Shadow<'s> {
    /// A domain with no shadows yet, in `slots`.
    pub fn new(slots: &'s mut [Option<Slot>]) -> Shadow<'s> {
        slots.fill(None);
        Shadow { slots, cr3: None }
    }

    /// The shadow state kept in `slots` (made by [`Shadow::new`]) with the
    /// guest's CR3 `cr3`: the hypervisor keeps both per vCPU.
    pub fn reopen(slots: &'s mut [Option<Slot>], cr3: Option<Gfn>) -> Shadow<'s> {
        Shadow { slots, cr3 }
    }

    /// Every shadow.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> + '_ {
        self.slots.iter().flatten()
    }

    /// The guest's current CR3.
    pub fn cr3(&self) -> Option<Gfn> {
        self.cr3
    }

    /// The shadow of `kind`, if there is one.
    pub fn find(&self, kind: Kind) -> Option<Slot> {
        self.slots().find(|s| s.kind == kind).copied()
    }

    /// The shadow root the hardware's CR3 holds, if the guest has a root.
    pub fn root(&self) -> Option<Slot> {
        self.current_root_kind().and_then(|k| self.find(k))
    }

    fn current_root_kind(&self) -> Option<Kind> {
        let slot = self.slots().find(|s| Some(s.gfn) == self.cr3 && matches!(s.kind, Kind::Table { level: 4, .. }))?;
        Some(slot.kind)
    }

    /// Whether machine frame `mfn` backs a shadowed guest table.
    pub fn is_protected(&self, mfn: Mfn) -> bool {
        self.slots().any(|s| matches!(s.kind, Kind::Table { mfn: m, .. } if m == mfn))
    }

    /// The shadow of `kind`, made (empty) if there is none.
    pub(super) fn find_or_create<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        kind: Kind,
        gfn: Gfn,
    ) -> Result<Slot, Full> {
        if let Some(s) = self.find(kind) {
            return Ok(s);
        }
        let free = self.slots.iter().position(Option::is_none).ok_or(Full)?;
        let smfn = env.frames.alloc().ok_or(Full)?;
        env.mem.zero_frame(smfn);
        if let Kind::Table { mfn, .. } = kind {
            if !self.is_protected(mfn) {
                self.write_protect(env, mfn);
            }
        }
        let slot = Slot { kind, gfn, smfn, dying: false };
        self.slots[free] = Some(slot);
        Ok(slot)
    }

    /// Removes write access to `mfn` from every shadow leaf, then flushes.
    fn write_protect<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        mfn: Mfn,
    ) {
        for s in self.slots.iter().flatten().filter(|s| s.is_leaf_table()) {
            for i in 0..512 {
                let e = env.mem.read_u64(entry_addr(s.smfn, i));
                if e & PRESENT != 0 && e & RW != 0 && entry_mfn(e) == mfn {
                    env.mem.write_u64(entry_addr(s.smfn, i), e & !RW);
                }
            }
        }
        env.hooks.flush_tlb();
    }

    /// Clears, in every shadow, each entry for which `drop` holds; returns
    /// whether any was cleared.
    pub(super) fn clear_entries<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        mut drop: impl FnMut(&Slot, u64) -> bool,
    ) -> bool {
        let mut any = false;
        for s in self.slots.iter().flatten() {
            for i in 0..512 {
                let e = env.mem.read_u64(entry_addr(s.smfn, i));
                if e & PRESENT != 0 && drop(s, e) {
                    env.mem.write_u64(entry_addr(s.smfn, i), 0);
                    any = true;
                }
            }
        }
        any
    }

    /// Drops every shadow for which `doomed` holds: unlinks them from the
    /// shadows above, flushes the TLB, then frees their frames.
    pub(super) fn destroy<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        mut doomed: impl FnMut(&Slot) -> bool,
    ) {
        let mut any = false;
        for s in self.slots.iter_mut().flatten() {
            s.dying = doomed(s);
            any |= s.dying;
        }
        if !any {
            return;
        }
        // Unlink: every entry of a surviving upper shadow that points at a
        // dying one goes.
        let slots: &[Option<Slot>] = self.slots;
        let dying = |m: Mfn| slots.iter().flatten().any(|s| s.dying && s.smfn == m);
        for s in slots.iter().flatten().filter(|s| !s.dying && !s.is_leaf_table()) {
            for i in 0..512 {
                let e = env.mem.read_u64(entry_addr(s.smfn, i));
                if e & PRESENT != 0 && dying(entry_mfn(e)) {
                    env.mem.write_u64(entry_addr(s.smfn, i), 0);
                }
            }
        }
        // No walk may still reach a frame when it is freed.
        env.hooks.flush_tlb();
        for slot in self.slots.iter_mut() {
            if let Some(s) = slot.filter(|s| s.dying) {
                env.frames.free(s.smfn);
                *slot = None;
            }
        }
    }
}

impl Slot {
    /// Whether the shadow holds leaf entries (a level-1 table or a split
    /// 2 MiB page).
    pub const fn is_leaf_table(&self) -> bool {
        matches!(self.kind, Kind::Table { level: 1, .. } | Kind::Split { .. })
    }
}
