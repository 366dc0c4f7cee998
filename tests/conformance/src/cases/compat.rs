//! SYSCALL from compatibility mode (fact sheet platform §1.3): the guest
//! kernel irets to 0xE020 in a low alias of a code page and executes
//! SYSCALL there. It is never a hypercall; the answer depends on the
//! callbacks registered. Before issue 8 this stopped xen-core with #DF at
//! RIP 0 (CSTAR was never programmed).

use super::{call, entry, me, mu, Fixture, Suite, N, RO, RWF, VIRT_BASE};
use crate::arch::{compat_callback_address, compat_code_page, compat_syscall_probe};
use abi::mmu::MMUEXT_CLEAR_PAGE;
use abi::start_info::StartInfo;
use abi::traps::{CallbackRegister, CALLBACKOP_REGISTER, CALLBACKTYPE_SYSCALL, CALLBACKTYPE_SYSCALL32};

/// Where the code page's alias and the two stack pages below 4 GiB go.
const LOW: u64 = 0x4000_0000;
const LOW_STACK_TOP: u64 = LOW + 3 * 4096;
/// A stack top whose bounce frame address has bit 10 clear (see below).
const DF_STACK_TOP: u64 = LOW + 2 * 4096 + 0x400;
const DF: u64 = 1 << 10;

fn register(kind: u16, address: u64) -> i64 {
    let cb = CallbackRegister { kind, flags: 0, pad: 0, address };
    call(N::CALLBACK_OP, &[CALLBACKOP_REGISTER, &cb as *const CallbackRegister as u64])
}

/// Maps the code page read-only at `LOW` and two fresh stack pages above
/// it, under L4 slot 0 of the running (boot) tables.
fn map_low(f: &mut Fixture, si: &StartInfo) -> i64 {
    let code = compat_code_page();
    let code_mfn = f.mfn((code - VIRT_BASE) >> 12);
    let root = f.mfn((si.pt_base - VIRT_BASE) >> 12);
    let (l3, l2, l1, st0, st1) = (f.fresh(), f.fresh(), f.fresh(), f.fresh(), f.fresh());
    for m in [l3, l2, l1, st0, st1] {
        let _ = me(MMUEXT_CLEAR_PAGE, m, 0);
    }
    let steps = [
        mu(entry(l1, 0), (code_mfn << 12) | RO),
        mu(entry(l1, 1), (st0 << 12) | RWF),
        mu(entry(l1, 2), (st1 << 12) | RWF),
        mu(entry(l2, 0), (l1 << 12) | RWF),
        mu(entry(l3, LOW >> 30), (l2 << 12) | RWF),
        mu(entry(root, 0), (l3 << 12) | RWF),
    ];
    steps.iter().copied().find(|&r| r != 0).unwrap_or(0)
}

pub(super) fn compat_syscall(s: &mut Suite, f: &mut Fixture, si: &StartInfo) {
    s.check("compat SYSCALL setup: map code and stack below 4 GiB", 0, map_low(f, si));
    let (plain, with_df) = (LOW, LOW + 4);
    // Earlier cases registered callbacks; start with none.
    s.check("remove the syscall32 callback", 0, register(CALLBACKTYPE_SYSCALL32, 0));
    s.check("remove the 64-bit SYSCALL callback", 0, register(CALLBACKTYPE_SYSCALL, 0));

    let r = compat_syscall_probe(plain, LOW_STACK_TOP);
    s.check("compat SYSCALL with no callback raises #UD", 6 << 16, r.fault);
    s.check("that #UD is raised at the SYSCALL instruction", 0, r.fault_rip.wrapping_sub(plain) as i64);

    s.check("register a 64-bit SYSCALL callback only", 0, register(CALLBACKTYPE_SYSCALL, compat_callback_address()));
    let r = compat_syscall_probe(plain, LOW_STACK_TOP);
    s.check("compat SYSCALL ignores the 64-bit callback: #UD", 6 << 16, r.fault);
    s.check("the 64-bit callback did not run", 0, i64::from(r.callback));
    let _ = register(CALLBACKTYPE_SYSCALL, 0);

    s.check("register a syscall32 callback", 0, register(CALLBACKTYPE_SYSCALL32, compat_callback_address()));
    // The frame lands at an address with bit 10 clear. Measured: with the
    // stack at LOW_STACK_TOP (frame address bit 10 set) DF survives on
    // Xen 4.17 as Debian ships it, as if the callback's RFLAGS were ANDed
    // with the frame address (a register create_bounce_frame clobbers).
    // xen-core always clears DF, as the PV ABI says.
    let r = compat_syscall_probe(with_df, DF_STACK_TOP);
    s.check("compat SYSCALL runs the syscall32 callback", 1, i64::from(r.callback));
    s.check("its frame RIP is the return address", 3, r.rip.wrapping_sub(with_df) as i64);
    s.check("its frame CS is 0xE020 (kernel mode, RPL cleared)", 0xE020, r.cs as i64);
    s.check("its frame RFLAGS keeps DF", DF as i64, (r.rflags & DF) as i64);
    s.check("the callback runs with DF clear", 0, (r.live_rflags & DF) as i64);
    let _ = register(CALLBACKTYPE_SYSCALL32, 0);
    s.check("with the callback removed, #UD again", 6 << 16, compat_syscall_probe(plain, LOW_STACK_TOP).fault);
}
