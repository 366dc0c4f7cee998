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

extern "C" {
    static trap_return_iretq: u8;
}

#[no_mangle]
extern "C" fn xen_core_exception(frame: &mut TrapFrame) {
    if frame.vector == 1 {
        debug_exception(frame);
        return;
    }
    if frame.cs & 3 == 3 {
        super::run::guest_entry(frame);
        return;
    }
    // The hypervisor takes interrupts only while idle, in `timer::idle_wait`.
    if frame.vector >= 32 {
        super::idle::idle_interrupt(frame.vector);
        return;
    }
    if let Some(refused) = return_fault(frame) {
        super::run::return_faulted(refused);
    }
    // A fault while copying to or from a guest pointer, or of a checked
    // GS load, becomes an error.
    if matches!(frame.vector, 11 | 13 | 14) {
        if let Some(fixup) = super::entry::copy_fixup(frame.rip) {
            frame.rip = fixup;
            return;
        }
    }
    dump(frame);
    qemu::exit(qemu::EXIT_FAILURE);
}

/// #DB raised in the hypervisor (a guest's data breakpoint on guest
/// memory the hypervisor accessed, or one held back by a `mov ss` until the
/// first SYSCALL instruction) since boot. Counted, not logged: the handler
/// may have interrupted the console. The run's summary reports them.
pub static HYPERVISOR_DEBUG_TRAPS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A #DB. From the guest, its DR6 goes to the vCPU and it is bounced (with
/// the breakpoints disarmed meanwhile, see [`super::debugregs`]). In the
/// hypervisor it is ignored, as Xen does: data breakpoints and single
/// steps are traps, so the interrupted code simply continues. An
/// instruction breakpoint there would fire forever; the address checks
/// rule it out, and if one fires anyway every breakpoint is disarmed.
fn debug_exception(frame: &mut TrapFrame) {
    let dr6 = super::debugregs::take_dr6();
    if frame.cs & 3 == 3 {
        super::run::guest_debug_entry(frame, dr6);
        return;
    }
    HYPERVISOR_DEBUG_TRAPS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    // Nothing in the hypervisor single-steps: a TF here came from a guest.
    frame.rflags &= !(1 << 8);
    let dr7 = super::debugregs::dr7();
    let insn_bp = (0..4).any(|n| dr6 & (1 << n) != 0 && dr7 & (3 << (2 * n)) != 0 && (dr7 >> (16 + 4 * n)) & 3 == 0);
    if insn_bp {
        super::debugregs::disarm();
    }
}

/// If `frame` is a fault of the hypervisor's IRETQ to a guest, the
/// guest's context as that IRETQ would have restored it, with the fault's
/// vector and error code. The return checks should leave nothing for
/// IRETQ to refuse; this is the safety net, and it gives Xen's answer too:
/// the fault is the guest's, raised at the IRETQ's target.
#[cold]
#[inline(never)]
fn return_fault(frame: &TrapFrame) -> Option<TrapFrame> {
    let iretq = &raw const trap_return_iretq as u64;
    if frame.rip != iretq || !matches!(frame.vector, 11..=13) {
        return None;
    }
    let slot = super::entry::frame_slot() as u64;
    let hw = slot + core::mem::offset_of!(TrapFrame, rip) as u64;
    if frame.rsp != hw {
        return None;
    }
    // SAFETY: RSP at the faulting IRETQ points at the five-word hardware
    // part of the guest frame at the top of the entry stack (checked
    // above); the exception frame was pushed below it, so it is intact.
    let [rip, cs, rflags, rsp, ss] = unsafe { core::ptr::read(hw as *const [u64; 5]) };
    let f = frame;
    Some(TrapFrame {
        rax: f.rax,
        rbx: f.rbx,
        rcx: f.rcx,
        rdx: f.rdx,
        rsi: f.rsi,
        rdi: f.rdi,
        rbp: f.rbp,
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        vector: f.vector,
        error_code: f.error_code,
        rip,
        cs,
        rflags,
        rsp,
        ss,
    })
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
