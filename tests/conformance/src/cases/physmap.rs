//! `XENMEM_add_to_physmap` (7) and `XENMEM_add_to_physmap_batch` (23):
//! translated guests only, so a PV domain is refused; each check in the
//! order Xen 4.17 makes them.

use super::{call, Suite, EACCES, EFAULT, ENOSYS, EOPNOTSUPP, ESRCH, HV, N};
use abi::memory::*;

const EDOM: i64 = -33;
const SELF: u16 = 0x7FF0;

/// `xen_add_to_physmap` (24 bytes), 8-aligned.
#[repr(C, align(8))]
struct Xatp([u8; 24]);

/// `xen_add_to_physmap_batch` (32 bytes), 8-aligned.
#[repr(C, align(8))]
struct Xatpb([u8; 32]);

fn single(cmd: u64, domid: u16, space: u32) -> i64 {
    let mut a = Xatp([0; 24]);
    a.0[..2].copy_from_slice(&domid.to_le_bytes());
    a.0[2..4].copy_from_slice(&1u16.to_le_bytes());
    a.0[4..8].copy_from_slice(&space.to_le_bytes());
    a.0[16..24].copy_from_slice(&0x8_0000u64.to_le_bytes());
    call(N::MEMORY_OP, &[cmd, &a as *const _ as u64])
}

fn batch(cmd: u64, domid: u16, space: u16) -> i64 {
    let (idx, gpfn, mut err) = (0u64, 0x8_0000u64, 0i32);
    let mut a = Xatpb([0; 32]);
    a.0[..2].copy_from_slice(&domid.to_le_bytes());
    a.0[2..4].copy_from_slice(&space.to_le_bytes());
    a.0[4..6].copy_from_slice(&1u16.to_le_bytes());
    a.0[8..16].copy_from_slice(&(&idx as *const u64 as u64).to_le_bytes());
    a.0[16..24].copy_from_slice(&(&gpfn as *const u64 as u64).to_le_bytes());
    a.0[24..32].copy_from_slice(&(&mut err as *mut i32 as u64).to_le_bytes());
    call(N::MEMORY_OP, &[cmd, &a as *const _ as u64])
}

pub(super) fn add_to_physmap(s: &mut Suite) {
    const A: u64 = XENMEM_ADD_TO_PHYSMAP;
    const B: u64 = XENMEM_ADD_TO_PHYSMAP_BATCH;
    s.check("add_to_physmap: shared_info is for translated guests", EACCES, single(A, SELF, XENMAPSPACE_SHARED_INFO));
    s.check("add_to_physmap: grant_table", EACCES, single(A, SELF, XENMAPSPACE_GRANT_TABLE));
    s.check("add_to_physmap: gmfn", EACCES, single(A, SELF, XENMAPSPACE_GMFN));
    s.check("add_to_physmap: gmfn_range", EACCES, single(A, SELF, XENMAPSPACE_GMFN_RANGE));
    s.check("add_to_physmap: an unknown space", EACCES, single(A, SELF, 99));
    s.check("add_to_physmap: naming domain 0", EACCES, single(A, 0, XENMAPSPACE_GMFN));
    s.check("add_to_physmap: gmfn_foreign only batched", ENOSYS, single(A, SELF, XENMAPSPACE_GMFN_FOREIGN));
    s.check("add_to_physmap: an unknown domain", ESRCH, single(A, 500, XENMAPSPACE_GMFN));
    s.check("add_to_physmap: DOMID_XEN", ESRCH, single(A, 0x7FF2, XENMAPSPACE_GMFN));
    s.check("add_to_physmap: progress within 16 bits", EACCES, single(A | 0xFFFF << 6, SELF, 2));
    s.check("add_to_physmap: progress beyond 16 bits", EDOM, single(A | 0x1_0000 << 6, SELF, 2));
    s.check("add_to_physmap: argument in the hypervisor", EFAULT, call(N::MEMORY_OP, &[A, HV]));
    s.check("add_to_physmap_batch: gmfn", EACCES, batch(B, SELF, XENMAPSPACE_GMFN as u16));
    s.check("add_to_physmap_batch: gmfn_foreign", EACCES, batch(B, SELF, XENMAPSPACE_GMFN_FOREIGN as u16));
    s.check("add_to_physmap_batch: shared_info", EACCES, batch(B, SELF, XENMAPSPACE_SHARED_INFO as u16));
    s.check("add_to_physmap_batch: gmfn_range refused", EOPNOTSUPP, batch(B, SELF, XENMAPSPACE_GMFN_RANGE as u16));
    s.check("add_to_physmap_batch: an unknown domain", ESRCH, batch(B, 500, XENMAPSPACE_GMFN as u16));
    s.check("add_to_physmap_batch: progress beyond 16 bits", EDOM, batch(B | 0x1_0000 << 6, SELF, 2));
    s.check("add_to_physmap_batch: argument in the hypervisor", EFAULT, call(N::MEMORY_OP, &[B, HV]));
}
