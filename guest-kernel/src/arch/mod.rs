//! The guest's hardware glue: trap entry stubs and the few raw accesses to
//! its own memory (the entry point and Xen ELF notes are guest-rt's). The only `unsafe` code of
//! the guest lives here.

pub mod x86_64;
