//! Exception entry from the IDT stubs, and the fatal-exception dump.
//!
//! Any exception raised in the hypervisor is fatal: the vector, error code,
//! RIP, CR2 and every general register go to the serial console, then the
//! machine stops (under QEMU: exit with the failure code).

use super::{cpu, qemu, serial};

/// Register state saved by the exception stubs, lowest address first.
#[derive(Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    /// General registers.
    pub rax: u64,
    #[allow(missing_docs)]
    pub rbx: u64,
    #[allow(missing_docs)]
    pub rcx: u64,
    #[allow(missing_docs)]
    pub rdx: u64,
    #[allow(missing_docs)]
    pub rsi: u64,
    #[allow(missing_docs)]
    pub rdi: u64,
    #[allow(missing_docs)]
    pub rbp: u64,
    #[allow(missing_docs)]
    pub r8: u64,
    #[allow(missing_docs)]
    pub r9: u64,
    #[allow(missing_docs)]
    pub r10: u64,
    #[allow(missing_docs)]
    pub r11: u64,
    #[allow(missing_docs)]
    pub r12: u64,
    #[allow(missing_docs)]
    pub r13: u64,
    #[allow(missing_docs)]
    pub r14: u64,
    #[allow(missing_docs)]
    pub r15: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// Error code (0 for vectors without one).
    pub error_code: u64,
    /// Hardware frame.
    pub rip: u64,
    #[allow(missing_docs)]
    pub cs: u64,
    #[allow(missing_docs)]
    pub rflags: u64,
    #[allow(missing_docs)]
    pub rsp: u64,
    #[allow(missing_docs)]
    pub ss: u64,
}

/// Mnemonic and description of an exception vector.
pub fn vector_name(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("#DE", "divide error"),
        1 => ("#DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("#BP", "breakpoint"),
        4 => ("#OF", "overflow"),
        5 => ("#BR", "bound range exceeded"),
        6 => ("#UD", "invalid opcode"),
        7 => ("#NM", "device not available"),
        8 => ("#DF", "double fault"),
        10 => ("#TS", "invalid TSS"),
        11 => ("#NP", "segment not present"),
        12 => ("#SS", "stack-segment fault"),
        13 => ("#GP", "general protection"),
        14 => ("#PF", "page fault"),
        16 => ("#MF", "x87 floating-point error"),
        17 => ("#AC", "alignment check"),
        18 => ("#MC", "machine check"),
        19 => ("#XM", "SIMD floating-point"),
        20 => ("#VE", "virtualization exception"),
        21 => ("#CP", "control protection"),
        9 | 15 | 22..=31 => ("#??", "reserved exception"),
        _ => ("INT", "unexpected interrupt"),
    }
}

#[no_mangle]
extern "C" fn xen_core_exception(frame: &mut TrapFrame) {
    if frame.cs & 3 == 3 {
        super::run::guest_entry(frame);
        return;
    }
    // A fault while copying to or from a guest pointer becomes an error.
    if frame.vector == 14 || frame.vector == 13 {
        if let Some(fixup) = super::entry::copy_fixup(frame.rip) {
            frame.rip = fixup;
            return;
        }
    }
    dump(frame);
    qemu::exit(qemu::EXIT_FAILURE);
}

fn dump(f: &TrapFrame) {
    let (mnemonic, what) = vector_name(f.vector);
    let p = serial::print_emergency;
    p(format_args!("(XEN) *** FATAL: CPU exception vector {} ({mnemonic} {what}) in the hypervisor\n", f.vector));
    p(format_args!(
        "(XEN) error code: {:#018x}   cr2: {:#018x}   cr3: {:#018x}\n",
        f.error_code,
        cpu::cr2(),
        cpu::cr3()
    ));
    p(format_args!("(XEN) rip: {:#018x}   cs: {:#06x}   rflags: {:#018x}\n", f.rip, f.cs, f.rflags));
    p(format_args!("(XEN) rsp: {:#018x}   ss: {:#06x}\n", f.rsp, f.ss));
    p(format_args!("(XEN) rax: {:#018x}   rbx: {:#018x}   rcx: {:#018x}\n", f.rax, f.rbx, f.rcx));
    p(format_args!("(XEN) rdx: {:#018x}   rsi: {:#018x}   rdi: {:#018x}\n", f.rdx, f.rsi, f.rdi));
    p(format_args!("(XEN) rbp: {:#018x}   r8:  {:#018x}   r9:  {:#018x}\n", f.rbp, f.r8, f.r9));
    p(format_args!("(XEN) r10: {:#018x}   r11: {:#018x}   r12: {:#018x}\n", f.r10, f.r11, f.r12));
    p(format_args!("(XEN) r13: {:#018x}   r14: {:#018x}   r15: {:#018x}\n", f.r13, f.r14, f.r15));
    p(format_args!("(XEN) *** hypervisor stopped\n"));
}
