//! x86_64 PV entry, notes, traps, memory access, FPU probes and user tasks.

pub mod entry;
pub mod fpu;
pub mod mem;
pub mod traps;
pub mod user;
