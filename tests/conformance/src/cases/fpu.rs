//! The FPU: x87 and SSE work from the start (CR4.OSFXSR), and
//! `fpu_taskswitch` (fact sheet §4.5) sets the virtual CR0.TS, under which
//! the next x87/SSE instruction raises #NM into trap 7, with TS cleared by
//! the hypervisor before the handler runs (§1.4).

use super::{call, Suite};
use abi::hypercall::HypercallNr as N;
use core::sync::atomic::Ordering::SeqCst;
use guest_kernel::arch::x86_64::{fpu, traps};

/// Runs `probe` (an instruction of `len` bytes) and names what it raised:
/// 7 for #NM (handled and retried), 6 or 13 for a fault skipped, 0 for none.
fn raised(probe: fn(), len: u64) -> i64 {
    let nm = traps::NM_COUNT.load(SeqCst);
    traps::LAST_FAULT.store(0, SeqCst);
    traps::SKIP_ON_FAULT.store(len, SeqCst);
    probe();
    traps::SKIP_ON_FAULT.store(0, SeqCst);
    let fault = traps::LAST_FAULT.swap(0, SeqCst) as i64;
    match traps::NM_COUNT.load(SeqCst) - nm {
        0 => fault,
        1 => 7,
        _ => -1,
    }
}

fn x87() -> i64 {
    raised(fpu::fnop, fpu::FNOP_LEN)
}

fn sse() -> i64 {
    raised(fpu::xorps_xmm1, fpu::XORPS_LEN)
}

fn taskswitch(arg: u64) -> i64 {
    call(N::FPU_TASKSWITCH, &[arg])
}

pub(super) fn fpu(s: &mut Suite) {
    let start = fpu::fxsave();
    s.check("fpu: FCW at start is FNINIT's 0x37f", 0x37F, i64::from(start.fcw()));
    s.check("fpu: MXCSR at start is 0x1f80", 0x1F80, i64::from(start.mxcsr()));
    // On xen-core the unprivileged run starts after domain 0 ran these
    // cases with XMM0 loaded: nothing of it may be left.
    let zero = i64::from(start.0[32..416].iter().all(|&b| b == 0));
    if s.domu {
        s.by_privilege("fpu: ST and XMM registers zero at start", 0, 1, zero);
    } else {
        s.observe("fpu: ST and XMM registers zero at start", zero);
    }
    s.check("fpu: x87 instruction after boot raises nothing", 0, x87());
    s.check("fpu: SSE instruction after boot raises nothing (CR4.OSFXSR)", 0, sse());
    s.check("fpu_taskswitch(1)", 0, taskswitch(1));
    s.check("fpu: x87 instruction under fpu_taskswitch(1) raises #NM", 7, x87());
    s.check("fpu: x87 instruction after that #NM raises nothing (TS cleared)", 0, x87());
    let _ = taskswitch(1);
    s.check("fpu: SSE instruction under fpu_taskswitch(1) raises #NM", 7, sse());
    let _ = taskswitch(1);
    s.check("fpu_taskswitch(0)", 0, taskswitch(0));
    s.check("fpu: x87 instruction after fpu_taskswitch(1) then (0) raises nothing", 0, x87());
    s.check("fpu_taskswitch(2)", 0, taskswitch(2));
    s.check("fpu: x87 instruction under fpu_taskswitch(2) raises #NM", 7, x87());
    s.check("fpu_taskswitch(-1)", 0, taskswitch(u64::MAX));
    s.check("fpu: x87 instruction under fpu_taskswitch(-1) raises #NM", 7, x87());
    let _ = taskswitch(1);
    s.check("fpu_taskswitch(1 << 32)", 0, taskswitch(1 << 32));
    s.check("fpu: fpu_taskswitch(1 << 32) clears TS (int argument 0)", 0, x87());
    let _ = taskswitch(1);
    abi::guest::yield_now();
    s.check("fpu: the virtual TS survives sched_op yield", 7, x87());
    let pattern = [0x5A; 16];
    fpu::load(0x037F, 42, 0x1F80, &pattern);
    let _ = taskswitch(1);
    let nm = sse();
    let after = fpu::fxsave();
    s.check("fpu: SSE under TS with XMM0 loaded raises #NM", 7, nm);
    s.truth("fpu: XMM0 survives the #NM", after.0[160..176] == pattern);
    cr0(s);
    // Leave the registers as a later domain must never see them.
    fpu::load(0x027F, 0x1234_5678, 0x3F80, &pattern);
}

/// CR0 moves and CLTS from the guest kernel (§5.2): a read shows the real
/// CR0 with the virtual TS; a write may change TS only, else #GP(0).
fn cr0(s: &mut Suite) {
    use crate::arch::{clts, read_cr0, write_cr0};
    const TS: u64 = 1 << 3;
    let _ = taskswitch(0);
    let cr0 = read_cr0();
    s.observe("cr0: mov from cr0 with TS clear", cr0 as i64);
    let _ = taskswitch(1);
    s.check("cr0: mov from cr0 shows fpu_taskswitch(1) as TS", TS as i64, (read_cr0() & TS) as i64);
    let _ = taskswitch(0);
    let write = |v: u64| {
        traps::LAST_FAULT.store(0, SeqCst);
        traps::SKIP_ON_FAULT.store(3, SeqCst);
        write_cr0(v);
        traps::SKIP_ON_FAULT.store(0, SeqCst);
        traps::LAST_FAULT.swap(0, SeqCst) as i64
    };
    s.check("cr0: mov to cr0 setting TS", 0, write(cr0 | TS));
    s.check("cr0: x87 instruction after mov to cr0 with TS raises #NM", 7, x87());
    let _ = taskswitch(1);
    s.check("cr0: mov to cr0 clearing TS", 0, write(cr0 & !TS));
    s.check("cr0: x87 instruction after mov to cr0 without TS raises nothing", 0, x87());
    s.check("cr0: mov to cr0 clearing MP is #GP", 13, write(cr0 & !2));
    s.check("cr0: mov to cr0 setting EM is #GP", 13, write(cr0 | 4));
    let _ = taskswitch(1);
    clts();
    s.check("cr0: x87 instruction after clts raises nothing", 0, x87());
}
