//! Trap entry stubs. The hypervisor bounces exceptions here with Xen's
//! frame (RCX, R11, [error code], RIP, CS, RFLAGS, RSP, SS); handlers
//! return through the `iret` hypercall-page stub.

use abi::traps::{TrapInfo, FLAT_KERNEL_CS64};
use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(
    r#"
    .section .text.traps, "ax"
    // Vectors with an error code: frame has RCX, R11, error, RIP, ...
    .macro TRAP_ERR n
    .global trap_\n
trap_\n:
    push rax
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push 0
    mov edi, \n
    lea rsi, [rsp + 64]
    call guest_trap
    add rsp, 8
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    pop rcx
    pop r11
    add rsp, 8
    push 0
    jmp hypercall_page + 23 * 32
    .endm

    TRAP_ERR 13
    TRAP_ERR 14

    // #UD and #NM have no error code: the frame is RCX, R11, RIP, ...
    .macro TRAP_NOERR n
    .global trap_\n
trap_\n:
    push rax
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    mov edi, \n
    lea rsi, [rsp + 56]
    call guest_trap
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
    .endm

    TRAP_NOERR 1
    TRAP_NOERR 6
    TRAP_NOERR 7
"#
);

extern "Rust" {
    /// The binary's page-fault policy: true if it fixed the fault.
    fn pv_page_fault() -> bool;
}

extern "C" {
    fn trap_1();
    fn trap_6();
    fn trap_7();
    fn trap_13();
    fn trap_14();
}

/// Bytes to skip after the next #GP, #UD or #PF (the test instruction's
/// length); 0 means such a fault is unexpected.
pub static SKIP_ON_FAULT: AtomicU64 = AtomicU64::new(0);
/// The vector of the last fault skipped that way.
pub static LAST_FAULT: AtomicU64 = AtomicU64::new(0);
/// If non-zero, the next #GP or #UD resumes here instead (in 64-bit kernel
/// mode on the flat selectors, keeping the frame's RSP): for probes whose
/// faulting frame cannot simply be resumed, such as a refused `iret`.
pub static RECOVER_AT: AtomicU64 = AtomicU64::new(0);
/// The error code of the last fault recovered or skipped (0 for #UD).
pub static LAST_ERROR: AtomicU64 = AtomicU64::new(0);
/// The RIP of the last fault recovered that way.
pub static LAST_RIP: AtomicU64 = AtomicU64::new(0);
/// The CS word of its frame (RPL 3: raised in guest user mode).
pub static LAST_CS: AtomicU64 = AtomicU64::new(0);
/// The address of its frame (the saved RCX).
pub static LAST_FRAME: AtomicU64 = AtomicU64::new(0);

/// #NM exceptions taken so far. The handler only counts: the hypervisor
/// clears TS when it delivers #NM (Xen's rule), so returning retries the
/// instruction, which then runs.
pub static NM_COUNT: AtomicU64 = AtomicU64::new(0);

/// #DB exceptions taken so far.
pub static DB_COUNT: AtomicU64 = AtomicU64::new(0);
/// DR6 (`get_debugreg(6)`) at the last #DB, which the handler then resets
/// to 0 as an OS does.
pub static LAST_DR6: AtomicU64 = AtomicU64::new(0);
/// The RIP the last #DB returns to (after a trap, the next instruction).
pub static LAST_DB_RIP: AtomicU64 = AtomicU64::new(0);

/// The guest's trap table: #DB, #UD, #NM, #GP and #PF.
pub fn table() -> [TrapInfo; 6] {
    let e = |vector: u8, f: unsafe extern "C" fn()| TrapInfo {
        vector,
        flags: 0,
        cs: FLAT_KERNEL_CS64,
        pad: 0,
        address: f as *const () as u64,
    };
    [e(1, trap_1), e(6, trap_6), e(7, trap_7), e(13, trap_13), e(14, trap_14), TrapInfo::default()]
}

/// Installs `table`.
pub fn install(table: &[TrapInfo]) -> Result<(), abi::Errno> {
    // SAFETY: every entry points at a stub above.
    unsafe { abi::guest::set_trap_table(table) }
}

/// Removes every handler (so the next fault crashes the domain).
pub fn clear() -> Result<(), abi::Errno> {
    abi::guest::clear_trap_table()
}

/// Registers the event and failsafe callbacks (never delivered yet, but a PV
/// kernel registers them at start of day).
pub fn register_callbacks() -> Result<(), abi::Errno> {
    let event = super::events::event_callback as *const () as u64;
    for (kind, address) in
        [(abi::traps::CALLBACKTYPE_EVENT, event), (abi::traps::CALLBACKTYPE_FAILSAFE, trap_6 as *const () as u64)]
    {
        let cb = abi::traps::CallbackRegister { kind, flags: 0, pad: 0, address };
        // SAFETY: the addresses are the entry stubs for these callbacks.
        unsafe { abi::guest::register_callback(&cb)? };
    }
    Ok(())
}

/// Rust side of the stubs. `frame` points at the saved RCX; RIP follows
/// R11 and, for #GP/#PF, the error code.
#[no_mangle]
extern "C" fn guest_trap(vector: u64, frame: *mut u64) {
    let rip_slot = frame.wrapping_add(if matches!(vector, 1 | 6 | 7) { 2 } else { 3 });
    // SAFETY: the RIP and CS words of the frame the hypervisor built here.
    let (rip, cs) = unsafe { (*rip_slot, *rip_slot.add(1)) };
    if cs & 3 == 3 && super::user::active() {
        // From guest user mode (a kernel-mode frame has CS's RPL cleared)
        // while the user tasks run.
        super::user::user_fault(vector, frame as u64, rip, cs);
    }
    match vector {
        1 => {
            DB_COUNT.fetch_add(1, Ordering::SeqCst);
            LAST_DR6.store(abi::guest::get_debugreg(6).unwrap_or(0), Ordering::SeqCst);
            let _ = abi::guest::set_debugreg(6, 0);
            LAST_DB_RIP.store(rip, Ordering::SeqCst);
            // SAFETY: the RFLAGS word of the frame the hypervisor built
            // here: single-stepping stops after one step, and RF lets the
            // instruction an instruction breakpoint stopped run once.
            unsafe { *rip_slot.add(2) = (*rip_slot.add(2) & !(1 << 8)) | (1 << 16) };
        }
        7 => {
            NM_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        14 if SKIP_ON_FAULT.load(Ordering::SeqCst) == 0 => {
            // SAFETY: `pv_page_fault` is defined by the binary linking this runtime.
            if !unsafe { pv_page_fault() } {
                crate::say!("guest: unexpected page fault at rip {rip:#x} cs {cs:#x}");
                crate::say!("Test result: FAILURE");
                abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH);
            }
        }
        _ if RECOVER_AT.load(Ordering::SeqCst) != 0 => {
            LAST_FAULT.store(vector, Ordering::SeqCst);
            // SAFETY: the frame the hypervisor built on this stack: RCX,
            // R11, [error code], RIP, CS, RFLAGS, RSP, SS.
            unsafe {
                LAST_ERROR.store(if vector == 6 { 0 } else { *frame.add(2) }, Ordering::SeqCst);
                LAST_RIP.store(*rip_slot, Ordering::SeqCst);
                LAST_CS.store(*rip_slot.add(1), Ordering::SeqCst);
                LAST_FRAME.store(frame as u64, Ordering::SeqCst);
                *rip_slot = RECOVER_AT.swap(0, Ordering::SeqCst);
                *rip_slot.add(1) = u64::from(FLAT_KERNEL_CS64);
                *rip_slot.add(4) = u64::from(abi::traps::FLAT_KERNEL_SS64);
            }
        }
        _ => {
            let skip = SKIP_ON_FAULT.swap(0, Ordering::SeqCst);
            if skip == 0 {
                crate::say!("guest: unexpected trap {vector}");
                crate::say!("Test result: FAILURE");
                abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH);
            }
            LAST_FAULT.store(vector, Ordering::SeqCst);
            // SAFETY: the frame the hypervisor built on this stack; its
            // third word is the error code of a #GP or #PF, and advancing
            // the saved RIP skips the faulting instruction.
            unsafe {
                LAST_ERROR.store(if matches!(vector, 13 | 14) { *frame.add(2) } else { 0 }, Ordering::SeqCst);
                *rip_slot += skip;
            }
        }
    }
}
