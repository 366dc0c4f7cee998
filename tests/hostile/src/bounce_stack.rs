//! F9: an exception raised in guest kernel mode with a hostile stack
//! pointer, for the bounce's short path (issue 13): `int3` or `ud2` with
//! RSP in the hypervisor's range (its direct map of RAM), in the canonical hole, on an unmapped
//! page, or so low that the frame wraps below address 0. No bounce frame
//! fits, so the hypervisor must crash this domain with a log line, as
//! its general path did before the short path existed, and never fault
//! itself or touch the victim. The `-iret` cases make the `iret` hypercall
//! with its 9-word frame at such a stack pointer, for the SYSCALL entry's
//! short path (`wrap` there is a frame that wraps past the top of the
//! address space): the frame cannot be read, and the domain is crashed.
//! The `-upcall` cases make an `EVTCHNOP_send` on a loopback channel
//! with events unmasked at such a stack pointer, for the send's short
//! path and its upcall in assembly: the upcall frame cannot be written,
//! and the domain is crashed. The `-iretup` cases make an `iret` whose
//! frame is readable but returns to such a stack pointer with IF set while
//! an upcall is pending, for the `iret` short path's upcall in assembly:
//! the upcall due at the return cannot write its frame, and the domain is
//! crashed.

use crate::broke;
use crate::env::{Broke, Env};
use guest_kernel::say;

/// The stack pointer of each case.
fn stack_of(case: &str) -> Option<u64> {
    Some(match case.split('-').next()? {
        // The hypervisor's direct map of RAM (machine address 0x90000):
        // mapped and writable in ring 0, so only the range check stops the
        // frame write.
        "hv" => 0xFFFF_8300_0009_0000,
        "hole" => (1 << 47) + 0x1000,
        // Page 1 of guest space: never mapped by a PV domain's builder.
        "unmapped" => 0x1800,
        "wrap" if case.ends_with("-iret") => 0xFFFF_FFFF_FFFF_FFE0,
        "wrap" => 0x20,
        _ => return None,
    })
}

/// Raises the case's exception on the case's stack; returns only if the
/// case is unknown.
pub fn f9(env: &mut Env, case: &str) -> Result<(), Broke> {
    let Some(rsp) = stack_of(case) else { return broke!("f9: unknown case '{case}'") };
    if case.ends_with("-upcall") {
        let port = unmasked_loopback(env)?;
        say!("f9 {case}: EVTCHNOP_send with events unmasked and rsp {rsp:#x}; the hypervisor must crash this domain");
        crate::arch::send_on_stack(rsp, port);
    }
    if case.ends_with("-iretup") {
        map_shared_info(env)?;
        let si = crate::arch::vcpu_info_va();
        // upcall_pending set, events masked: the iret's IF unmasks them.
        crate::arch::write(si, 1 | 1 << 8);
        say!("f9 {case}: iret to rsp {rsp:#x} unmasking a pending upcall; the hypervisor must crash this domain");
        let frame = [0, 0, 0, 0, crate::arch::iret_target(), 0xE030, 0x202, rsp, 0xE02B];
        crate::arch::raw_iret(&frame);
        return broke!("f9 {case}: the iret returned to the guest");
    }
    if case.ends_with("-iret") {
        say!("f9 {case}: iret with its frame at {rsp:#x}; the hypervisor must crash this domain");
        crate::arch::iret_on_stack(rsp);
    }
    let ud2 = case.ends_with("-ud2");
    say!("f9 {case}: {} with rsp {rsp:#x}; the hypervisor must crash this domain", if ud2 { "ud2" } else { "int3" });
    crate::arch::trap_on_stack(rsp, ud2)
}

/// A loopback channel (an unbound port of this domain's, bound to by
/// itself) with nothing pending and events unmasked; returns the bound
/// end, a send on which makes an upcall due at once.
fn unmasked_loopback(env: &mut Env) -> Result<u32, Broke> {
    use abi::event_channel::{AllocUnbound, BindInterdomain, EVTCHNOP_ALLOC_UNBOUND, EVTCHNOP_BIND_INTERDOMAIN};
    use abi::DomId;
    let si = map_shared_info(env)?;
    let mut a = AllocUnbound { dom: DomId::SELF, remote_dom: DomId::SELF, port: 0 };
    let r = crate::arch::hc(32, [EVTCHNOP_ALLOC_UNBOUND, &mut a as *mut AllocUnbound as u64, 0, 0, 0]);
    let mut b = BindInterdomain { remote_dom: DomId::SELF, pad: 0, remote_port: a.port, local_port: 0 };
    let r2 = crate::arch::hc(32, [EVTCHNOP_BIND_INTERDOMAIN, &mut b as *mut BindInterdomain as u64, 0, 0, 0]);
    if r != 0 || r2 != 0 || a.port >= 64 || b.local_port >= 64 {
        return broke!("f9: no loopback channel ({r}, {r2})");
    }
    // The bind marked its port pending: cleared (pending word, selector,
    // upcall_pending), then events unmasked with nothing pending.
    crate::arch::write(si + 2048, 0);
    crate::arch::write(si + 8, 0);
    crate::arch::write(si, 0);
    Ok(b.local_port)
}

/// Maps shared_info at the scratch page and tells the event callback;
/// returns where.
fn map_shared_info(env: &mut Env) -> Result<u64, Broke> {
    let (si, _) = env.scratch();
    if crate::env::uvm(si, (env.shared_info << 12) | crate::env::RWF, abi::mmu::UVMF_INVLPG) != 0 {
        return broke!("f9: cannot map shared_info");
    }
    crate::arch::set_vcpu_info_va(si);
    Ok(si)
}
