//! Memory management: pure code, no hardware access.
//!
//! * [`phys`], [`phys_mem`]: physical addresses, and the trait through which
//!   pure code reads and writes machine memory (the arch layer implements it
//!   over the direct map, tests over a fake).
//! * [`frame_alloc`]: the machine-frame allocator.
//! * [`hv_map`]: building and auditing the hypervisor's own page tables.
//! * The direct-paging model: [`page_info`] (16-byte per-frame metadata),
//!   [`model`] (frame table, domains, reference operations), [`pte`] (entry
//!   bit rules), [`validate`] (table validation and devalidation),
//!   [`l1_walk`] (their per-table L1 loops),
//!   [`entry_update`], [`mmu_update`], [`mmuext`], [`update_va`] (the
//!   request semantics), [`ptwr`] (the L1 tables writable-page-table
//!   emulation writes), [`reservation`] (the balloon), [`exchange`]
//!   (`XENMEM_exchange`), [`teardown`] and
//!   [`check`] (the invariant checker).
//! * [`refusal`]: the rule behind each refusal, for the debug log.
//! * [`tlb_clock`]: which frames may still have cached translations.
//! * [`test_modes`]: small tables and planted faults, for tests only.

pub mod check;
pub mod deferred;
pub mod descriptor_update;
pub mod entry_update;
pub mod exchange;
pub mod frame_alloc;
pub mod gdt;
pub mod hv_map;
pub mod l1_walk;
pub mod ldt;
pub mod mmu_update;
pub mod mmuext;
pub mod model;
pub mod page_info;
pub mod phys;
pub mod phys_mem;
pub mod pte;
pub mod ptwr;
pub mod refusal;
pub mod requests;
pub mod reservation;
pub mod teardown;
pub mod test_modes;
pub mod tlb_clock;
pub mod update_va;
pub mod validate;

#[cfg(test)]
pub(crate) mod tests;

pub use abi::Mfn;
pub use frame_alloc::FrameAllocator;
pub use model::{DomainMm, Mm, MmHooks};
pub use page_info::{PageInfo, PageType};
pub use phys::{PhysAddr, PhysRange};
pub use phys_mem::PhysMemory;
pub use requests::BatchResult;
pub use tlb_clock::TlbClock;
