//! Page tables (`mmu_update`, `mmuext_op`, `update_va_mapping`) and the
//! domain's memory (`memory_op`).

use super::{call, BatchError};
use crate::hypercall::HypercallNr;
use crate::memory::*;
use crate::mmu::{MmuUpdate, MmuextOp};
use crate::pagetable::Pte;
use crate::{DomId, Errno, GuestVa, Mfn, Pfn};

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
/// The failing request's errno and the number done; the
/// [guide's memory rules](crate::guide#the-memory-rules) list which rule
/// answers `EINVAL`, `EBUSY`, `EPERM`, `ESRCH`, `ENOSYS` or `EFAULT`.
///
/// # Safety
/// The updates must keep every mapping the guest relies on (its code,
/// stack and data) valid.
pub unsafe fn mmu_update(reqs: &[MmuUpdate], foreigndom: DomId) -> Result<(), BatchError> {
    batch(HypercallNr::MMU_UPDATE, reqs.as_ptr() as u64, reqs.len(), u64::from(foreigndom.0))
}

/// Applies extended MMU operations (`mmuext_op`): pins, base pointers,
/// TLB flushes, LDT, page clear/copy.
///
/// # Errors
/// As [`mmu_update`]; see the [guide](crate::guide#the-memory-rules).
///
/// # Safety
/// As [`mmu_update`]: base-pointer switches and unpins must leave the
/// guest's code, stack and data mapped.
pub unsafe fn mmuext_op(ops: &[MmuextOp], foreigndom: DomId) -> Result<(), BatchError> {
    batch(HypercallNr::MMUEXT_OP, ops.as_ptr() as u64, ops.len(), u64::from(foreigndom.0))
}

/// Changes the L1 entry mapping `va` in the current tables
/// (`update_va_mapping`); `flags` is a `UVMF_*` flush type.
///
/// # Errors
/// `EINVAL` if no validated L1 maps `va`, plus the L1 entry errors of
/// [`mmu_update`].
///
/// # Safety
/// As [`mmu_update`].
pub unsafe fn update_va_mapping(va: GuestVa, pte: Pte, flags: u64) -> Result<(), Errno> {
    call(HypercallNr::UPDATE_VA_MAPPING, [va.0, pte.bits(), flags, 0, 0]).map(|_| ())
}

fn memory_op<T>(cmd: u64, arg: &mut T) -> Result<u64, Errno> {
    call(HypercallNr::MEMORY_OP, [cmd, arg as *mut T as u64, 0, 0, 0])
}

/// Pages the domain currently owns (`XENMEM_current_reservation`).
///
/// # Errors
/// `ESRCH` for an unknown domain, `EPERM` for another domain without privilege.
pub fn current_reservation(dom: DomId) -> Result<u64, Errno> {
    memory_op(XENMEM_CURRENT_RESERVATION, &mut { dom })
}

/// Most pages the domain may own (`XENMEM_maximum_reservation`).
///
/// # Errors
/// As [`current_reservation`].
pub fn maximum_reservation(dom: DomId) -> Result<u64, Errno> {
    memory_op(XENMEM_MAXIMUM_RESERVATION, &mut { dom })
}

/// One more than the highest machine frame of RAM (`XENMEM_maximum_ram_page`).
///
/// # Errors
/// None in practice.
pub fn maximum_ram_page() -> Result<u64, Errno> {
    call(HypercallNr::MEMORY_OP, [XENMEM_MAXIMUM_RAM_PAGE, 0, 0, 0, 0])
}

/// Where the read-only M2P is mapped (`XENMEM_machphys_mapping`).
///
/// # Errors
/// `EFAULT` if the result cannot be written.
pub fn machphys_mapping() -> Result<MachphysMapping, Errno> {
    let mut m = MachphysMapping::default();
    memory_op(XENMEM_MACHPHYS_MAPPING, &mut m)?;
    Ok(m)
}

/// The frames holding the M2P, one per 2 MiB of it, into `out`; returns
/// how many were written (`XENMEM_machphys_mfn_list`).
///
/// # Errors
/// `EFAULT` if `out` cannot be written.
pub fn machphys_mfn_list(out: &mut [Mfn]) -> Result<usize, Errno> {
    let mut list = MachphysMfnList {
        max_extents: out.len().min(u32::MAX as usize) as u32,
        extent_start: out.as_mut_ptr() as u64,
        ..Default::default()
    };
    memory_op(XENMEM_MACHPHYS_MFN_LIST, &mut list)?;
    Ok(list.nr_extents as usize)
}

/// The domain's pseudo-physical memory map into `out` (`XENMEM_memory_map`);
/// returns the entries written.
///
/// # Errors
/// `ENOSYS` for domain 0 (it has none, as on Xen); `EFAULT`.
pub fn memory_map(out: &mut [E820Entry]) -> Result<usize, Errno> {
    e820(XENMEM_MEMORY_MAP, out)
}

/// The host's memory map into `out` (`XENMEM_machine_memory_map`, control
/// domain only); returns the entries written.
///
/// # Errors
/// `EPERM` for other domains; `EFAULT`.
pub fn machine_memory_map(out: &mut [E820Entry]) -> Result<usize, Errno> {
    e820(XENMEM_MACHINE_MEMORY_MAP, out)
}

fn e820(cmd: u64, out: &mut [E820Entry]) -> Result<usize, Errno> {
    let mut map = MemoryMap {
        nr_entries: out.len().min(u32::MAX as usize) as u32,
        buffer: out.as_mut_ptr() as u64,
        ..Default::default()
    };
    memory_op(cmd, &mut map)?;
    Ok(map.nr_entries as usize)
}

fn reservation(op: u64, frames: *mut u64, count: usize) -> u64 {
    let mut r = MemoryReservation {
        extent_start: frames as u64,
        nr_extents: count as u64,
        domid: DomId::SELF,
        ..Default::default()
    };
    // The return value counts extents done; it is never an errno.
    memory_op(op, &mut r).unwrap_or(0)
}

/// Asks for `mfns.len()` more frames (`XENMEM_increase_reservation`, order
/// 0); each one's MFN is written into `mfns`. Returns how many were
/// granted (fewer once `max_pages` is reached). The frames belong to the
/// domain but have no PFN yet: the guest picks one, sets the M2P
/// (`MMU_MACHPHYS_UPDATE`) and its p2m.
pub fn increase_reservation(mfns: &mut [Mfn]) -> u64 {
    reservation(XENMEM_INCREASE_RESERVATION, mfns.as_mut_ptr().cast(), mfns.len())
}

/// Gives the frames `mfns` back to the hypervisor (`XENMEM_decrease_reservation`,
/// order 0). Returns how many were given back; processing stops at the
/// first frame the domain does not own.
///
/// # Safety
/// The guest must no longer use the frames (they may be handed to another
/// domain once their last reference is gone) and must drop them from its
/// p2m.
pub unsafe fn decrease_reservation(mfns: &mut [Mfn]) -> u64 {
    reservation(XENMEM_DECREASE_RESERVATION, mfns.as_mut_ptr().cast(), mfns.len())
}

/// Asks for new frames for the pseudo-physical frames `pfns`
/// (`XENMEM_populate_physmap`, order 0): `mfns[i]` receives the frame
/// `pfns[i]` got, and the M2P entries are set. Returns how many were
/// populated (the first ones); `mfns` must be at least as long as `pfns`.
pub fn populate_physmap(pfns: &[Pfn], mfns: &mut [Mfn]) -> u64 {
    let out = &mut mfns[..pfns.len()];
    for (o, p) in out.iter_mut().zip(pfns) {
        *o = Mfn(p.0);
    }
    reservation(XENMEM_POPULATE_PHYSMAP, out.as_mut_ptr().cast(), out.len())
}

/// Exchanges the input extents for new ones (`XENMEM_exchange`), writing
/// the new MFNs into the output array; progress is in `x.nr_exchanged`.
///
/// # Errors
/// `EINVAL` for mismatched sizes, orders above 9 or `nr_exchanged` beyond
/// the input; `EFAULT` for unreadable arrays; `ENOMEM` when frames run out
/// or exceed the output address-bits limit; `ESRCH`/`EPERM` for the domain.
///
/// # Safety
/// As [`decrease_reservation`] for the input frames, and `x`'s arrays must
/// be valid guest buffers of the sizes the extents describe.
pub unsafe fn exchange(x: &mut MemoryExchange) -> Result<(), Errno> {
    memory_op(XENMEM_EXCHANGE, x).map(|_| ())
}
