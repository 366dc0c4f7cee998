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
pub fn f9(_env: &mut Env, case: &str) -> Result<(), Broke> {
    let Some(rsp) = stack_of(case) else { return broke!("f9: unknown case '{case}'") };
    if case.ends_with("-iret") {
        say!("f9 {case}: iret with its frame at {rsp:#x}; the hypervisor must crash this domain");
        crate::arch::iret_on_stack(rsp);
    }
    let ud2 = case.ends_with("-ud2");
    say!("f9 {case}: {} with rsp {rsp:#x}; the hypervisor must crash this domain", if ud2 { "ud2" } else { "int3" });
    crate::arch::trap_on_stack(rsp, ud2)
}
