//! A PVH vCPU's own hypercalls (command line `vcpuops`), after the event
//! setup of [`crate::events`]:
//!
//! * CPUID 0x40000004 must advertise `XEN_HVM_CPUID_UPCALL_VECTOR`; the
//!   per-vCPU vector is then set (`HVMOP_set_evtchn_upcall_vector`, vector
//!   0xF4) and `HVM_PARAM_CALLBACK_IRQ` turned to GSI 1, as Linux does:
//!   every upcall from then on must come on 0xF4 (the 0xF3 gate is
//!   cleared, so one on the old vector would crash the guest);
//! * a single-shot `vcpu_op` timer fires `VIRQ_TIMER` through it after its
//!   deadline (waited for in HLT), one already past fires at once even
//!   with `VCPU_SSHOTTMR_future`, and a periodic timer ticks while the
//!   guest spins;
//! * `get_runstate_info` is sane (running, the times adding up to no more
//!   than now), and a registered runstate area is written at once and
//!   again after the vCPU blocked (time blocked counted);
//! * a multicall of two `xen_version` calls and a nested multicall: their
//!   results in the entries;
//! * bad vectors, vCPU ids, periods, `vm_assist` types and pointers get
//!   Xen's errno.

use crate::events::{now, wait_for, COUNT, UPCALLS, VECTOR};
use crate::pvh::{check, cpuid, hvm_param, hypercall, idt_base, poke, say, upcall_gate};
use abi::event_channel::{virq, EVTCHNOP_BIND_VIRQ};
use abi::hvm::{param, HVMOP_FLUSH_TLBS, HVMOP_SET_EVTCHN_UPCALL_VECTOR, HVMOP_SET_PARAM};
use abi::hypercall::HypercallNr;
use abi::vcpu::*;
use abi::Errno;
use core::fmt::Write;
use core::sync::atomic::Ordering;

/// The per-vCPU vector.
const PERCPU: u64 = 0xF4;

fn errno(e: Errno) -> i64 {
    -i64::from(e.0)
}

fn vcpu_op(cmd: u64, id: u64, arg: u64) -> i64 {
    hypercall(HypercallNr::VCPU_OP, cmd, id, arg)
}

fn upcall_vector(vcpu: u32, vector: u8) -> i64 {
    let op = [u64::from(vcpu) | (u64::from(vector) << 32)];
    hypercall(HypercallNr::HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, op.as_ptr() as u64, 0)
}

fn gate(vector: u64, handler: u64) {
    let idt = idt_base();
    let (lo, hi) = if handler == 0 {
        (0, 0)
    } else {
        ((handler & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | (((handler >> 16) & 0xFFFF) << 48), handler >> 32)
    };
    poke(idt + vector * 16, lo);
    poke(idt + vector * 16 + 8, hi);
}

fn singleshot(deadline: u64, flags: u32) -> i64 {
    let s = [deadline, u64::from(flags)];
    vcpu_op(VCPUOP_SET_SINGLESHOT_TIMER, 0, s.as_ptr() as u64)
}

/// Waits with interrupts on but without HLT (a periodic timer runs only
/// while its vCPU does) until `port` has seen more than `seen` events.
fn spin_for(port: u32, seen: u32) {
    for _ in 0..2_000_000_000u64 {
        if COUNT[port as usize].load(Ordering::SeqCst) > seen {
            return;
        }
        core::hint::spin_loop();
    }
    crate::pvh::fail("no periodic tick arrived");
}

/// Entries of the long multicall: more than one preemption budget (the
/// hypervisor preempts a list of cheap entries every 1024).
const LONG: u64 = 2500;
/// Where its list goes: 8 MiB, RAM this guest leaves alone.
const LONG_AT: u64 = 8 << 20;

/// The VMMCALL exits so far (xen-core's exit-count CPUID leaf, kind 0).
fn vmmcalls() -> u64 {
    let r = cpuid(abi::hvm::XEN_CORE_EXIT_COUNT_LEAF);
    u64::from(r[1]) | (u64::from(r[2]) << 32)
}

/// A list of `LONG` xen_version calls: every result right, and the
/// hypervisor's continuations visible as extra VMMCALLs (RIP rewound to
/// the call, the rest of the list in RDI/RSI).
fn long_multicall() {
    for i in 0..LONG {
        let e = LONG_AT + i * 64;
        poke(e, HypercallNr::XEN_VERSION.0);
        poke(e + 8, 0xDEADu64);
        poke(e + 16, abi::version::XENVER_VERSION);
    }
    let before = vmmcalls();
    let r = hypercall(HypercallNr::MULTICALL, LONG_AT, LONG, 0);
    let calls = vmmcalls() - before;
    let right = (0..LONG).filter(|i| crate::pvh::peek::<u64>(LONG_AT + i * 64 + 8) == 0x4_0011).count();
    say!("pvh-hello: vcpu: multicall of {LONG} entries -> {r}: {right} results right, in {calls} VMMCALLs");
    // 1024 entries per budget: the call and two continuations.
    check(r == 0 && right == LONG as usize && calls >= 3, "a long multicall, preempted and continued");
}

pub fn run() {
    crate::events::setup();
    let leaf4 = cpuid(0x4000_0004);
    say!("pvh-hello: vcpu: CPUID 0x40000004 eax {:#x} ebx {} ecx {}", leaf4[0], leaf4[1], leaf4[2]);
    check(leaf4[0] & (1 << 6) != 0, "XEN_HVM_CPUID_UPCALL_VECTOR");
    // Refusals first: nothing may change.
    let low = upcall_vector(0, 0x0F);
    let other = upcall_vector(1, PERCPU as u8);
    check(low == errno(Errno::EINVAL) && other == errno(Errno::ENOENT), "bad upcall vector / vCPU");
    // The per-vCPU vector, the old gate gone, the callback turned to GSI 1.
    gate(PERCPU, upcall_gate());
    check(upcall_vector(0, PERCPU as u8) == 0, "set_evtchn_upcall_vector");
    let (gsi, _) = hvm_param(HVMOP_SET_PARAM, param::CALLBACK_IRQ, 1);
    check(gsi == 0, "CALLBACK_IRQ := GSI 1");
    gate(VECTOR, 0);
    let mut b = [virq::TIMER, 0, 0];
    let r = hypercall(HypercallNr::EVENT_CHANNEL_OP, EVTCHNOP_BIND_VIRQ, b.as_mut_ptr() as u64, 0);
    check(r == 0, "bind_virq(VIRQ_TIMER)");
    let port = b[2];
    let seen = COUNT[port as usize].load(Ordering::SeqCst);
    let upcalls = UPCALLS.load(Ordering::SeqCst);
    // A single-shot timer, waited for in HLT.
    let deadline = now() + 2_000_000;
    check(singleshot(deadline, 0) == 0, "set_singleshot_timer");
    wait_for(port, seen);
    let late = now() >= deadline;
    // One already past, with VCPU_SSHOTTMR_future: Xen 4.17 ignores the
    // flag and fires at once.
    let past = singleshot(now() - 1, VCPU_SSHOTTMR_FUTURE);
    wait_for(port, seen + 1);
    say!(
        "pvh-hello: vcpu: single-shot timer on vector {PERCPU:#x} after its deadline: {late}; a past one with \
         VCPU_SSHOTTMR_future -> {past}, fired"
    );
    check(late && past == 0, "the single-shot timer");
    // A periodic timer: 3 ticks while spinning, then stopped.
    let period = [1_000_000u64];
    let short = [999_999u64];
    let bad_period = vcpu_op(VCPUOP_SET_PERIODIC_TIMER, 0, short.as_ptr() as u64);
    check(vcpu_op(VCPUOP_SET_PERIODIC_TIMER, 0, period.as_ptr() as u64) == 0, "set_periodic_timer");
    let start = now();
    for k in 0..3 {
        spin_for(port, seen + 2 + k);
    }
    let took = now() - start;
    check(vcpu_op(VCPUOP_STOP_PERIODIC_TIMER, 0, 0) == 0, "stop_periodic_timer");
    say!(
        "pvh-hello: vcpu: periodic timer (1 ms): 3 ticks in {} us; a 999999 ns period -> {bad_period}; \
         {} upcalls on vector {PERCPU:#x}",
        took / 1000,
        UPCALLS.load(Ordering::SeqCst) - upcalls
    );
    // (Their spacing is plain-TCG time, not checked: the ticks came.)
    check(took > 0 && bad_period == errno(Errno::EINVAL), "the periodic timer");

    // The runstate: read, then an area registered and rewritten after a block.
    let mut info = [0u64; 6];
    check(vcpu_op(VCPUOP_GET_RUNSTATE_INFO, 0, info.as_mut_ptr() as u64) == 0, "get_runstate_info");
    let t = now();
    let sum: u64 = info[2..].iter().sum();
    say!(
        "pvh-hello: vcpu: runstate state {} entered at {} ns, running {} blocked {} runnable {} offline {} ns",
        info[0] as u32,
        info[1],
        info[2],
        info[4],
        info[3],
        info[5]
    );
    check(info[0] as u32 == 0 && info[2] > 0 && info[1] <= t && sum <= t, "a sane runstate");
    let mut area = [0u64; 6];
    let a = [area.as_mut_ptr() as u64];
    check(vcpu_op(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, a.as_ptr() as u64) == 0, "register_runstate_area");
    let read = |i: usize| crate::pvh::peek::<u64>(area.as_ptr() as u64 + 8 * i as u64);
    let (entry0, blocked0) = (read(1), read(4));
    check(read(0) as u32 == 0 && entry0 != 0, "the area written at once");
    // 30 ms: long enough that the HLT surely blocks (a deadline that
    // passes before the guest reaches HLT leaves the event pending there).
    let seen = COUNT[port as usize].load(Ordering::SeqCst);
    check(singleshot(now() + 30_000_000, 0) == 0, "set_singleshot_timer");
    wait_for(port, seen);
    let (entry1, blocked1) = (read(1), read(4));
    check(vcpu_op(VCPUOP_GET_RUNSTATE_INFO, 0, info.as_mut_ptr() as u64) == 0, "get_runstate_info");
    say!(
        "pvh-hello: vcpu: runstate area: entry {entry0} -> {entry1}, blocked {blocked0} -> {blocked1} ns (get_runstate_info: entry {}, blocked {} ns)",
        info[1],
        info[4]
    );
    check(read(0) as u32 == 0 && entry1 > entry0 && blocked1 > blocked0, "the area rewritten after a block");

    // A multicall: two xen_version calls and a nested multicall.
    let mut list = [0u64; 24];
    list[0] = HypercallNr::XEN_VERSION.0;
    list[8] = HypercallNr::XEN_VERSION.0;
    list[10] = abi::version::XENVER_PAGESIZE;
    list[16] = HypercallNr::MULTICALL.0;
    list[1] = 0xDEAD;
    list[9] = 0xDEAD;
    let mc = hypercall(HypercallNr::MULTICALL, list.as_mut_ptr() as u64, 3, 0);
    let (r0, r1, r2) = (list[1], list[9], list[17] as i64);
    say!("pvh-hello: vcpu: multicall -> {mc}: xen_version {r0:#x}, pagesize {r1}, nested multicall {r2}");
    check(mc == 0 && r0 == 0x4_0011 && r1 == 4096 && r2 == errno(Errno::EINVAL), "the multicall");
    let far = hypercall(HypercallNr::MULTICALL, 0x8000_0000, 1, 0);
    long_multicall();

    // Refusals and the small ones.
    let up = vcpu_op(VCPUOP_IS_UP, 0, 0);
    let up1 = vcpu_op(VCPUOP_IS_UP, 1, 0);
    let physid = vcpu_op(VCPUOP_GET_PHYSID, 0, list.as_mut_ptr() as u64);
    let init = vcpu_op(VCPUOP_INITIALISE, 0, list.as_mut_ptr() as u64);
    let va = hypercall(HypercallNr::VM_ASSIST, 0, 5, 0);
    let va2 = hypercall(HypercallNr::VM_ASSIST, 0, 2, 0);
    let flush = hypercall(HypercallNr::HVM_OP, HVMOP_FLUSH_TLBS, 0, 0);
    let flush_bad = hypercall(HypercallNr::HVM_OP, HVMOP_FLUSH_TLBS, list.as_ptr() as u64, 0);
    say!(
        "pvh-hello: vcpu: multicall at unmapped va -> {far}, is_up(0) {up}, is_up(1) {up1}, get_physid {physid}, \
         initialise {init}, vm_assist(runstate_update_flag) {va}, vm_assist(2) {va2}, flush_tlbs {flush}/{flush_bad}, \
         upcall vector 0x0f -> {low}, vCPU 1 -> {other}"
    );
    check(far == errno(Errno::EFAULT) && up == 1 && up1 == errno(Errno::ENOENT), "is_up and a far list");
    check(physid == errno(Errno::EINVAL) && init == errno(Errno::EEXIST), "get_physid and initialise");
    check(va == 0 && va2 == errno(Errno::EINVAL), "vm_assist");
    check(flush == 0 && flush_bad == errno(Errno::EINVAL), "flush_tlbs");
    // SAFETY: no more upcalls wanted.
    unsafe { core::arch::asm!("cli") };
}
