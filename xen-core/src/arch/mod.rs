//! The architecture shell: the only module allowed to use `unsafe`.
//!
//! Everything here touches the machine, except [`x86_64::multiboot`], which
//! turns a byte slice into `multiboot2` boot information and is portable so
//! that host tests can feed it fixtures.

pub mod x86_64;
