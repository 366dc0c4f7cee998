//! The p2m of a translated (PVH) domain: guest frame → machine frame, with a
//! type and access rights per entry. Pure: no hardware, no allocation.
//!
//! * [`entry`]: what one guest frame maps to ([`P2mEntry`], [`P2mType`],
//!   [`Rights`]) and the two entry sizes ([`Order`]).
//! * [`table`]: the map itself ([`P2m`]) over storage the caller owns, with
//!   2 MiB entries split on a partial change and merged on request.
//! * [`refs`]: changes that hold frame-table references through the
//!   direct-paging model ([`crate::mm::Mm`]): populate, remove (ballooning),
//!   grant/foreign and MMIO entries, teardown.
//! * [`npt`]: the nested page tables the hardware walks, computed from the
//!   p2m, and a walk over them.
//!
//! Reference rule: every RAM or grant entry holds one general reference on
//! its frame (a 2 MiB entry one on each of its 512 frames), taken before the
//! entry appears and dropped after it is gone; the frame is stamped with the
//! TLB flush clock when its entry goes, so it is flushed for before it is
//! freed or retyped ([`crate::mm::tlb_clock`]). MMIO entries hold none.

pub mod entry;
pub mod npt;
pub mod refs;
pub mod table;

#[cfg(test)]
pub(crate) mod tests;

pub use abi::{Gfn, Mfn};
pub use entry::{Order, P2mEntry, P2mType, Rights};
pub use table::P2m;
