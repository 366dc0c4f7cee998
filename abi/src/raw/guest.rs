//! Typed hypercall wrappers for guest kernels: requests in, `Result` out.
//!
//! Calls that only read hypervisor state or write into buffers borrowed
//! here are safe functions. Calls that change the guest's own page tables,
//! trap handlers or callbacks can break the guest's memory safety (unmapping
//! its stack, pointing a handler at data), so they are `unsafe fn`, like
//! mapping functions in any kernel.
//!
//! # Example: a minimal PV guest
//!
//! A complete guest is an ELF64 image with the Xen notes the loader checks
//! (`GUEST_OS`, `XEN_VERSION`, `LOADER`, `VIRT_BASE`, `ENTRY`) and an
//! entry point receiving `start_info` in RSI:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use abi::{guest, sched::SHUTDOWN_POWEROFF, start_info::StartInfo};
//!
//! #[no_mangle]
//! extern "C" fn guest_main(start_info: &'static StartInfo) -> ! {
//!     let _ = guest::console_write(b"hello from a PV guest\n");
//!     let _ = guest::console_write(start_info.cmdline().as_bytes());
//!     guest::shutdown(SHUTDOWN_POWEROFF)
//! }
//! ```
//! guest-kernel in this repository is the full worked example, notes and
//! entry assembly included.

use super::hypercall5;
use crate::console::CONSOLEIO_WRITE;
use crate::hypercall::HypercallNr;
use crate::memory::{
    MemoryReservation, XENMEM_CURRENT_RESERVATION, XENMEM_DECREASE_RESERVATION, XENMEM_MAXIMUM_RESERVATION,
    XENMEM_POPULATE_PHYSMAP,
};
use crate::mmu::{MmuUpdate, MmuextOp};
use crate::sched::{SchedShutdown, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD};
use crate::traps::{CallbackRegister, TrapInfo, CALLBACKOP_REGISTER};
use crate::version::{ExtraVersion, FeatureInfo, XENVER_EXTRAVERSION, XENVER_GET_FEATURES, XENVER_VERSION};
use crate::{DomId, Errno};

fn call(nr: HypercallNr, a: [u64; 5]) -> Result<u64, Errno> {
    // SAFETY: the callers below pass only arguments valid for `nr`: values,
    // or pointers to live buffers of the type the hypercall expects.
    Errno::from_rax(unsafe { hypercall5(nr.0, a[0], a[1], a[2], a[3], a[4]) })
}

/// A batch that stopped early: the error and how many requests were done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// The failing request's error.
    pub errno: Errno,
    /// Requests completed before it.
    pub done: u32,
}

/// Writes `bytes` to the hypervisor console.
///
/// # Errors
/// `EFAULT` if the buffer is not readable by the hypervisor.
pub fn console_write(bytes: &[u8]) -> Result<(), Errno> {
    call(HypercallNr::CONSOLE_IO, [CONSOLEIO_WRITE, bytes.len() as u64, bytes.as_ptr() as u64, 0, 0]).map(|_| ())
}

/// `console_io(CONSOLEIO_WRITE)` with an arbitrary pointer, returning raw
/// RAX. For conformance tests that pass hostile pointers on purpose: the
/// hypervisor checks the range and answers `-EFAULT`; no guest memory is
/// written, so this is safe to call with any value.
pub fn console_write_raw(ptr: u64, len: u64) -> i64 {
    // SAFETY: console_io only reads the buffer, and the hypervisor validates
    // the pointer; nothing in the guest is changed.
    unsafe { hypercall5(HypercallNr::CONSOLE_IO.0, CONSOLEIO_WRITE, len, ptr, 0, 0) }
}

/// The hypervisor version as `(major, minor)`.
pub fn version() -> (u16, u16) {
    let v = call(HypercallNr::XEN_VERSION, [XENVER_VERSION, 0, 0, 0, 0]).unwrap_or(0);
    ((v >> 16) as u16, v as u16)
}

/// The 16-byte extra-version string (e.g. `".0-xen-core"`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn extra_version() -> Result<ExtraVersion, Errno> {
    let mut buf: ExtraVersion = [0; 16];
    call(HypercallNr::XEN_VERSION, [XENVER_EXTRAVERSION, buf.as_mut_ptr() as u64, 0, 0, 0])?;
    Ok(buf)
}

/// XENFEAT submap 0.
///
/// # Errors
/// `EFAULT` if the argument cannot be accessed.
pub fn features() -> Result<u32, Errno> {
    let mut fi = FeatureInfo::default();
    call(HypercallNr::XEN_VERSION, [XENVER_GET_FEATURES, &mut fi as *mut FeatureInfo as u64, 0, 0, 0])?;
    Ok(fi.submap)
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

/// Gives up the CPU.
pub fn yield_now() {
    let _ = call(HypercallNr::SCHED_OP, [SCHEDOP_YIELD, 0, 0, 0, 0]);
}

/// Shuts the domain down with `reason` (`SHUTDOWN_*`). Does not return.
pub fn shutdown(reason: u32) -> ! {
    let arg = SchedShutdown { reason };
    loop {
        let _ = call(HypercallNr::SCHED_OP, [SCHEDOP_SHUTDOWN, &arg as *const SchedShutdown as u64, 0, 0, 0]);
    }
}

/// Pages the domain currently owns.
///
/// # Errors
/// `ESRCH` for an unknown domain, `EPERM` for another domain without privilege.
pub fn current_reservation(dom: DomId) -> Result<u64, Errno> {
    call(HypercallNr::MEMORY_OP, [XENMEM_CURRENT_RESERVATION, &dom as *const DomId as u64, 0, 0, 0])
}

/// Most pages the domain may own.
///
/// # Errors
/// As [`current_reservation`].
pub fn maximum_reservation(dom: DomId) -> Result<u64, Errno> {
    call(HypercallNr::MEMORY_OP, [XENMEM_MAXIMUM_RESERVATION, &dom as *const DomId as u64, 0, 0, 0])
}

fn batch(nr: HypercallNr, ptr: u64, count: usize, foreigndom: u64) -> Result<(), BatchError> {
    let mut done: u32 = 0;
    match call(nr, [ptr, count as u64, &mut done as *mut u32 as u64, foreigndom, 0]) {
        Ok(_) => Ok(()),
        Err(errno) => Err(BatchError { errno, done }),
    }
}

/// Applies page-table updates (`mmu_update`), stopping at the first failure.
///
/// # Errors
/// The failing request's errno and the number done: see the fact sheet
/// §3.11 (`EINVAL`, `EBUSY`, `EPERM`, `ESRCH`, `ENOSYS`, `EFAULT`).
///
/// # Safety
/// The updates must keep every mapping the guest relies on (its code,
/// stack and data) valid.
pub unsafe fn mmu_update(reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), BatchError> {
    batch(HypercallNr::MMU_UPDATE, reqs.as_ptr() as u64, reqs.len(), u64::from(foreigndom.0))
}

/// Applies extended MMU operations (`mmuext_op`).
///
/// # Errors
/// As the fact sheet §4 lists per command.
///
/// # Safety
/// As [`mmu_update`]: base-pointer switches and unpins must leave the
/// guest's code, stack and data mapped.
pub unsafe fn mmuext_op(ops: &[MmuextOp], foreigndom: DomId) -> Result<(), BatchError> {
    batch(HypercallNr::MMUEXT_OP, ops.as_ptr() as u64, ops.len(), u64::from(foreigndom.0))
}

/// Changes the L1 entry mapping `va` (`update_va_mapping`).
///
/// # Errors
/// `EINVAL` if no validated L1 maps `va`, plus the L1 entry errors.
///
/// # Safety
/// As [`mmu_update`].
pub unsafe fn update_va_mapping(va: u64, val: u64, flags: u64) -> Result<(), Errno> {
    call(HypercallNr::UPDATE_VA_MAPPING, [va, val, flags, 0, 0]).map(|_| ())
}

/// Installs the virtual IDT; `table` must end with an entry whose address is 0.
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

/// Registers a callback (`callback_op(CALLBACKOP_REGISTER)`).
///
/// # Errors
/// `ENOSYS` for an unknown type, `EINVAL` for a non-canonical address.
///
/// # Safety
/// The address must be code that can run as that callback.
pub unsafe fn register_callback(cb: &CallbackRegister) -> Result<(), Errno> {
    call(HypercallNr::CALLBACK_OP, [CALLBACKOP_REGISTER, cb as *const CallbackRegister as u64, 0, 0, 0]).map(|_| ())
}

/// Sets the kernel stack used when the guest enters kernel mode from user
/// mode (`stack_switch`).
///
/// # Safety
/// `sp` must be the top of a stack the guest kernel may use.
pub unsafe fn stack_switch(ss: u16, sp: u64) -> Result<(), Errno> {
    call(HypercallNr::STACK_SWITCH, [u64::from(ss), sp, 0, 0, 0]).map(|_| ())
}

fn reservation(op: u64, frames: *mut u64, count: usize) -> u64 {
    let r = MemoryReservation {
        extent_start: frames as u64,
        nr_extents: count as u64,
        domid: DomId::SELF,
        ..Default::default()
    };
    // The return value counts extents done; it is never an errno.
    call(HypercallNr::MEMORY_OP, [op, &r as *const MemoryReservation as u64, 0, 0, 0]).unwrap_or(0)
}

/// Gives the frames `mfns` back to the hypervisor (`decrease_reservation`,
/// order 0). Returns how many were given back; processing stops at the
/// first frame the domain does not own.
///
/// # Safety
/// The guest must no longer use the frames (they may be handed to another
/// domain once their last reference is gone) and must drop them from its
/// p2m.
pub unsafe fn decrease_reservation(mfns: &mut [u64]) -> u64 {
    reservation(XENMEM_DECREASE_RESERVATION, mfns.as_mut_ptr(), mfns.len())
}

/// Asks for new frames for the pseudo-physical frames in `gpfns`
/// (`populate_physmap`, order 0); each element is replaced by the MFN it
/// got, and the M2P entries are set. Returns how many were populated.
pub fn populate_physmap(gpfns: &mut [u64]) -> u64 {
    reservation(XENMEM_POPULATE_PHYSMAP, gpfns.as_mut_ptr(), gpfns.len())
}

/// `grant_table_op(cmd, ops, count)` over a slice of `T`, returning raw RAX.
/// The per-element results are in each element's `status`.
///
/// # Safety
/// `T` must be the element type of `cmd` (for example
/// [`crate::grant_table::MapGrantRef`] for `GNTTABOP_MAP_GRANT_REF`). Host
/// mappings change the caller's page tables: the addresses they name must
/// not be memory the guest relies on.
pub unsafe fn grant_table_op<T>(cmd: u64, ops: &mut [T]) -> i64 {
    // SAFETY: guaranteed by the caller; the slice is live and writable.
    unsafe { hypercall5(HypercallNr::GRANT_TABLE_OP.0, cmd, ops.as_mut_ptr() as u64, ops.len() as u64, 0, 0) }
}

/// `GNTTABOP_setup_table` for `DOMID_SELF`: grows the table to
/// `frames.len()` frames and fills `frames` with their MFNs. Returns the
/// `GNTST_*` status.
///
/// # Errors
/// The hypercall's own errno (`EFAULT` for an unreadable list).
pub fn grant_setup_table(frames: &mut [u64]) -> Result<i16, Errno> {
    use crate::grant_table::{SetupTable, GNTTABOP_SETUP_TABLE};
    let mut op = SetupTable {
        dom: DomId::SELF,
        nr_frames: frames.len() as u32,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    call(HypercallNr::GRANT_TABLE_OP, [GNTTABOP_SETUP_TABLE, &mut op as *mut SetupTable as u64, 1, 0, 0])?;
    Ok(op.status)
}

/// `GNTTABOP_set_version`: returns the version in force afterwards.
///
/// # Errors
/// `EINVAL` for a version other than 1 or 2; `EBUSY` while entries are in use.
pub fn grant_set_version(version: u32) -> Result<u32, Errno> {
    use crate::grant_table::{SetVersion, GNTTABOP_SET_VERSION};
    let mut op = SetVersion { version };
    call(HypercallNr::GRANT_TABLE_OP, [GNTTABOP_SET_VERSION, &mut op as *mut SetVersion as u64, 1, 0, 0])?;
    Ok(op.version)
}

/// One `GNTTABOP_copy`; returns its `GNTST_*` status.
///
/// # Errors
/// The hypercall's own errno (`EFAULT` for an unreadable element).
pub fn grant_copy(op: &mut crate::grant_table::GnttabCopy) -> Result<i16, Errno> {
    use crate::grant_table::{GnttabCopy, GNTTABOP_COPY};
    call(HypercallNr::GRANT_TABLE_OP, [GNTTABOP_COPY, op as *mut GnttabCopy as u64, 1, 0, 0])?;
    Ok(op.status)
}
