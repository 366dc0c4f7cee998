//! Host tests of the direct-paging model.

mod batch_glue;
mod batch_key;
mod dead_domains;
mod exchange_tests;
mod exhaustive;
mod gdt_rules;
mod l1_walk_tests;
mod ldt_rules;
mod mmu_update_rows;
mod mmuext_rows;
mod preemption;
mod properties;
mod ptwr_tests;
mod refusal_rules;
mod reservation_pages;
mod reservation_tests;
mod single_path;
mod teardown_tests;
pub(crate) mod tlb_sim;
mod tlb_tests;
mod update_va_walk;
mod worked_example;
pub(crate) mod world;
mod xsa;
