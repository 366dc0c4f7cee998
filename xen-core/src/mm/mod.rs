//! Memory management: pure code, no hardware access.
//!
//! * [`phys`]: physical addresses and ranges.
//! * [`phys_mem`]: the trait through which pure code reads and writes
//!   machine memory (the arch layer implements it over the direct map, tests
//!   over a fake).
//! * [`frame_alloc`]: the machine-frame allocator.
//! * [`hv_map`]: building and auditing the hypervisor's own page tables.

pub mod frame_alloc;
pub mod hv_map;
pub mod phys;
pub mod phys_mem;

pub use abi::Mfn;
pub use frame_alloc::FrameAllocator;
pub use phys::{PhysAddr, PhysRange};
pub use phys_mem::PhysMemory;
