//! The guest's hardware glue: entry point, Xen ELF notes, trap entry stubs
//! and the few raw accesses to its own memory. The only `unsafe` code of
//! the guest lives here.

pub mod x86_64;
