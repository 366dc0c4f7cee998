//! Event channels: one wrapper per `event_channel_op` command. Each takes
//! and returns plain values; the argument structure lives on the caller's
//! stack for the one call. (`EVTCHNOP_bind_virq` is with the timers.)

use super::call;
use crate::event_channel::*;
use crate::hypercall::HypercallNr;
use crate::{DomId, Errno, Mfn};

/// `event_channel_op(cmd, &arg)` for an argument of type `T`.
fn op<T>(cmd: u64, arg: &mut T) -> Result<u64, Errno> {
    call(HypercallNr::EVENT_CHANNEL_OP, [cmd, arg as *mut T as u64, 0, 0, 0])
}

/// `EVTCHNOP_alloc_unbound`: a new port of `dom` (usually
/// [`DomId::SELF`]) that `remote` may bind to. Returns the port.
///
/// # Errors
/// `EPERM` naming another domain without privilege, `ESRCH` for a domain
/// that does not exist, `ENOSPC` when every port is in use.
pub fn alloc_unbound(dom: DomId, remote: DomId) -> Result<u32, Errno> {
    let mut a = AllocUnbound { dom, remote_dom: remote, port: 0 };
    op(EVTCHNOP_ALLOC_UNBOUND, &mut a)?;
    Ok(a.port)
}

/// `EVTCHNOP_bind_interdomain`: connects a new local port to `remote`'s
/// unbound `remote_port` (allocated for this domain). Returns the local
/// port.
///
/// # Errors
/// `EINVAL` for a port that is not unbound for this domain, `ESRCH` for
/// a domain that does not exist, `ENOSPC`.
pub fn bind_interdomain(remote: DomId, remote_port: u32) -> Result<u32, Errno> {
    let mut a = BindInterdomain { remote_dom: remote, pad: 0, remote_port, local_port: 0 };
    op(EVTCHNOP_BIND_INTERDOMAIN, &mut a)?;
    Ok(a.local_port)
}

/// `EVTCHNOP_bind_ipi`: a port that signals vCPU `vcpu` of this domain.
///
/// # Errors
/// `ENOENT` for a vCPU the domain does not have, `ENOSPC`.
pub fn bind_ipi(vcpu: u32) -> Result<u32, Errno> {
    let mut a = BindIpi { vcpu, port: 0 };
    op(EVTCHNOP_BIND_IPI, &mut a)?;
    Ok(a.port)
}

/// `EVTCHNOP_close`: closes `port` (an interdomain peer becomes unbound).
///
/// # Errors
/// `EINVAL` for a port out of range or already closed.
pub fn close(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_CLOSE, &mut p).map(|_| ())
}

/// `EVTCHNOP_send`: signals `port`'s other end (on an unbound port the
/// event is dropped and the call still succeeds, as on Xen).
///
/// # Errors
/// `EINVAL` for a port out of range, closed, or bound to a VIRQ or pirq.
pub fn send(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_SEND, &mut p).map(|_| ())
}

/// `EVTCHNOP_status` of `port` of `dom`: the whole answer (`status` is
/// one of the `EVTCHNSTAT_*` values).
///
/// # Errors
/// `EINVAL` for a port out of range, `EPERM`/`ESRCH` for another domain.
pub fn status(dom: DomId, port: u32) -> Result<Status, Errno> {
    let mut s = Status { dom, port, ..Status::default() };
    op(EVTCHNOP_STATUS, &mut s)?;
    Ok(s)
}

/// `EVTCHNOP_bind_vcpu`: `port`'s events go to vCPU `vcpu`.
///
/// # Errors
/// `EINVAL` for a port that cannot move, `ENOENT` for a vCPU that does
/// not exist.
pub fn bind_vcpu(port: u32, vcpu: u32) -> Result<(), Errno> {
    let mut a = BindVcpu { port, vcpu };
    op(EVTCHNOP_BIND_VCPU, &mut a).map(|_| ())
}

/// `EVTCHNOP_unmask`: clears `port`'s mask, raising the upcall if it is
/// pending.
///
/// # Errors
/// `EINVAL` for a port out of range.
pub fn unmask(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_UNMASK, &mut p).map(|_| ())
}

/// `EVTCHNOP_reset`: closes every port of `dom` (this domain: `SELF`)
/// and returns to the 2-level ABI.
///
/// # Errors
/// `EINVAL` for another domain (xen-core cannot pause domains).
pub fn reset(dom: DomId) -> Result<(), Errno> {
    let mut d = dom;
    op(EVTCHNOP_RESET, &mut d).map(|_| ())
}

/// `EVTCHNOP_init_control`: switches to the FIFO ABI with its control
/// block at byte `offset` of frame `control`, for vCPU `vcpu`. Returns
/// the link bits (17).
///
/// # Safety
/// The hypervisor writes the control block and, later, the event words
/// of the frames given to [`expand_array`], until [`reset`]: they must be
/// frames this domain keeps for nothing else.
///
/// # Errors
/// `EINVAL` for a bad offset or frame, `EEXIST` if already initialised.
pub unsafe fn init_control(control: Mfn, offset: u32, vcpu: u32) -> Result<u8, Errno> {
    let mut a = InitControl { control_gfn: control.0, offset, vcpu, ..InitControl::default() };
    op(EVTCHNOP_INIT_CONTROL, &mut a)?;
    Ok(a.link_bits)
}

/// `EVTCHNOP_expand_array`: adds a frame of event words (FIFO ABI).
///
/// # Safety
/// As for [`init_control`]: the hypervisor writes the frame from now on.
///
/// # Errors
/// `EOPNOTSUPP` before `init_control`, `EINVAL` for a frame the domain
/// cannot give, `ENOSPC` when the array is full.
pub unsafe fn expand_array(array: Mfn) -> Result<(), Errno> {
    let mut a = ExpandArray { array_gfn: array.0 };
    op(EVTCHNOP_EXPAND_ARRAY, &mut a).map(|_| ())
}

/// `EVTCHNOP_set_priority` of `port` (FIFO ABI; 0 is the highest).
///
/// # Errors
/// `ENOSYS` under the 2-level ABI, `EINVAL` for a priority past 15,
/// `EACCES` for a port not in use.
pub fn set_priority(port: u32, priority: u32) -> Result<(), Errno> {
    let mut a = SetPriority { port, priority };
    op(EVTCHNOP_SET_PRIORITY, &mut a).map(|_| ())
}
