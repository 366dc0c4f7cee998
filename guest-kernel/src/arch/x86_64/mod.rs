//! x86_64 PV traps, memory access, FPU probes and user tasks.

pub mod events;
pub mod fpu;
pub mod mem;
pub mod pvh;
pub mod traps;
pub mod user;
