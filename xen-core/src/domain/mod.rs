//! Domains: loading a PV kernel image and laying out its start of day.
//!
//! * [`elf`]: the ELF64 parser with every bound checked.
//! * [`bzimage`]: plain ELF or bzImage (`vmlinuz`): the setup header and the payload's compression.
//! * [`decompress`]: the payload's gzip/xz decompression into a caller's buffer.
//! * [`xz`]: the single-call XZ decoder (LZMA2, x86 BCJ, CRC32/CRC64) it uses.
//! * [`notes`]: the Xen ELF notes and the loader's acceptance checks.
//! * [`layout`]: the start-of-day virtual layout (fact sheet §8.4).
//! * [`modules`]: which boot module is a kernel and which the previous kernel's ramdisk.
//! * [`config`]: a domain's settings from its module command line.
//! * [`cpuid_policy`]: the CPUID a PV domain sees (Xen's PV policy).
//! * [`hypercall_page`]: the 32-byte stubs written into the hypercall page.
//! * [`segments`]: selector and descriptor checks for returns to the guest.
//! * [`iret`]: the `iret` hypercall's frame and what returning through it leads to.
//! * [`bounce`]: exception and callback frames on the guest kernel stack.
//! * [`fpu`]: a vCPU's x87/SSE registers and virtual CR0.TS across switches.
//! * [`guest_segs`]: data segments and FS/GS bases per vCPU and guest mode.
//! * [`vcpu_op`]: `vcpu_op`'s command switch, shared by PV and PVH domains.

pub mod bounce;
pub mod builder;
pub mod bzimage;
#[cfg(test)]
mod bzimage_tests;
pub mod config;
pub mod cpuid_policy;
pub mod decompress;
pub mod elf;
pub mod emulate;
pub mod fpu;
pub mod guest_segs;
pub mod hypercall_page;
pub mod iret;
pub mod layout;
pub mod modules;
pub mod native_iret;
pub mod notes;
pub mod segments;
#[cfg(test)]
mod test_stack;
pub mod vcpu;
pub mod vcpu_op;
#[cfg(test)]
mod vcpu_op_tests;
pub mod xz;
