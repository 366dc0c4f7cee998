//! `mmuext_op` (26) from a PVH guest: Xen 4.17 lists it in its HVM table,
//! and refuses every use of it an HVM guest can make, before any entry is
//! read: its page owner must be a PV domain. This keeps Xen's answers, in
//! its order:
//!
//! * `count` = `MMU_UPDATE_PREEMPTED` with a NULL list is the end of a
//!   continuation: `foreigndom` comes back as the result;
//! * `DOMID_SELF` names the caller, and `DOMID_IO` / `DOMID_XEN` Xen's
//!   system domains: none is a PV domain: `-EINVAL` (`DOMID_SELF` and
//!   `DOMID_XEN` compared with Xen 4.17's PVH dom0: `xen-modes --probe`);
//! * its own numeric id, or no such domain: `-ESRCH`;
//! * another existing domain: not its to change (XSM's target check):
//!   `-EPERM`. (Xen answers `-EINVAL` for another HVM domain, which it
//!   checks before XSM; the pure dispatch does not know other domains'
//!   kinds: a deliberate difference, still a refusal. Not compared: Xen
//!   here runs no second domain.)

use super::pvh_call::PvhCall;
use crate::mm::{MmHooks, PhysMemory};
use abi::mmu::MMU_UPDATE_PREEMPTED;
use abi::{DomId, Errno};

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// `mmuext_op(uops, count, pdone, foreigndom)`: never performed.
    pub(super) fn mmuext_op(&mut self, uops: u64, count: u64, foreigndom: u64) -> Result<u64, Errno> {
        if count as u32 == MMU_UPDATE_PREEMPTED && uops == 0 {
            // `(int)foreigndom`, sign-extended as Xen's long return.
            return Ok(i64::from(foreigndom as u32 as i32) as u64);
        }
        let dom = DomId(foreigndom as u16);
        if dom == DomId::SELF || dom == DomId::IO || dom == DomId::XEN {
            return Err(Errno::EINVAL);
        }
        if dom == self.dom {
            return Err(Errno::ESRCH);
        }
        if self.mm.domain(dom).is_some() {
            return Err(Errno::EPERM);
        }
        Err(Errno::ESRCH)
    }
}
