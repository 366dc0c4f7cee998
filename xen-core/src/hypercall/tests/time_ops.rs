//! `set_timer_op`, `vcpu_op` and `sched_op` block/poll through the
//! dispatcher, on a fake clock whose TSC counts nanoseconds.

use super::*;
use crate::mm::tests::world::D1;
use crate::mm::{PhysAddr, PhysMemory};
use crate::time::vcpu::{upcall_masked, upcall_pending, Wait};
use crate::time::{Clock, SystemTime};
use abi::hypercall::HypercallNr as N;
use abi::sched::*;
use abi::vcpu::*;
use std::cell::Cell;

thread_local! {
    static TSC: Cell<u64> = const { Cell::new(0) };
}

fn fake_tsc() -> u64 {
    TSC.with(Cell::get)
}

fn set_now(ns: u64) {
    TSC.with(|c| c.set(ns));
}

/// A 1 GHz TSC stamped at 0: system time = TSC.
static CLOCKED: std::sync::LazyLock<super::super::HostInfo> = std::sync::LazyLock::new(|| super::super::HostInfo {
    clock: Clock::new(1_000_000_000, 0),
    read_tsc: fake_tsc,
    ..Default::default()
});

const SHARED: Mfn = Mfn(3);

struct T {
    w: World,
    g: FakeGuest,
    v: Vcpu,
    ev: Box<crate::event::EventChannels>,
}

impl T {
    fn new() -> T {
        let mut v = Vcpu::new(GuestContext::default());
        v.set_vcpu_info_location(PhysAddr(SHARED.to_maddr()));
        let mut w = World::new(16);
        // Events masked, as the builder leaves them.
        w.mem.write_bytes(PhysAddr(SHARED.to_maddr() + 1), &[1]);
        let mut ev = Box::new(crate::event::EventChannels::new());
        ev.create_domain(D1, SHARED, false);
        T { w, g: FakeGuest::new(4096), v, ev }
    }

    /// Binds VIRQ_TIMER as a guest does; returns the port.
    fn bind_timer(&mut self) -> u64 {
        let arg = BASE + 3000;
        self.g.put(arg, &[0u8; 12]);
        assert_eq!(self.rc(N::EVENT_CHANNEL_OP, &[abi::event_channel::EVTCHNOP_BIND_VIRQ, arg]), 0);
        u64::from(self.g.u32_at(arg + 8))
    }

    fn call(&mut self, nr: N, args: &[u64]) -> (i64, Action) {
        let mut ctx = regs(nr.0, args);
        let caller = Caller {
            dom: D1,
            vcpu: &mut self.v,
            guest: &self.g,
            console: &mut Sink::default(),
            host: &CLOCKED,
            events: &mut self.ev,
        };
        let action = caller.dispatch_fresh(&mut self.w, &mut ctx);
        (ctx.gpr[reg::RAX] as i64, action)
    }

    fn rc(&mut self, nr: N, args: &[u64]) -> i64 {
        let (r, a) = self.call(nr, args);
        assert_eq!(a, Action::Continue);
        r
    }

    fn pending(&self) -> bool {
        upcall_pending(&self.w.mem, self.v.vcpu_info_location())
    }
}

const ENOENT: i64 = -2;
const EINVAL: i64 = -22;
const EFAULT: i64 = -14;
const ENOSYS: i64 = -38;
const EEXIST: i64 = -17;

#[test]
fn set_timer_op_arms_cancels_and_fires_past_deadlines_at_once() {
    let mut t = T::new();
    set_now(1_000_000);
    assert_eq!(t.rc(N::SET_TIMER_OP, &[2_000_000]), 0);
    assert_eq!(t.v.time.timers.singleshot, Some(SystemTime(2_000_000)));
    assert_eq!(t.rc(N::SET_TIMER_OP, &[0]), 0);
    assert_eq!(t.v.time.timers.singleshot, None);
    assert!(!t.pending());
    assert_eq!(t.rc(N::SET_TIMER_OP, &[5]), 0);
    assert!(!t.pending(), "VIRQ_TIMER not bound: nothing is sent, as on Xen");
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr() + 1), &[0]);
    let port = t.bind_timer();
    assert_eq!(t.rc(N::SET_TIMER_OP, &[5]), 0);
    assert!(t.pending(), "a past deadline is VIRQ_TIMER now");
    assert_eq!(t.w.mem.read_u64(PhysAddr(SHARED.to_maddr() + 2048)) >> port & 1, 1, "its port is pending");
    assert_eq!(t.rc(N::SET_TIMER_OP, &[u64::MAX]), 0);
    assert_eq!(t.v.time.timers.singleshot, Some(SystemTime(101_000_000)), "negative: 100 ms");
}

#[test]
fn vcpu_op_names_only_vcpu_0_and_ignores_the_upper_halves() {
    let mut t = T::new();
    for id in [1u64, 31, 32, 0xFFFF_FFFF] {
        assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_IS_UP, id, 0]), ENOENT, "vcpu {id}");
        assert_eq!(t.rc(N::VCPU_OP, &[99, id, 0]), ENOENT, "ENOENT before the command is decoded");
    }
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_IS_UP, 0, 0]), 1);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_IS_UP, 1 << 32, 0]), 1, "vcpuid is an unsigned int");
    assert_eq!(t.rc(N::VCPU_OP, &[(1 << 32) | VCPUOP_IS_UP, 0, 0]), 1, "cmd is an int");
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_UP, 0, 0]), 0);
    assert_eq!(t.rc(N::VCPU_OP, &[99, 0, 0]), ENOSYS);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_GET_PHYSID, 0, BASE]), EINVAL, "domain 1 is not the hardware domain");
    assert_eq!(t.call(N::VCPU_OP, &[VCPUOP_DOWN, 0, 0]), (0, Action::Shutdown(u64::from(SHUTDOWN_POWEROFF))));
}

#[test]
fn initialise_copies_the_context_then_answers_eexist() {
    let mut t = T::new();
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_INITIALISE, 0, BASE]), EFAULT, "5168 bytes do not fit in the 4096");
    let mut t = T { g: FakeGuest::new(8192), ..T::new() };
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_INITIALISE, 0, BASE]), EEXIST);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_INITIALISE, 0, 0]), EFAULT);
}

#[test]
fn periodic_timer_limits_and_faults() {
    let mut t = T::new();
    let arg = BASE + 64;
    for (period, want) in [(999_999u64, EINVAL), (0, EINVAL), (1 << 62, EINVAL), (1_000_000, 0), ((1 << 62) - 1, 0)] {
        t.g.put_u64s(arg, &[period]);
        assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_SET_PERIODIC_TIMER, 0, arg]), want, "period {period}");
    }
    assert_eq!(t.v.time.timers.period_ns, (1 << 62) - 1);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_SET_PERIODIC_TIMER, 0, 0]), EFAULT);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_STOP_PERIODIC_TIMER, 0, 0]), 0);
    assert_eq!(t.v.time.timers.period_ns, 0);
}

#[test]
fn singleshot_timer_arms_fires_past_deadlines_and_ignores_the_future_flag() {
    let mut t = T::new();
    t.bind_timer();
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr() + 1), &[0]);
    set_now(50_000);
    let arg = BASE + 128;
    t.g.put_u64s(arg, &[60_000, u64::from(VCPU_SSHOTTMR_FUTURE)]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_SET_SINGLESHOT_TIMER, 0, arg]), 0);
    assert_eq!(t.v.time.timers.singleshot, Some(SystemTime(60_000)));
    t.g.put_u64s(arg, &[40_000, u64::from(VCPU_SSHOTTMR_FUTURE)]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_SET_SINGLESHOT_TIMER, 0, arg]), 0, "not -ETIME on Xen 4.17");
    assert_eq!(t.v.time.timers.singleshot, None);
    assert!(t.pending());
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_SET_SINGLESHOT_TIMER, 0, BASE + 4090]), EFAULT);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0]), 0);
}

#[test]
fn runstate_info_counts_the_current_stay_and_the_area_is_written_at_once_without_it() {
    let mut t = T::new();
    set_now(1000);
    t.v.time.runstate.change(crate::time::runstate::RUNNING, SystemTime(400));
    let out = BASE + 256;
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_GET_RUNSTATE_INFO, 0, out]), 0);
    assert_eq!(t.g.u32_at(out), 0, "running");
    assert_eq!(t.g.u64_at(out + 8), 400);
    assert_eq!(t.g.u64_at(out + 16), 600);
    assert_eq!(t.g.u64_at(out + 40), 400, "offline until it first ran");
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_GET_RUNSTATE_INFO, 0, BASE + 4095]), EFAULT);
    let arg = BASE + 512;
    t.g.put_u64s(arg, &[BASE + 1024]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, arg]), 0);
    // Xen copies the current vCPU's runstate as it stands: the stay in
    // progress is not counted (get_runstate_info counts it).
    assert_eq!(t.g.u64_at(BASE + 1024 + 16), 0, "running time as of the last switch");
    assert_eq!(t.g.u64_at(BASE + 1024 + 40), 400);
    assert_eq!(t.v.time.runstate_area, BASE + 1024);
    t.g.put_u64s(arg, &[0xFFFF_8000_0000_0000]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, arg]), EFAULT, "hypervisor space");
    t.g.put_u64s(arg, &[0x10]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, arg]), 0, "unmapped: copy ignored");
    t.g.put_u64s(arg, &[0]);
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, arg]), 0);
    assert_eq!(t.v.time.runstate_area, 0, "0 unregisters");
    assert_eq!(t.rc(N::VCPU_OP, &[VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, 0]), EFAULT);
}

#[test]
fn block_unmasks_first_and_returns_at_once_when_an_event_is_pending() {
    let mut t = T::new();
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_BLOCK, 0]), (0, Action::Block));
    assert!(!upcall_masked(&t.w.mem, t.v.vcpu_info_location()), "upcall_mask cleared");
    assert_eq!(t.v.time.wait, Wait::Block);
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr() + 1), &[1]);
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr()), &[1]);
    t.v.time.wait = Wait::None;
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_BLOCK, 0]), (0, Action::Continue));
    assert!(!upcall_masked(&t.w.mem, t.v.vcpu_info_location()));
    assert_eq!(t.call(N::SCHED_OP_COMPAT, &[SCHEDOP_BLOCK, 0]), (0, Action::Continue));
}

#[test]
fn poll_checks_arguments_in_xens_order() {
    let mut t = T::new();
    set_now(10_000);
    let arg = BASE + 64;
    let ports = BASE + 256;
    let poll = |t: &mut T, nr: u64, timeout: u64, list: &[u32]| {
        for (k, p) in list.iter().enumerate() {
            t.g.put(ports + 4 * k as u64, &p.to_le_bytes());
        }
        t.g.put_u64s(arg, &[ports, nr, timeout]);
        t.call(N::SCHED_OP, &[SCHEDOP_POLL, arg])
    };
    assert_eq!(poll(&mut t, 129, 0, &[]), (EINVAL, Action::Continue), "more than 128 ports");
    assert_eq!(poll(&mut t, u64::from(u32::MAX) + 2, 0, &[0]).0, EINVAL, "nr_ports is 32 bits: 1 port, unbound");
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_POLL, 0]).0, EFAULT);
    t.g.put_u64s(arg, &[0xFFFF_8000_0000_0000, 1, 0]);
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_POLL, arg]).0, EFAULT, "ports in hypervisor space");
    t.g.put_u64s(arg, &[BASE + 4094, 1, 0]);
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_POLL, arg]).0, EFAULT, "port array faults");
    assert_eq!(poll(&mut t, 1, 0, &[4096]), (EINVAL, Action::Continue), "port past the 2-level limit");
    assert_eq!(poll(&mut t, 1, 20_000, &[7]), (EINVAL, Action::Continue), "no port is bound (Xen: -EINVAL)");
    assert_eq!(poll(&mut t, 0, 20_000, &[]), (0, Action::Block));
    assert_eq!(t.v.time.wait, Wait::Poll { port: None, deadline: Some(SystemTime(20_000)) });
    assert_eq!(poll(&mut t, 0, 0, &[]), (0, Action::Block));
    assert_eq!(t.v.time.wait, Wait::Poll { port: None, deadline: None });
    assert_eq!(poll(&mut t, 0, 5_000, &[]), (0, Action::Continue), "timeout already past");
    assert!(upcall_masked(&t.w.mem, t.v.vcpu_info_location()), "poll leaves the mask alone");
}

#[test]
fn poll_returns_at_once_for_an_unmasked_pending_event_only() {
    let mut t = T::new();
    let arg = BASE + 64;
    t.g.put_u64s(arg, &[BASE, 0, 0]);
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr()), &[1]);
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_POLL, arg]), (0, Action::Block), "masked: sleeps");
    t.w.mem.write_bytes(PhysAddr(SHARED.to_maddr() + 1), &[0]);
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_POLL, arg]), (0, Action::Continue));
}

#[test]
fn block_on_a_timer_already_due_fires_it_and_returns_at_once() {
    let mut t = T::new();
    t.bind_timer();
    set_now(50_000);
    t.v.time.timers.singleshot = Some(SystemTime(60_000));
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_BLOCK, 0]), (0, Action::Block), "not due yet: sleeps");
    assert!(!t.pending());
    t.v.time.wait = Wait::None;
    set_now(60_000);
    assert_eq!(t.call(N::SCHED_OP, &[SCHEDOP_BLOCK, 0]), (0, Action::Continue), "due: VIRQ_TIMER, no sleep");
    assert!(t.pending());
    assert_eq!(t.v.time.timers.singleshot, None);
    assert_eq!(t.v.time.wait, Wait::None);
}
