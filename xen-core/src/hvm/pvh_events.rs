//! A PVH guest's event channels and timer: `event_channel_op` on the
//! shared pure core ([`crate::event`]), `set_timer_op`, and `XENMEM_add_to_physmap`
//! with `XENMAPSPACE_shared_info` (its shared_info at a guest frame). The
//! argument structures are Xen's, as for a PV guest; every frame number a
//! guest names is a GUEST frame, translated through its p2m, as Xen does
//! for translated guests (`get_page_from_gfn`): one that is not its RAM is
//! `-EINVAL`.
//!
//! Decode → check → perform, with Xen 4.17's errno: the core's operations
//! make their own checks in Xen's order; what is PVH's alone (the
//! translation, `add_to_physmap`'s fields) is checked here first.

use super::pvh_call::{Outcome, PvhCall};
use crate::mm::{MmHooks, PhysMemory};
use crate::p2m::{Order, P2mEntry, P2mType, Rights};
use crate::time::timers::Armed;
use abi::event_channel::*;
use abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};
use abi::{DomId, Errno, Gfn, Mfn};

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// The machine frame of guest frame `gfn` if it is this domain's RAM
    /// (a 4 KiB piece of a 2 MiB entry included).
    pub(super) fn ram_frame(&self, gfn: u64) -> Option<Mfn> {
        let g = Gfn(gfn);
        if !self.p2m.in_range(g, 1) {
            return None;
        }
        // Each slot holds its own 4 KiB frame, inside a 2 MiB entry too.
        let (e, _) = self.p2m.get(g)?;
        (e.ty == P2mType::Ram).then_some(e.mfn)
    }

    /// `event_channel_op(cmd, arg)`: the PV structures, the pure core.
    pub(super) fn event_channel_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let me = self.dom;
        let Some(len) = crate::hypercall::event_channel::arg_len(cmd) else { return Err(Errno::ENOSYS) };
        // The whole structure first, as on Xen.
        let mut b = [0u8; 24];
        self.view(|v| v.read(arg, &mut b[..len]))?;
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        let mut out: Option<(usize, [u32; 4], usize)> = None;
        let one = |o: usize, v: u32| Some((o, [v, 0, 0, 0], 1));
        let ev = &mut *self.events;
        match cmd {
            EVTCHNOP_BIND_INTERDOMAIN => out = one(8, ev.bind_interdomain(self.mm, me, DomId(u16_at(0)), u32_at(4))?),
            EVTCHNOP_BIND_VIRQ => out = one(8, ev.bind_virq(me, u32_at(0), u32_at(4))?),
            EVTCHNOP_BIND_PIRQ => out = one(8, ev.bind_pirq(me, u32_at(0), u32_at(4))?),
            EVTCHNOP_CLOSE => ev.close(self.mm, me, u32_at(0))?,
            EVTCHNOP_SEND => ev.send(self.mm, me, u32_at(0))?,
            EVTCHNOP_STATUS => {
                let s = ev.status(me, DomId(u16_at(0)), u32_at(4))?;
                out = Some((8, [s.status, s.vcpu, s.u[0], s.u[1]], 4));
            }
            EVTCHNOP_ALLOC_UNBOUND => out = one(4, ev.alloc_unbound(me, DomId(u16_at(0)), DomId(u16_at(2)))?),
            EVTCHNOP_BIND_IPI => out = one(4, ev.bind_ipi(me, u32_at(0))?),
            EVTCHNOP_BIND_VCPU => ev.bind_vcpu(me, u32_at(0), u32_at(4))?,
            EVTCHNOP_UNMASK => ev.unmask(self.mm, me, u32_at(0))?,
            EVTCHNOP_RESET | EVTCHNOP_RESET_CONT => {
                ev.reset(self.mm, me, DomId(u16_at(0)), cmd == EVTCHNOP_RESET_CONT)?
            }
            EVTCHNOP_INIT_CONTROL => {
                let mfn = self.ram_frame(u64_at(0)).ok_or(Errno::EINVAL)?;
                self.events.init_control(self.mm, me, mfn.0, u32_at(8), u32_at(12))?;
                out = one(16, (u32_at(16) & !0xFF) | u32::from(FIFO_LINK_BITS));
            }
            EVTCHNOP_EXPAND_ARRAY => {
                let mfn = self.ram_frame(u64_at(0)).ok_or(Errno::EINVAL)?;
                self.events.expand_array(self.mm, me, mfn.0)?
            }
            _ => ev.set_priority(me, u32_at(0), u32_at(4))?,
        }
        if let Some((o, vals, n)) = out {
            for (i, v) in vals[..n].iter().enumerate() {
                b[o + 4 * i..o + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
            self.view(|v| v.write(arg, &b[..len]))?;
        }
        Ok(0)
    }

    /// `set_timer_op(timeout)`: vCPU 0's single-shot timer, as for a PV
    /// guest (a deadline already past fires VIRQ_TIMER at once). Always 0.
    pub(super) fn set_timer_op(&mut self, timeout: u64) -> Result<u64, Errno> {
        if self.vcpu.time.timers.set_timer_op(self.now, timeout) == Armed::FireNow {
            self.events.send_virq(self.mm, self.dom, virq::TIMER);
        }
        Ok(0)
    }

    /// `XENMEM_add_to_physmap(&{domid, size, space, idx, gpfn})`:
    /// `XENMAPSPACE_shared_info` (idx 0): the domain's shared_info frame at
    /// guest frame `gpfn`; `XENMAPSPACE_grant_table`: grant frame `idx`
    /// ([`Self::grant_frame`]). The RAM there goes back (Xen's
    /// `guest_remove_page`), and a previous mapping of the frame goes.
    /// Other spaces are `-ENOSYS`.
    pub(super) fn add_to_physmap(&mut self, arg: u64) -> (Result<u64, Errno>, Outcome) {
        let mut b = [0u8; 24];
        if let Err(e) = self.view(|v| v.read(arg, &mut b)) {
            return (Err(e), Outcome::Continue);
        }
        let domid = u16::from_le_bytes([b[0], b[1]]);
        let space = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let idx = u64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
        let gpfn = Gfn(u64::from_le_bytes(b[16..24].try_into().unwrap_or_default()));
        if let Err(e) = self.target(domid) {
            return (Err(e), Outcome::Continue);
        }
        let si = match space {
            XENMAPSPACE_SHARED_INFO => {
                let Some(si) = self.events.domain(self.dom).map(|d| d.shared_info) else {
                    return (Err(Errno::ESRCH), Outcome::Continue);
                };
                if idx != 0 {
                    return (Err(Errno::EINVAL), Outcome::Continue);
                }
                si
            }
            XENMAPSPACE_GRANT_TABLE => match self.grant_frame(idx) {
                Ok(mfn) => mfn,
                Err(e) => return (Err(e), Outcome::Continue),
            },
            _ => return (Err(Errno::ENOSYS), Outcome::Continue),
        };
        if !self.p2m.in_range(gpfn, 1) {
            return (Err(Errno::EINVAL), Outcome::Continue);
        }
        match self.p2m.get(gpfn) {
            // Already there.
            Some((e, _)) if e.mfn == si => return (Ok(0), Outcome::Continue),
            Some((e, _)) if e.ty != P2mType::Ram => return (Err(Errno::EINVAL), Outcome::Continue),
            _ => {}
        }
        // Where it was before, if anywhere (the M2P names it).
        let old = self
            .mm
            .m2p
            .get(si.0 as usize)
            .copied()
            .map(Gfn)
            .filter(|&g| g != gpfn && self.p2m.in_range(g, 1) && self.p2m.get(g).is_some_and(|(e, _)| e.mfn == si));
        let r = (|| {
            if let Some(g) = old {
                self.p2m.set_entry(self.mm, g, Order::Page4K, None)?;
                self.npt.changed(self.p2m, self.mm, g, Order::Page4K)?;
            }
            if self.p2m.get(gpfn).is_some() {
                self.p2m.remove_ram(self.mm, gpfn)?;
            }
            let e = P2mEntry { mfn: si, ty: P2mType::Ram, rights: Rights::RW };
            self.p2m.set_entry(self.mm, gpfn, Order::Page4K, Some(e))?;
            self.npt.changed(self.p2m, self.mm, gpfn, Order::Page4K)
        })();
        match r {
            Ok(()) => (Ok(0), Outcome::Continue),
            // The tables could not follow a change already made.
            Err(Errno::ENOMEM) => (Err(Errno::ENOMEM), Outcome::Crash),
            Err(e) => (Err(e), Outcome::Continue),
        }
    }
}
