//! Boot-time inputs: the hypervisor command line and the boot description
//! derived from the multiboot2 or multiboot1 boot information. Pure code.

pub mod cmdline;
pub mod description;
pub mod multiboot1;

pub use cmdline::{HvOptions, LogLevel, SelfTest};
pub use description::{BootDescription, BootInfoError, MemoryKind, MemoryRegion, Module};
