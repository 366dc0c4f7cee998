//! Shadow paging for a translated (PVH) domain, as a pure model: the
//! hypervisor keeps the page tables the hardware really walks (shadows),
//! built from the guest's own tables (guest-physical, read through the
//! [p2m](crate::p2m)) and the p2m.
//!
//! * [`guest`]: the guest's tables as the hardware would walk them.
//! * [`entries`]: the shadow entry computed from a guest entry.
//! * [`cache`]: the shadows themselves, one per guest table and level
//!   (plus one per guest 2 MiB page, split into 4 KiB entries), kept across
//!   CR3 switches, and the write protection of guest page-table pages.
//! * [`fault`]: the page-fault intercept: lazy propagation, guest faults,
//!   and writes to guest page-table pages handed to the emulator.
//! * [`sync`]: the emulated write and its resync, `invlpg`, `mov cr3`, and
//!   p2m changes (ballooning).
//!
//! Invariants (checked by the property test after every step):
//! * every translation the shadows give is the guest's translation through
//!   the p2m, with rights no wider than both allow (write, user, execute);
//! * no shadow entry maps a frame the p2m does not map for this domain;
//! * no shadow entry grants write access to a frame that backs a shadowed
//!   guest page table, so the guest cannot change a table behind its
//!   shadow: its writes fault and come back through [`Shadow::emulate_write`].
//!
//! Writes are taken already decoded ([`PteWrite`]): the instruction
//! decoder for page-table writes is shared with PV writable page tables
//! ([`crate::emulate::pte_write`], reached through [`ptwr`]).
//!
//! Pure: machine memory is reached through [`PhysMemory`], shadow frames
//! come from [`ShadowFrames`], TLB flushes go to [`ShadowHooks`]. Lookups
//! are linear scans of the slot array: a model, not yet the fast path.

pub mod cache;
pub mod entries;
pub mod fault;
pub mod guest;
pub mod ptwr;
pub mod sync;

#[cfg(test)]
mod tests;

use crate::mm::PhysMemory;
use crate::p2m::P2m;
use abi::{Gfn, Mfn};
pub use cache::{Kind, Slot};
pub use fault::Outcome;

/// Supplies and takes back the hypervisor's frames that hold shadows.
pub trait ShadowFrames {
    /// A frame for one shadow table, or `None` when the pool is empty.
    fn alloc(&mut self) -> Option<Mfn>;
    /// A shadow frame no longer used; no hardware walk reaches it once the
    /// TLB flush asked for with it has happened.
    fn free(&mut self, mfn: Mfn);
}

/// TLB work the shadows need from the arch layer.
pub trait ShadowHooks {
    /// Flush every translation of this domain (the ASID, or the whole TLB).
    fn flush_tlb(&mut self);
    /// Invalidate one guest virtual address.
    fn invlpg(&mut self, va: u64);
}

/// What the model works on: the domain's p2m, machine memory, the shadow
/// frame pool and the TLB hooks.
pub struct Env<'e, 'p, M: PhysMemory, F: ShadowFrames, H: ShadowHooks> {
    /// The domain's p2m (read only: the shadows follow it).
    pub p2m: &'e P2m<'p>,
    /// Machine memory: guest frames and shadow frames.
    pub mem: &'e mut M,
    /// Shadow frames.
    pub frames: &'e mut F,
    /// TLB flushes.
    pub hooks: &'e mut H,
}

/// The kind of memory access that faulted or is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// A write.
    pub write: bool,
    /// From user mode (CPL 3).
    pub user: bool,
    /// An instruction fetch.
    pub exec: bool,
}

impl Access {
    /// The access a #PF error code describes (bits W, U, I).
    pub const fn from_error_code(ec: u32) -> Access {
        Access { write: ec & 2 != 0, user: ec & 4 != 0, exec: ec & 16 != 0 }
    }
}

/// #PF error-code bits.
pub mod ec {
    /// The fault was a protection violation (the entry was present).
    pub const PRESENT: u32 = 1;
    /// A write.
    pub const WRITE: u32 = 2;
    /// From user mode.
    pub const USER: u32 = 4;
    /// A reserved bit was set in an entry.
    pub const RSVD: u32 = 8;
    /// An instruction fetch.
    pub const FETCH: u32 = 16;
}

/// A guest write into one of its page-table pages, as the instruction
/// emulator decoded it: `len` bytes (1, 2, 4 or 8) of `value` at byte
/// `offset` of the page the fault named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteWrite {
    /// Byte offset in the page.
    pub offset: u16,
    /// Bytes written.
    pub len: u8,
    /// The value (its low `len` bytes).
    pub value: u64,
}

/// The page a faulting write was aimed at: handed out by the fault
/// intercept ([`Outcome::EmulateWrite`]), so an emulated write can only
/// reach a page the guest's own tables let it write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteTarget {
    /// The guest frame written.
    pub gfn: Gfn,
    /// Its machine frame (as the p2m had it at the fault).
    pub mfn: Mfn,
}

/// The shadow state of one domain (its vCPU's current root included).
pub struct Shadow<'s> {
    slots: &'s mut [Option<Slot>],
    /// The guest's CR3 (the guest-physical frame of its L4).
    cr3: Option<Gfn>,
}
