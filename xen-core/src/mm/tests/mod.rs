//! Host tests of the direct-paging model.

mod errno_rows;
mod preemption;
mod properties;
mod reservation_tests;
mod teardown_tests;
mod worked_example;
pub(crate) mod world;
mod xsa;
