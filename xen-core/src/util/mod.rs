//! Small allocation-free helpers used before the heap exists.

mod fixed_vec;

pub use fixed_vec::FixedVec;
