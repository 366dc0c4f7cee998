//! x86_64 PV entry, notes, traps, memory access and FPU probes.

pub mod entry;
pub mod fpu;
pub mod mem;
pub mod traps;
