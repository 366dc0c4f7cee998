//! `vcpu_op` (fact sheet §3.3–§3.4): vCPU ids, the timer commands, the
//! runstate area and the secondary time area. The suite's domain has one
//! vCPU (Xen runs it as dom0 with `dom0_max_vcpus=1`).

use super::{call, Suite, EFAULT, EINVAL, HV, N};
use abi::vcpu::*;
use guest_kernel::arch::x86_64::mem;

const ENOENT: i64 = -2;
const EEXIST: i64 = -17;
const ENOSYS: i64 = -38;

fn vop(cmd: u64, vcpu: u64, arg: u64) -> i64 {
    call(N::VCPU_OP, &[cmd, vcpu, arg])
}

fn ptr<T>(v: &T) -> u64 {
    v as *const T as u64
}

/// A `vcpu_guest_context`'s worth of zeroes (5168 bytes on x86_64).
static CONTEXT: [u8; 5168] = [0; 5168];

pub(super) fn vcpu_op(s: &mut Suite, time_va: u64) {
    s.check("vcpu_op is_up(0)", 1, vop(VCPUOP_IS_UP, 0, 0));
    s.check("vcpu_op is_up(1) (beyond max_vcpus)", ENOENT, vop(VCPUOP_IS_UP, 1, 0));
    s.check("vcpu_op is_up(0xffffffff)", ENOENT, vop(VCPUOP_IS_UP, 0xFFFF_FFFF, 0));
    s.check("vcpu_op is_up(1 << 32) (vcpuid is 32 bits)", 1, vop(VCPUOP_IS_UP, 1 << 32, 0));
    s.check("vcpu_op (1 << 32) | is_up (cmd is 32 bits)", 1, vop((1 << 32) | VCPUOP_IS_UP, 0, 0));
    s.check("vcpu_op unknown command 99", ENOSYS, vop(99, 0, 0));
    s.check("vcpu_op unknown command 99 on vCPU 1", ENOENT, vop(99, 1, 0));
    s.check("vcpu_op up(0) (already up)", 0, vop(VCPUOP_UP, 0, 0));
    s.check("vcpu_op up(1)", ENOENT, vop(VCPUOP_UP, 1, 0));
    s.check("vcpu_op down(1)", ENOENT, vop(VCPUOP_DOWN, 1, 0));
    // Domain 0's one vCPU on a one-CPU machine is "pinned": it has an id.
    s.by_privilege("vcpu_op get_physid(0) into NULL", EFAULT, EINVAL, vop(VCPUOP_GET_PHYSID, 0, 0));
    let mut physid = u64::MAX;
    s.by_privilege("vcpu_op get_physid(0)", 0, EINVAL, vop(VCPUOP_GET_PHYSID, 0, &mut physid as *mut u64 as u64));
    if !s.domu {
        s.observe("vcpu_op get_physid(0): APIC and ACPI ids", physid as i64);
    }
    s.check("vcpu_op get_physid(1)", ENOENT, vop(VCPUOP_GET_PHYSID, 1, 0));
    s.check("vcpu_op initialise(0) (already initialised)", EEXIST, vop(VCPUOP_INITIALISE, 0, ptr(&CONTEXT)));
    s.check("vcpu_op initialise(0) with a NULL context", EFAULT, vop(VCPUOP_INITIALISE, 0, 0));
    s.check("vcpu_op initialise(1)", ENOENT, vop(VCPUOP_INITIALISE, 1, ptr(&CONTEXT)));
    timers(s, time_va);
    runstate(s, time_va);
    time_area(s);
}

fn timers(s: &mut Suite, time_va: u64) {
    let period = |ns: u64| vop(VCPUOP_SET_PERIODIC_TIMER, 0, ptr(&VcpuSetPeriodicTimer { period_ns: ns }));
    s.check("set_periodic_timer(999999 ns) (under 1 ms)", EINVAL, period(999_999));
    s.check("set_periodic_timer(0)", EINVAL, period(0));
    s.check("set_periodic_timer(2^62) (over STIME_DELTA_MAX)", EINVAL, period(1 << 62));
    s.check("set_periodic_timer(2^62 - 1)", 0, period((1 << 62) - 1));
    s.check("set_periodic_timer(1 ms)", 0, period(1_000_000));
    s.check("set_periodic_timer with a NULL argument", EFAULT, vop(VCPUOP_SET_PERIODIC_TIMER, 0, 0));
    s.check("set_periodic_timer on vCPU 1", ENOENT, vop(VCPUOP_SET_PERIODIC_TIMER, 1, ptr(&1_000_000u64)));
    s.check("stop_periodic_timer", 0, vop(VCPUOP_STOP_PERIODIC_TIMER, 0, 0));
    s.check("stop_periodic_timer on vCPU 1", ENOENT, vop(VCPUOP_STOP_PERIODIC_TIMER, 1, 0));
    let later = super::time::now(time_va) + 10_000_000_000;
    let shot = |t: u64, flags: u32| {
        vop(VCPUOP_SET_SINGLESHOT_TIMER, 0, ptr(&VcpuSetSingleshotTimer { timeout_abs_ns: t, flags, pad: 0 }))
    };
    s.check("set_singleshot_timer(now + 10 s)", 0, shot(later, 0));
    s.check("set_singleshot_timer(now + 10 s, VCPU_SSHOTTMR_future)", 0, shot(later, VCPU_SSHOTTMR_FUTURE));
    // Already past, with the flag that once meant -ETIME: Xen 4.17 fires
    // it at once and returns 0 (the PV and the PVH vcpu_op share this).
    let past = super::time::now(time_va).saturating_sub(1_000_000);
    s.check("set_singleshot_timer(now - 1 ms, VCPU_SSHOTTMR_future)", 0, shot(past, VCPU_SSHOTTMR_FUTURE));
    s.check("set_singleshot_timer(now - 1 ms)", 0, shot(past, 0));
    s.check("set_singleshot_timer with a NULL argument", EFAULT, vop(VCPUOP_SET_SINGLESHOT_TIMER, 0, 0));
    s.check("set_singleshot_timer in hypervisor space", EFAULT, vop(VCPUOP_SET_SINGLESHOT_TIMER, 0, HV));
    s.check("set_singleshot_timer on vCPU 1", ENOENT, vop(VCPUOP_SET_SINGLESHOT_TIMER, 1, 0));
    s.check("stop_singleshot_timer", 0, vop(VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0));
    s.check("stop_singleshot_timer on vCPU 1", ENOENT, vop(VCPUOP_STOP_SINGLESHOT_TIMER, 1, 0));
}

/// Where the hypervisor keeps the runstate (never moved while registered).
static mut AREA: VcpuRunstateInfo = VcpuRunstateInfo { state: -1, pad: 0, state_entry_time: 0, time: [0; 4] };

fn runstate(s: &mut Suite, time_va: u64) {
    let mut r = VcpuRunstateInfo { state: -1, ..Default::default() };
    s.check("get_runstate_info(0)", 0, vop(VCPUOP_GET_RUNSTATE_INFO, 0, &mut r as *mut _ as u64));
    s.check("get_runstate_info: the caller is running", i64::from(RUNSTATE_RUNNING), i64::from(r.state));
    s.truth("get_runstate_info: it has run for some time", r.time[0] > 0);
    s.truth("get_runstate_info: entry time is not in the future", r.state_entry_time & !XEN_RUNSTATE_UPDATE > 0);
    s.check("get_runstate_info with a NULL buffer", EFAULT, vop(VCPUOP_GET_RUNSTATE_INFO, 0, 0));
    s.check("get_runstate_info into hypervisor space", EFAULT, vop(VCPUOP_GET_RUNSTATE_INFO, 0, HV));
    s.check("get_runstate_info(1)", ENOENT, vop(VCPUOP_GET_RUNSTATE_INFO, 1, ptr(&r)));
    let area = &raw mut AREA as u64;
    let reg = |va: u64| vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, ptr(&VcpuRegisterArea { addr: va }));
    // The area gets the caller's runstate as of its last switch (the stay
    // in progress is not counted, on Xen as here): a short sleep first
    // makes sure there was one since it last started running.
    let nap = abi::sched::SchedPoll { ports: 0, nr_ports: 0, pad: 0, timeout: super::time::now(time_va) + 1_000_000 };
    s.check("a 1 ms SCHEDOP_poll on no ports", 0, call(N::SCHED_OP, &[abi::sched::SCHEDOP_POLL, ptr(&nap)]));
    s.check("register_runstate_memory_area", 0, reg(area));
    // Written by the hypervisor: read through volatile loads.
    let (state, entry, running) = (mem::read(area) as u32, mem::read(area + 8), mem::read(area + 16));
    s.check("register_runstate_memory_area writes the state at once", 0, i64::from(state));
    s.truth("register_runstate_memory_area: running time written", running > 0);
    abi::guest::yield_now();
    s.truth("the runstate area is rewritten across a yield", mem::read(area + 8) >= entry);
    s.check("register_runstate_memory_area in hypervisor space", EFAULT, reg(HV));
    s.check(
        "register_runstate_memory_area with a NULL argument",
        EFAULT,
        vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, 0),
    );
    s.check("register_runstate_memory_area(0) unregisters", 0, reg(0));
    s.check(
        "register_runstate_memory_area on vCPU 1",
        ENOENT,
        vop(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 1, ptr(&0u64)),
    );
}

static mut TIME_AREA: [u64; 4] = [0; 4];

fn time_area(s: &mut Suite) {
    let area = &raw mut TIME_AREA as u64;
    let reg = |va: u64| vop(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, ptr(&VcpuRegisterArea { addr: va }));
    s.check("register_vcpu_time_memory_area", 0, reg(area));
    let t = [mem::read(area), mem::read(area + 8), mem::read(area + 16), mem::read(area + 24)];
    s.truth("register_vcpu_time_memory_area: written at once, version even", t[0] as u32 & 1 == 0 && t[0] != 0);
    s.truth("register_vcpu_time_memory_area: tsc_to_system_mul set", t[3] as u32 != 0);
    s.check("register_vcpu_time_memory_area in hypervisor space", EFAULT, reg(HV));
    s.check(
        "register_vcpu_time_memory_area with a NULL argument",
        EFAULT,
        vop(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, 0),
    );
    s.check("register_vcpu_time_memory_area(0) unregisters", 0, reg(0));
}
