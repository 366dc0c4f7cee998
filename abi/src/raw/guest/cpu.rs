//! The virtual CPU: traps and callbacks, stacks, descriptor tables,
//! segment bases, FPU, debug registers, I/O privilege and `iret`.

use super::call;
use crate::hypercall::HypercallNr;
use crate::physdev::{SetIobitmap, SET_IOBITMAP, SET_IOPL};
use crate::traps::{
    CallbackRegister, CallbackUnregister, IretFrame, TrapInfo, CALLBACKOP_REGISTER, CALLBACKOP_UNREGISTER,
};
use crate::{Errno, Mfn};

/// Installs the virtual IDT (`set_trap_table`); `table` must end with an
/// entry whose address is 0.
///
/// # Errors
/// `EINVAL` for a non-canonical handler, `EFAULT` for an unreadable table.
///
/// # Safety
/// Every handler must be code that can run as the guest's trap handler.
pub unsafe fn set_trap_table(table: &[TrapInfo]) -> Result<(), Errno> {
    call(HypercallNr::SET_TRAP_TABLE, [table.as_ptr() as u64, 0, 0, 0, 0]).map(|_| ())
}

/// Removes every virtual IDT entry (`set_trap_table(NULL)`): the next
/// exception crashes the domain.
///
/// # Errors
/// None in practice.
pub fn clear_trap_table() -> Result<(), Errno> {
    call(HypercallNr::SET_TRAP_TABLE, [0, 0, 0, 0, 0]).map(|_| ())
}

/// Registers a callback (`callback_op(CALLBACKOP_register)`).
///
/// # Errors
/// `ENOSYS` for an unknown type, `EINVAL` for a non-canonical address.
///
/// # Safety
/// The address must be code that can run as that callback.
pub unsafe fn register_callback(cb: &CallbackRegister) -> Result<(), Errno> {
    call(HypercallNr::CALLBACK_OP, [CALLBACKOP_REGISTER, cb as *const CallbackRegister as u64, 0, 0, 0]).map(|_| ())
}

/// Removes a callback (`callback_op(CALLBACKOP_unregister)`).
///
/// # Errors
/// `ENOSYS` for an unknown type, `EINVAL` for one that cannot be removed
/// (event and failsafe).
pub fn unregister_callback(kind: u16) -> Result<(), Errno> {
    let cb = CallbackUnregister { kind, pad: 0 };
    call(HypercallNr::CALLBACK_OP, [CALLBACKOP_UNREGISTER, &cb as *const CallbackUnregister as u64, 0, 0, 0])
        .map(|_| ())
}

/// The old `set_callbacks` (4): event, failsafe and syscall callback
/// addresses at once (a non-canonical one is ignored).
///
/// # Errors
/// None on Xen 4.17.
///
/// # Safety
/// As [`register_callback`], for each address.
pub unsafe fn set_callbacks(event: u64, failsafe: u64, syscall: u64) -> Result<(), Errno> {
    call(HypercallNr::SET_CALLBACKS, [event, failsafe, syscall, 0, 0]).map(|_| ())
}

/// Sets the kernel stack used when the guest enters kernel mode from user
/// mode (`stack_switch`).
///
/// # Errors
/// None on Xen 4.17.
///
/// # Safety
/// `sp` must be the top of a stack the guest kernel may use.
pub unsafe fn stack_switch(ss: u16, sp: u64) -> Result<(), Errno> {
    call(HypercallNr::STACK_SWITCH, [u64::from(ss), sp, 0, 0, 0]).map(|_| ())
}

/// Installs a GDT of `entries` descriptors held in `frames` (512 per
/// frame; `set_gdt`). The frames take the descriptor-page type: they must
/// not be mapped writable anywhere.
///
/// # Errors
/// `EINVAL` for more than 7168 entries, a writable-mapped frame or a bad
/// descriptor (system descriptors and gates are refused); `EFAULT` for an
/// unreadable list.
///
/// # Safety
/// The segments the guest has loaded must stay valid in the new table.
pub unsafe fn set_gdt(frames: &[Mfn], entries: u64) -> Result<(), Errno> {
    call(HypercallNr::SET_GDT, [frames.as_ptr() as u64, entries, 0, 0, 0]).map(|_| ())
}

/// Writes the 8-byte descriptor `desc` at machine address `maddr`
/// (`update_descriptor`).
///
/// # Errors
/// `EINVAL` for a misaligned address, a frame the domain does not own or
/// that cannot take the descriptor-page type, or a bad descriptor.
///
/// # Safety
/// A descriptor in use (loaded, or in the current GDT) must stay valid.
pub unsafe fn update_descriptor(maddr: u64, desc: u64) -> Result<(), Errno> {
    call(HypercallNr::UPDATE_DESCRIPTOR, [maddr, desc, 0, 0, 0]).map(|_| ())
}

/// Loads a segment base (`set_segment_base`; `which` is a
/// `crate::segbase::SEGBASE_*`).
///
/// # Errors
/// `EINVAL` for a non-canonical base or an unknown `which`.
/// `SEGBASE_GS_USER_SEL` never fails: a selector the guest could not load
/// becomes the null selector.
///
/// # Safety
/// Code relying on the old base (thread-local or per-CPU data) must not
/// run with the new one.
pub unsafe fn set_segment_base(which: u64, base: u64) -> Result<(), Errno> {
    call(HypercallNr::SET_SEGMENT_BASE, [which, base, 0, 0, 0]).map(|_| ())
}

/// Turns an assist on or off (`vm_assist`; `cmd` and `kind` from
/// `crate::vm_assist`).
///
/// # Errors
/// `EINVAL` for an unknown type, `ENOSYS` for an unknown command.
pub fn vm_assist(cmd: u64, kind: u64) -> Result<(), Errno> {
    call(HypercallNr::VM_ASSIST, [cmd, kind, 0, 0, 0]).map(|_| ())
}

/// `fpu_taskswitch`: sets (`true`) or clears the virtual CR0.TS. While it
/// is set the next x87/MMX/SSE instruction raises #NM, delivered to trap 7
/// with TS cleared.
///
/// # Errors
/// None on Xen 4.17 (always 0).
pub fn fpu_taskswitch(set: bool) -> Result<u64, Errno> {
    call(HypercallNr::FPU_TASKSWITCH, [u64::from(set), 0, 0, 0, 0])
}

/// Sets debug register `reg` (`set_debugreg`): DR0–3 addresses (never
/// the hypervisor's range), DR6, DR7. Breakpoints it enables fire in the
/// guest as #DB (trap 1), with DR6 readable through [`get_debugreg`].
///
/// # Errors
/// `EPERM` for a DR0–DR3 address in the hypervisor's range, DR7.GD, or an
/// I/O breakpoint without CR4.DE; `EINVAL` for upper bits in DR6/DR7;
/// `ENODEV` for DR4/DR5 under CR4.DE and registers above 7.
pub fn set_debugreg(reg: u64, value: u64) -> Result<(), Errno> {
    call(HypercallNr::SET_DEBUGREG, [reg, value, 0, 0, 0]).map(|_| ())
}

/// Reads virtual debug register `reg` (`get_debugreg`).
///
/// # Errors
/// `ENODEV` for DR4/DR5 under CR4.DE and registers above 7.
pub fn get_debugreg(reg: u64) -> Result<u64, Errno> {
    call(HypercallNr::GET_DEBUGREG, [reg, 0, 0, 0, 0])
}

/// Sets the virtual IOPL the emulator checks `in`/`out` against
/// (`physdev_op(PHYSDEVOP_set_iopl)`).
///
/// # Errors
/// `EINVAL` above 3.
pub fn set_iopl(iopl: u32) -> Result<(), Errno> {
    call(HypercallNr::PHYSDEV_OP, [SET_IOPL, &iopl as *const u32 as u64, 0, 0, 0]).map(|_| ())
}

/// Sets the I/O bitmap (a set bit denies the port) for the first
/// `nr_ports` ports (`physdev_op(PHYSDEVOP_set_iobitmap)`). The hypervisor
/// reads the bitmap at every emulated port access, hence `'static`.
///
/// # Errors
/// `EINVAL` for more than 65536 ports.
pub fn set_iobitmap(bitmap: &'static [u8; 8192], nr_ports: u32) -> Result<(), Errno> {
    let arg = SetIobitmap { bitmap: bitmap.as_ptr() as u64, nr_ports, pad: 0 };
    call(HypercallNr::PHYSDEV_OP, [SET_IOBITMAP, &arg as *const SetIobitmap as u64, 0, 0, 0]).map(|_| ())
}

/// Runs a batch of hypercalls (`multicall`); each entry's `result` receives
/// its return value.
///
/// # Errors
/// `EFAULT` if the list cannot be read or written.
///
/// # Safety
/// Each entry must be safe as the corresponding wrapper states; the list
/// may be rewritten by the hypervisor (continuations).
pub unsafe fn multicall(entries: &mut [crate::multicall::MulticallEntry]) -> Result<(), Errno> {
    call(HypercallNr::MULTICALL, [entries.as_mut_ptr() as u64, entries.len() as u64, 0, 0, 0]).map(|_| ())
}

/// Returns through `iret` (23) with `frame`: loads RAX, R11, RCX, RIP, CS,
/// RFLAGS, RSP and SS from it (see `crate::traps` for the checks and the
/// faults a bad frame raises). Does not return.
///
/// # Safety
/// `frame.rip`, `frame.rsp` and the selectors must describe a context the
/// guest can continue in; the frame must be readable guest memory.
pub unsafe fn iret(frame: &IretFrame) -> ! {
    // SAFETY: the hypercall reads the frame at RSP and resumes where it
    // says, which the caller vouches for; nothing returns here.
    unsafe {
        core::arch::asm!(
            "mov rsp, {frame}",
            "syscall",
            "ud2",
            frame = in(reg) frame as *const IretFrame,
            in("rax") HypercallNr::IRET.0,
            options(noreturn),
        )
    }
}
