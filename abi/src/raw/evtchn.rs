//! Typed `event_channel_op` wrappers for guest kernels. Safe: they pass
//! only values and pointers to structs borrowed here; the FIFO
//! registrations name frames, which the hypervisor checks the caller owns.

use super::hypercall5;
use crate::event_channel::*;
use crate::hypercall::HypercallNr;
use crate::{DomId, Errno};

/// `event_channel_op(cmd, arg)` on any argument struct.
pub fn op<T>(cmd: u64, arg: &mut T) -> Result<u64, Errno> {
    // SAFETY: `arg` is a live, exclusively borrowed struct; the caller
    // chooses `cmd` and the struct, and a mismatch only gets an errno.
    Errno::from_rax(unsafe { hypercall5(HypercallNr::EVENT_CHANNEL_OP.0, cmd, arg as *mut T as u64, 0, 0, 0) })
}

/// A port of `dom` (usually `DomId::SELF`) that `remote` may bind to.
///
/// # Errors
/// Xen's: `ESRCH`, `EPERM`, `ENOSPC`.
pub fn alloc_unbound(dom: DomId, remote: DomId) -> Result<u32, Errno> {
    let mut a = AllocUnbound { dom, remote_dom: remote, port: 0 };
    op(EVTCHNOP_ALLOC_UNBOUND, &mut a).map(|_| a.port)
}

/// Connects a new local port to `remote_port` of `remote`.
///
/// # Errors
/// Xen's: `ESRCH`, `EINVAL`, `ENOSPC`.
pub fn bind_interdomain(remote: DomId, remote_port: u32) -> Result<u32, Errno> {
    let mut a = BindInterdomain { remote_dom: remote, pad: 0, remote_port, local_port: 0 };
    op(EVTCHNOP_BIND_INTERDOMAIN, &mut a).map(|_| a.local_port)
}

/// A port for VIRQ `virq` on `vcpu`.
///
/// # Errors
/// Xen's: `EINVAL`, `ENOENT`, `EEXIST`, `EBUSY`, `ENOSPC`.
pub fn bind_virq(virq: u32, vcpu: u32) -> Result<u32, Errno> {
    let mut a = BindVirq { virq, vcpu, port: 0 };
    op(EVTCHNOP_BIND_VIRQ, &mut a).map(|_| a.port)
}

/// An IPI port notifying `vcpu`.
///
/// # Errors
/// `ENOENT`, `ENOSPC`.
pub fn bind_ipi(vcpu: u32) -> Result<u32, Errno> {
    let mut a = BindIpi { vcpu, port: 0 };
    op(EVTCHNOP_BIND_IPI, &mut a).map(|_| a.port)
}

/// Notifies the other end of `port`.
///
/// # Errors
/// `EINVAL`.
pub fn send(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_SEND, &mut p).map(|_| ())
}

/// Closes `port`.
///
/// # Errors
/// `EINVAL`.
pub fn close(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_CLOSE, &mut p).map(|_| ())
}

/// Unmasks `port`, raising it again if pending.
///
/// # Errors
/// `EINVAL`.
pub fn unmask(port: u32) -> Result<(), Errno> {
    let mut p = port;
    op(EVTCHNOP_UNMASK, &mut p).map(|_| ())
}

/// The status of `port` of `dom`.
///
/// # Errors
/// `ESRCH`, `EPERM`, `EINVAL`.
pub fn status(dom: DomId, port: u32) -> Result<Status, Errno> {
    let mut s = Status { dom, port, ..Default::default() };
    op(EVTCHNOP_STATUS, &mut s).map(|_| s)
}
