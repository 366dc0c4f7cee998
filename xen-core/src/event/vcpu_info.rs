//! Moving a vCPU's `vcpu_info` out of shared_info into a guest frame
//! (`VCPUOP_register_vcpu_info`, Xen 4.17's `map_vcpu_info`). Linux PV
//! does it at boot for every vCPU, so its per-CPU copy is where upcalls,
//! the pending selector, the time info and CR2 are written from then on.
//!
//! Xen's rules, in its order: the 64 bytes must fit in the page and be
//! 8-aligned (`-ENXIO`); a vCPU registers once (`-EINVAL`); the frame must
//! be RAM the domain owns and able to take the writable type (`-EINVAL`).
//! The hypervisor then holds a general and a writable type reference on
//! the frame until the domain dies, so the guest cannot make it a page
//! table or hand it back while the hypervisor writes into it. The old
//! contents are copied, and the pending selector is set in full with
//! `evtchn_upcall_pending`, so the guest rescans and nothing pending is
//! lost (it may see one spurious upcall, as on Xen).

use super::{EventChannels, EventEnv};
use crate::mm::PhysAddr;
use abi::{DomId, Errno, Mfn};

/// `sizeof(struct vcpu_info)` on x86_64.
pub const VCPU_INFO_SIZE: u32 = 64;
/// Its alignment (it holds 64-bit words).
const ALIGN: u32 = 8;
/// Offset of `evtchn_pending_sel`.
const PENDING_SEL: u64 = 8;

impl EventChannels {
    /// Moves vCPU 0 of `dom`'s vcpu_info to `offset` in frame `mfn`;
    /// returns its new machine address, which the caller gives the vCPU.
    ///
    /// # Errors
    /// `ENXIO` for an offset that crosses the page or is misaligned,
    /// `EINVAL` if already registered or if the frame is not RAM `dom`
    /// owns that can be writable, `ESRCH` for a domain that is gone.
    pub fn register_vcpu_info(
        &mut self,
        env: &mut impl EventEnv,
        dom: DomId,
        mfn: Mfn,
        offset: u32,
    ) -> Result<PhysAddr, Errno> {
        if offset > 4096 - VCPU_INFO_SIZE || !offset.is_multiple_of(ALIGN) {
            return Err(Errno::ENXIO);
        }
        let d = self.domain(dom).ok_or(Errno::ESRCH)?;
        if d.vcpu_info_frame.is_some() {
            return Err(Errno::EINVAL);
        }
        let old = d.vcpu_info;
        if !env.take_writable(dom, mfn) {
            return Err(Errno::EINVAL);
        }
        let new = PhysAddr(mfn.to_maddr() + u64::from(offset));
        for w in 0..u64::from(VCPU_INFO_SIZE / 8) {
            let v = env.read_u64(PhysAddr(old.0 + w * 8));
            env.write_u64(PhysAddr(new.0 + w * 8), v);
        }
        let d = &mut self.doms[dom.0 as usize];
        d.vcpu_info = new;
        d.vcpu_info_frame = Some(mfn);
        // Every selector bit, then upcall_pending: a guest scanning from
        // here finds whatever was pending before the move.
        env.write_u64(PhysAddr(new.0 + PENDING_SEL), u64::MAX);
        self.mark_events_pending(env, dom);
        Ok(new)
    }

    /// The frame `dom` registered its vcpu_info in, if it did.
    pub fn vcpu_info_frame(&self, dom: DomId) -> Option<Mfn> {
        self.domain(dom).and_then(|d| d.vcpu_info_frame)
    }

    /// Drops the references a registration holds (the domain dies).
    pub(super) fn release_vcpu_info(&mut self, env: &mut impl EventEnv, dom: DomId) {
        let d = &mut self.doms[dom.0 as usize];
        if let Some(mfn) = d.vcpu_info_frame.take() {
            env.put_writable(mfn);
            d.vcpu_info = PhysAddr(d.shared_info.to_maddr());
        }
    }
}
