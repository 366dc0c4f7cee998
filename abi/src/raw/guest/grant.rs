//! Grant tables: `grant_table_op` and typed wrappers for the
//! single-element commands.

use super::{call, hypercall5};
use crate::hypercall::HypercallNr;
use crate::{DomId, Errno, Mfn};

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
pub fn grant_setup_table(frames: &mut [Mfn]) -> Result<i16, Errno> {
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
