//! Host tests of the p2m: entries and their references, 2 MiB split and
//! merge, the balloon, and the nested tables built from it.

mod npt_tests;
mod properties;
mod refs_tests;
pub(crate) mod world;
