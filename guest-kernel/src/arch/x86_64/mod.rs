//! x86_64 PV entry, notes, traps and memory access.

pub mod entry;
pub mod mem;
pub mod traps;
