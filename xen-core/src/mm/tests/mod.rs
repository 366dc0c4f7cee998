//! Host tests of the direct-paging model.

mod errno_rows;
mod properties;
mod teardown_tests;
mod worked_example;
mod world;
mod xsa;
