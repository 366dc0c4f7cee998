//! The `EVTCHNOP_*` operations (platform §2.1–§2.4, fact sheet §9.4), each
//! checking in Xen 4.17's order so every refusal gets Xen's errno.

use super::port::{Binding, Port};
use super::{two_level, DomainEvents, EventChannels, EventEnv, Fifo, BUCKET, MAX_PORTS, NR_PIRQS, VCPUS};
use abi::event_channel::*;
use abi::{DomId, Errno, Mfn};

/// What `EVTCHNOP_status` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusOut {
    /// `EVTCHNSTAT_*`.
    pub status: u32,
    /// The notified vCPU.
    pub vcpu: u32,
    /// The union's two words.
    pub u: [u32; 2],
}

impl EventChannels {
    /// The domain a `dom` field names for `caller` (Xen's
    /// `rcu_lock_domain_by_any_id` then `XSM_TARGET`): `ESRCH` if it does
    /// not exist, `EPERM` if the caller may not act on it. The permission
    /// check is separate ([`EventChannels::may_target`]) because Xen makes
    /// it at different points per operation.
    fn lookup(&self, caller: DomId, dom: DomId) -> Result<DomId, Errno> {
        let dom = if dom == DomId::SELF { caller } else { dom };
        if self.live(dom) {
            Ok(dom)
        } else {
            Err(Errno::ESRCH)
        }
    }

    /// The calling domain must exist (a dead domain makes no hypercalls;
    /// the check keeps the tables safe whatever the caller passes).
    fn caller(&self, caller: DomId) -> Result<(), Errno> {
        if self.live(caller) {
            Ok(())
        } else {
            Err(Errno::ESRCH)
        }
    }

    fn may_target(&self, caller: DomId, dom: DomId) -> Result<(), Errno> {
        if caller == dom || self.doms[caller.0 as usize].privileged {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    fn d(&self, dom: DomId) -> &DomainEvents {
        &self.doms[dom.0 as usize]
    }

    fn d_mut(&mut self, dom: DomId) -> &mut DomainEvents {
        &mut self.doms[dom.0 as usize]
    }

    /// Xen's `get_free_port`: the lowest free port, growing the valid range
    /// by a bucket when all are used.
    fn free_port(&mut self, dom: DomId) -> Result<u32, Errno> {
        let d = self.d_mut(dom);
        if let Some(p) = (1..d.valid).find(|&p| d.ports[p as usize].binding == Binding::Free) {
            return Ok(p);
        }
        if d.valid >= MAX_PORTS {
            return Err(Errno::ENOSPC);
        }
        let p = d.valid;
        d.valid += BUCKET;
        Ok(p)
    }

    /// A port freshly bound: Xen's `evtchn_port_init` (FIFO: default
    /// priority).
    fn bind(&mut self, dom: DomId, port: u32, binding: Binding, vcpu: u32) {
        let p = &mut self.d_mut(dom).ports[port as usize];
        p.binding = binding;
        p.vcpu = vcpu;
        p.priority = FIFO_PRIORITY_DEFAULT as u8;
    }

    /// `EVTCHNOP_alloc_unbound`: a port of `dom` that `remote` may bind to.
    ///
    /// # Errors
    /// `ESRCH` unknown `dom`; `ENOSPC` no free port; `EPERM` `dom` is
    /// another domain and the caller is not privileged.
    pub fn alloc_unbound(&mut self, caller: DomId, dom: DomId, remote: DomId) -> Result<u32, Errno> {
        self.caller(caller)?;
        let dom = self.lookup(caller, dom)?;
        let port = self.free_port(dom)?;
        self.may_target(caller, dom)?;
        let remote = if remote == DomId::SELF { caller } else { remote };
        self.bind(dom, port, Binding::Unbound(remote), 0);
        Ok(port)
    }

    /// `EVTCHNOP_bind_interdomain`: connects a new local port to
    /// `remote_port` of `remote`, which must be unbound and accept the
    /// caller. The local port is marked pending once, as on Xen (events
    /// sent before the bind would otherwise be lost).
    ///
    /// # Errors
    /// `ESRCH` unknown domain; `ENOSPC` no local port; `EINVAL` the remote
    /// port is invalid, not unbound or for another domain.
    pub fn bind_interdomain(
        &mut self,
        env: &mut impl EventEnv,
        caller: DomId,
        remote: DomId,
        remote_port: u32,
    ) -> Result<u32, Errno> {
        self.caller(caller)?;
        let remote = self.lookup(caller, remote)?;
        let local = self.free_port(caller)?;
        match self.d(remote).port(remote_port) {
            Some(p) if p.binding == Binding::Unbound(caller) => {}
            _ => return Err(Errno::EINVAL),
        }
        self.bind(caller, local, Binding::Interdomain(remote, remote_port), 0);
        self.d_mut(remote).ports[remote_port as usize].binding = Binding::Interdomain(caller, local);
        self.set_pending(env, caller, local);
        Ok(local)
    }

    /// `EVTCHNOP_bind_virq`.
    ///
    /// # Errors
    /// `EINVAL` virq ≥ 24 or a global VIRQ on a vCPU other than 0;
    /// `ENOENT` no such vCPU; `EBUSY` a global VIRQ and the caller is not
    /// the hardware domain, which owns them; `EEXIST` already bound on that
    /// vCPU; `ENOSPC` no free port.
    pub fn bind_virq(&mut self, caller: DomId, virq: u32, vcpu: u32) -> Result<u32, Errno> {
        self.caller(caller)?;
        if virq >= virq::NR {
            return Err(Errno::EINVAL);
        }
        if !virq::per_vcpu(virq) && vcpu != 0 {
            return Err(Errno::EINVAL);
        }
        if vcpu >= VCPUS {
            return Err(Errno::ENOENT);
        }
        if !virq::per_vcpu(virq) && virq != virq::ARGO && !self.d(caller).privileged {
            return Err(Errno::EBUSY);
        }
        if self.d(caller).virq[virq as usize] != 0 {
            return Err(Errno::EEXIST);
        }
        let port = self.free_port(caller)?;
        self.bind(caller, port, Binding::Virq(virq), vcpu);
        self.d_mut(caller).virq[virq as usize] = port;
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`.
    ///
    /// # Errors
    /// `ENOENT` no such vCPU; `ENOSPC` no free port.
    pub fn bind_ipi(&mut self, caller: DomId, vcpu: u32) -> Result<u32, Errno> {
        self.caller(caller)?;
        if vcpu >= VCPUS {
            return Err(Errno::ENOENT);
        }
        let port = self.free_port(caller)?;
        self.bind(caller, port, Binding::Ipi, vcpu);
        Ok(port)
    }

    /// `EVTCHNOP_bind_pirq`. xen-core maps no physical IRQ to any domain
    /// (`PHYSDEVOP_map_pirq` is not supported), so no pirq is ever
    /// accessible: as on Xen for an unmapped pirq.
    ///
    /// # Errors
    /// `EINVAL` pirq ≥ `nr_pirqs` (or negative as Xen's `int`); `EPERM`
    /// otherwise.
    pub fn bind_pirq(&mut self, caller: DomId, pirq: u32, _flags: u32) -> Result<u32, Errno> {
        self.caller(caller)?;
        if pirq >= NR_PIRQS {
            return Err(Errno::EINVAL);
        }
        Err(Errno::EPERM)
    }

    /// `EVTCHNOP_close`.
    ///
    /// # Errors
    /// `EINVAL` invalid, free or reserved port.
    pub fn close(&mut self, env: &mut impl EventEnv, caller: DomId, port: u32) -> Result<(), Errno> {
        self.caller(caller)?;
        self.close_port(env, caller, port)
    }

    /// Xen's `evtchn_close`: an interdomain peer goes back to unbound,
    /// accepting `dom`; the port's pending state is cleared and it notifies
    /// vCPU 0 again.
    pub(super) fn close_port(&mut self, env: &mut impl EventEnv, dom: DomId, port: u32) -> Result<(), Errno> {
        let p = *self.d(dom).port(port).ok_or(Errno::EINVAL)?;
        match p.binding {
            Binding::Free | Binding::Reserved => return Err(Errno::EINVAL),
            Binding::Virq(v) => self.d_mut(dom).virq[v as usize] = 0,
            Binding::Interdomain(rd, rp) => {
                self.d_mut(rd).ports[rp as usize].binding = Binding::Unbound(dom);
            }
            Binding::Unbound(_) | Binding::Ipi | Binding::Pirq(_) => {}
        }
        let d = self.d_mut(dom);
        match &d.fifo {
            Some(f) => f.clear_pending(env, port),
            None => two_level::clear_pending(env, d, port),
        }
        d.ports[port as usize] = Port { last_priority: d.ports[port as usize].last_priority, ..Port::FREE };
        Ok(())
    }

    /// `EVTCHNOP_send`: interdomain → the peer port is set pending on its
    /// vCPU; IPI → the port itself; unbound → dropped (0).
    ///
    /// # Errors
    /// `EINVAL` invalid port, or one that is free, reserved, a VIRQ or a
    /// PIRQ.
    pub fn send(&mut self, env: &mut impl EventEnv, caller: DomId, port: u32) -> Result<(), Errno> {
        self.caller(caller)?;
        let p = *self.d(caller).port(port).ok_or(Errno::EINVAL)?;
        match p.binding {
            Binding::Interdomain(rd, rp) => self.set_pending(env, rd, rp),
            Binding::Ipi => self.set_pending(env, caller, port),
            Binding::Unbound(_) => {}
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    /// `EVTCHNOP_status` of `port` in `dom`.
    ///
    /// # Errors
    /// `ESRCH` unknown domain; `EINVAL` invalid port; `EPERM` another
    /// domain and the caller is not privileged.
    pub fn status(&self, caller: DomId, dom: DomId, port: u32) -> Result<StatusOut, Errno> {
        self.caller(caller)?;
        let dom = self.lookup(caller, dom)?;
        let p = *self.d(dom).port(port).ok_or(Errno::EINVAL)?;
        self.may_target(caller, dom)?;
        let (status, u) = match p.binding {
            Binding::Free | Binding::Reserved => (EVTCHNSTAT_CLOSED, [0, 0]),
            Binding::Unbound(r) => (EVTCHNSTAT_UNBOUND, [u32::from(r.0), 0]),
            Binding::Interdomain(rd, rp) => (EVTCHNSTAT_INTERDOMAIN, [u32::from(rd.0), rp]),
            Binding::Pirq(n) => (EVTCHNSTAT_PIRQ, [n, 0]),
            Binding::Virq(v) => (EVTCHNSTAT_VIRQ, [v, 0]),
            Binding::Ipi => (EVTCHNSTAT_IPI, [0, 0]),
        };
        Ok(StatusOut { status, vcpu: p.vcpu, u })
    }

    /// `EVTCHNOP_bind_vcpu`: which vCPU a port notifies.
    ///
    /// # Errors
    /// `ENOENT` no such vCPU; `EINVAL` invalid port, or one that is free,
    /// an IPI or a per-vCPU VIRQ.
    pub fn bind_vcpu(&mut self, caller: DomId, port: u32, vcpu: u32) -> Result<(), Errno> {
        self.caller(caller)?;
        if vcpu >= VCPUS {
            return Err(Errno::ENOENT);
        }
        let d = self.d_mut(caller);
        let p = d.port(port).ok_or(Errno::EINVAL)?;
        match p.binding {
            Binding::Virq(v) if !virq::per_vcpu(v) => {}
            Binding::Unbound(_) | Binding::Interdomain(..) | Binding::Pirq(_) => {}
            _ => return Err(Errno::EINVAL),
        }
        d.ports[port as usize].vcpu = vcpu;
        Ok(())
    }

    /// `EVTCHNOP_unmask`: clears the mask and re-raises a pending port. Any
    /// valid port, even unused, is accepted (0).
    ///
    /// # Errors
    /// `EINVAL` invalid port.
    pub fn unmask(&mut self, env: &mut impl EventEnv, caller: DomId, port: u32) -> Result<(), Errno> {
        self.caller(caller)?;
        let i = caller.0 as usize;
        let d = &mut self.doms[i];
        if !d.port_is_valid(port) {
            return Err(Errno::EINVAL);
        }
        let (newly, mark) = match d.fifo.as_mut() {
            Some(f) => f.unmask(env, &mut d.ports, port),
            None => (false, two_level::unmask(env, d, port)),
        };
        if newly {
            self.port_kicks |= 1 << i;
        }
        if mark {
            self.mark_events_pending(env, caller);
        }
        Ok(())
    }

    /// `EVTCHNOP_reset` (`cont` = `EVTCHNOP_reset_cont`): closes every port
    /// of `dom` and goes back to the 2-level ABI. It never needs
    /// continuing here (at most [`MAX_PORTS`] ports), so a `reset_cont`
    /// finds no reset in progress.
    ///
    /// # Errors
    /// `ESRCH` unknown domain; `EPERM` another domain, unprivileged caller;
    /// `EINVAL` another domain (it would have to be paused by the caller,
    /// and xen-core has no domain pausing); `EBUSY` `reset_cont`.
    pub fn reset(&mut self, env: &mut impl EventEnv, caller: DomId, dom: DomId, cont: bool) -> Result<(), Errno> {
        self.caller(caller)?;
        let dom = self.lookup(caller, dom)?;
        self.may_target(caller, dom)?;
        if dom != caller {
            return Err(Errno::EINVAL);
        }
        if cont {
            return Err(Errno::EBUSY);
        }
        for port in 1..self.d(dom).valid {
            let _ = self.close_port(env, dom, port);
        }
        self.drop_fifo(env, dom);
        Ok(())
    }

    /// `EVTCHNOP_init_control`: registers vCPU `vcpu`'s FIFO control block
    /// at `offset` in frame `gfn` (an MFN: PV). The first one switches the
    /// domain to FIFO: each pending 2-level port is latched and every port
    /// gets the default priority.
    ///
    /// # Errors
    /// `ENOENT` no such vCPU; `EINVAL` offset past 4096 − 72 or not
    /// 8-aligned, a control block already registered, or a frame that is
    /// not the caller's RAM or cannot be writable.
    pub fn init_control(
        &mut self,
        env: &mut impl EventEnv,
        caller: DomId,
        gfn: u64,
        offset: u32,
        vcpu: u32,
    ) -> Result<(), Errno> {
        self.caller(caller)?;
        if vcpu >= VCPUS {
            return Err(Errno::ENOENT);
        }
        if offset > 4096 - 72 || offset & 7 != 0 {
            return Err(Errno::EINVAL);
        }
        let d = &mut self.doms[caller.0 as usize];
        if d.fifo.as_ref().is_some_and(|f| f.control.is_some()) {
            return Err(Errno::EINVAL);
        }
        let mfn = Mfn(gfn);
        if gfn >= 1 << 40 || !env.take_writable(caller, mfn) {
            return Err(Errno::EINVAL);
        }
        if d.fifo.is_none() {
            for port in 0..d.valid {
                let pending = two_level::is_pending(env, &*d, port);
                let p = &mut d.ports[port as usize];
                p.latched = pending;
                p.priority = FIFO_PRIORITY_DEFAULT as u8;
                p.last_priority = FIFO_PRIORITY_DEFAULT as u8;
            }
            d.fifo = Some(Fifo::new());
        }
        if let Some(f) = d.fifo.as_mut() {
            f.control = Some((mfn, offset));
            f.queues = Default::default();
        }
        Ok(())
    }

    /// `EVTCHNOP_expand_array`: adds the next event-array frame and raises
    /// the latched ports it covers.
    ///
    /// # Errors
    /// `EOPNOTSUPP` not on FIFO; `ENOSPC` 128 frames already; `EINVAL` a
    /// frame that is not the caller's RAM or cannot be writable.
    pub fn expand_array(&mut self, env: &mut impl EventEnv, caller: DomId, gfn: u64) -> Result<(), Errno> {
        self.caller(caller)?;
        let i = caller.0 as usize;
        let d = &mut self.doms[i];
        let Some(f) = d.fifo.as_mut() else { return Err(Errno::EOPNOTSUPP) };
        if f.pages >= FIFO_MAX_ARRAY_PAGES {
            return Err(Errno::ENOSPC);
        }
        if gfn >= 1 << 40 || !env.take_writable(caller, Mfn(gfn)) {
            return Err(Errno::EINVAL);
        }
        let first = f.num_ports();
        f.array[f.pages as usize] = Mfn(gfn);
        f.pages += 1;
        let end = f.num_ports().min(d.valid);
        for port in first..end {
            if core::mem::take(&mut self.doms[i].ports[port as usize].latched) {
                self.set_pending(env, caller, port);
            }
        }
        Ok(())
    }

    /// `EVTCHNOP_set_priority`: the priority of future deliveries.
    ///
    /// # Errors
    /// `EINVAL` invalid port; `ENOSYS` not on FIFO; `EACCES` an unused
    /// port; `EINVAL` priority > 15.
    pub fn set_priority(&mut self, caller: DomId, port: u32, priority: u32) -> Result<(), Errno> {
        self.caller(caller)?;
        let d = self.d_mut(caller);
        if !d.port_is_valid(port) {
            return Err(Errno::EINVAL);
        }
        if d.fifo.is_none() {
            return Err(Errno::ENOSYS);
        }
        if !d.ports[port as usize].in_use() {
            return Err(Errno::EACCES);
        }
        if priority > FIFO_PRIORITY_MIN {
            return Err(Errno::EINVAL);
        }
        d.ports[port as usize].priority = priority as u8;
        Ok(())
    }
}
