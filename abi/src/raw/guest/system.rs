//! Console, version, scheduling: calls that change nothing the guest's
//! memory safety depends on.

use super::call;
use crate::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use crate::hypercall::HypercallNr;
use crate::sched::{SchedShutdown, SCHEDOP_BLOCK, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD};
use crate::version::*;
use crate::Errno;

/// Writes `bytes` to the hypervisor console (`console_io(CONSOLEIO_WRITE)`).
///
/// # Errors
/// `EFAULT` if the buffer is not readable by the hypervisor.
pub fn console_write(bytes: &[u8]) -> Result<(), Errno> {
    call(HypercallNr::CONSOLE_IO, [CONSOLEIO_WRITE, bytes.len() as u64, bytes.as_ptr() as u64, 0, 0]).map(|_| ())
}

/// Reads console input into `buf` (`console_io(CONSOLEIO_read)`):
/// returns how many bytes were waiting (0 if none). Only the hardware
/// domain has console input; it arrives after Ctrl-A three times on the
/// serial console, with `VIRQ_CONSOLE` sent for each key.
///
/// # Errors
/// `EPERM` for an unprivileged domain, `EFAULT` for a buffer the
/// hypervisor cannot write.
pub fn console_read(buf: &mut [u8]) -> Result<usize, Errno> {
    let n = call(HypercallNr::CONSOLE_IO, [CONSOLEIO_READ, buf.len() as u64, buf.as_mut_ptr() as u64, 0, 0])?;
    Ok(n as usize)
}

/// `console_io(CONSOLEIO_WRITE)` with an arbitrary pointer, returning raw
/// RAX. For conformance tests that pass hostile pointers on purpose: the
/// hypervisor checks the range and answers `-EFAULT`; no guest memory is
/// written, so this is safe to call with any value.
pub fn console_write_raw(ptr: u64, len: u64) -> i64 {
    // SAFETY: console_io only reads the buffer, and the hypervisor validates
    // the pointer; nothing in the guest is changed.
    unsafe { super::hypercall5(HypercallNr::CONSOLE_IO.0, CONSOLEIO_WRITE, len, ptr, 0, 0) }
}

/// The hypervisor version as `(major, minor)` (`XENVER_version`).
pub fn version() -> (u16, u16) {
    let v = call(HypercallNr::XEN_VERSION, [XENVER_VERSION, 0, 0, 0, 0]).unwrap_or(0);
    ((v >> 16) as u16, v as u16)
}

fn version_into<T>(cmd: u64, out: &mut T) -> Result<u64, Errno> {
    call(HypercallNr::XEN_VERSION, [cmd, out as *mut T as u64, 0, 0, 0])
}

/// The 16-byte extra-version string (e.g. `".0-xen-core"`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn extra_version() -> Result<ExtraVersion, Errno> {
    let mut buf: ExtraVersion = [0; 16];
    version_into(XENVER_EXTRAVERSION, &mut buf)?;
    Ok(buf)
}

/// Compiler, builder and date of the hypervisor (`XENVER_compile_info`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn compile_info() -> Result<CompileInfo, Errno> {
    let mut ci = CompileInfo { compiler: [0; 64], compile_by: [0; 16], compile_domain: [0; 32], compile_date: [0; 32] };
    version_into(XENVER_COMPILE_INFO, &mut ci)?;
    Ok(ci)
}

/// The capability string, e.g. `"xen-3.0-x86_64 "` (`XENVER_capabilities`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn capabilities() -> Result<Capabilities, Errno> {
    let mut buf: Capabilities = [0; 1024];
    version_into(XENVER_CAPABILITIES, &mut buf)?;
    Ok(buf)
}

/// The source changeset (`XENVER_changeset`; xen-core: `"unavailable"`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn changeset() -> Result<ChangesetInfo, Errno> {
    let mut buf: ChangesetInfo = [0; 64];
    version_into(XENVER_CHANGESET, &mut buf)?;
    Ok(buf)
}

/// Where the hypervisor's reserved range starts (`XENVER_platform_parameters`).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn platform_parameters() -> Result<PlatformParameters, Errno> {
    let mut pp = PlatformParameters::default();
    version_into(XENVER_PLATFORM_PARAMETERS, &mut pp)?;
    Ok(pp)
}

/// XENFEAT submap 0 (`XENVER_get_features`).
///
/// # Errors
/// `EFAULT` if the argument cannot be accessed.
pub fn features() -> Result<u32, Errno> {
    let mut fi = FeatureInfo::default();
    version_into(XENVER_GET_FEATURES, &mut fi)?;
    Ok(fi.submap)
}

/// The page size (`XENVER_pagesize`: 4096).
pub fn page_size() -> u64 {
    call(HypercallNr::XEN_VERSION, [XENVER_PAGESIZE, 0, 0, 0, 0]).unwrap_or(0)
}

/// The domain's handle (`XENVER_guest_handle`; 16 bytes, zero unless a
/// toolstack set one).
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn guest_handle() -> Result<[u8; 16], Errno> {
    let mut buf = [0u8; 16];
    version_into(XENVER_GUEST_HANDLE, &mut buf)?;
    Ok(buf)
}

/// The hypervisor's command line (`XENVER_commandline`); domains other
/// than the control domain read `<denied>`.
///
/// # Errors
/// `EFAULT` if the buffer cannot be written.
pub fn commandline() -> Result<Commandline, Errno> {
    let mut buf: Commandline = [0; 1024];
    version_into(XENVER_COMMANDLINE, &mut buf)?;
    Ok(buf)
}

/// The hypervisor's build id into `buf` (after a 4-byte length header),
/// returning its length (`XENVER_build_id`).
///
/// # Errors
/// `EPERM` unless the control domain; `ENODATA` on xen-core (its image has
/// no build-id note); `ENOBUFS` if `buf` is too small; `EINVAL` if it is
/// shorter than 5 bytes.
pub fn build_id(buf: &mut [u8]) -> Result<usize, Errno> {
    if buf.len() < 5 {
        return Err(Errno::EINVAL);
    }
    let room = (buf.len() - 4).min(u32::MAX as usize) as u32;
    buf[..4].copy_from_slice(&room.to_le_bytes());
    call(HypercallNr::XEN_VERSION, [XENVER_BUILD_ID, buf.as_mut_ptr() as u64, 0, 0, 0]).map(|n| n as usize)
}

/// Gives up the CPU (`SCHEDOP_yield`).
pub fn yield_now() {
    let _ = call(HypercallNr::SCHED_OP, [SCHEDOP_YIELD, 0, 0, 0, 0]);
}

/// Blocks until an event is pending (`SCHEDOP_block`). xen-core has no
/// event sources yet: a domain that blocks while no other domain can run
/// is crashed.
pub fn block() {
    let _ = call(HypercallNr::SCHED_OP, [SCHEDOP_BLOCK, 0, 0, 0, 0]);
}

/// Shuts the domain down with `reason` (`SHUTDOWN_*`). Does not return.
pub fn shutdown(reason: u32) -> ! {
    let arg = SchedShutdown { reason };
    loop {
        let _ = call(HypercallNr::SCHED_OP, [SCHEDOP_SHUTDOWN, &arg as *const SchedShutdown as u64, 0, 0, 0]);
    }
}

/// The old `sched_op_compat` (6): `SCHEDOP_yield`, `SCHEDOP_block` or
/// `SCHEDOP_shutdown` with the reason itself (not a pointer) as `arg`.
///
/// # Errors
/// `ENOSYS` for other commands.
pub fn sched_op_compat(cmd: u64, arg: u64) -> Result<u64, Errno> {
    call(HypercallNr::SCHED_OP_COMPAT, [cmd, arg, 0, 0, 0])
}
