//! `multicall`: per-entry results, Xen's rules on nesting, faults, `iret`
//! and preemption (fact sheet §4.1), through the same dispatch as direct
//! hypercalls.

use super::*;
use crate::mm::tests::world::{D0, D1};
use abi::hypercall::HypercallNr as N;
use abi::mmu::MMU_UPDATE_PREEMPTED;
use abi::Errno;

const SELF: u64 = 0x7FF0;
const LIST: u64 = BASE;

fn put_entry(g: &FakeGuest, i: u64, op: u64, args: &[u64]) {
    let mut words = [0u64; 8];
    words[0] = op;
    words[1] = 0x5555;
    words[2..2 + args.len()].copy_from_slice(args);
    g.put_u64s(LIST + i * 64, &words);
}

fn result(g: &FakeGuest, i: u64) -> i64 {
    g.u64_at(LIST + i * 64 + 8) as i64
}

fn err(e: Errno) -> i64 {
    e.to_rax()
}

#[test]
fn each_entry_gets_its_own_result_and_a_failing_entry_does_not_stop_the_list() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    put_entry(&g, 0, N::XEN_VERSION.0, &[0, 0]);
    put_entry(&g, 1, 99, &[]);
    put_entry(&g, 2, N::XEN_VERSION.0, &[7, 0]);
    put_entry(&g, 3, N::XEN_VERSION.0, &[7, 1]);
    let (rax, entries) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 4]);
    assert_eq!((rax, entries), (0, 1));
    assert_eq!(result(&g, 0), 0x0004_0011);
    assert_eq!(result(&g, 1), err(Errno::ENOSYS), "an unknown hypercall fails in its result only");
    assert_eq!(result(&g, 2), 4096);
    assert_eq!(result(&g, 3), err(Errno::EINVAL));
}

#[test]
fn a_multicall_inside_a_multicall_gets_einval_and_the_outer_list_goes_on() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    put_entry(&g, 0, N::MULTICALL.0, &[LIST, 1]);
    put_entry(&g, 1, N::XEN_VERSION.0, &[0, 0]);
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 2]);
    assert_eq!(rax, 0);
    assert_eq!(result(&g, 0), err(Errno::EINVAL));
    assert_eq!(result(&g, 1), 0x0004_0011);
}

#[test]
fn a_list_outside_guest_space_is_efault_with_nothing_run() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    for (list, n) in [(0xFFFF_8000_0000_0000u64, 1u64), ((1 << 47) - 64, 2), ((1 << 47) - 64 * 1000, 2000)] {
        let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[list, n]);
        assert_eq!(rax as i64, err(Errno::EFAULT), "{list:#x} {n}");
    }
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 0]);
    assert_eq!(rax, 0, "an empty list");
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 1 << 32]);
    assert_eq!(rax, 0, "nr_calls is 32 bits");
}

#[test]
fn an_unreadable_entry_stops_the_list_with_efault_after_the_entries_before_it() {
    let mut w = World::new(64);
    let g = FakeGuest::new(128);
    put_entry(&g, 0, N::XEN_VERSION.0, &[0, 0]);
    put_entry(&g, 1, N::XEN_VERSION.0, &[0, 0]);
    // Entry 2 lies in guest space but past the fake guest's memory.
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 3]);
    assert_eq!(rax as i64, err(Errno::EFAULT));
    assert_eq!((result(&g, 0), result(&g, 1)), (0x0004_0011, 0x0004_0011));
}

#[test]
fn iret_ends_the_list() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    put_entry(&g, 0, N::IRET.0, &[]);
    put_entry(&g, 1, N::XEN_VERSION.0, &[0, 0]);
    let mut ctx = regs(N::MULTICALL.0, &[LIST, 2]);
    // The stack is outside the fake guest: iret cannot read its frame.
    ctx.rsp = 0x7000;
    let action = enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(action, Action::Crash(&"iret frame unreadable"));
    assert_eq!(result(&g, 1), 0x5555, "the entry after iret is not run");
}

#[test]
fn a_direct_iret_reads_its_whole_frame_in_one_guest_access() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    let sp = BASE + 0x1000;
    let frame = [7, 0x11, 0x22, 0, 0x40_5000, 0xE030, 0x202, BASE + 0x1800, 0xE02B];
    for (k, v) in frame.iter().enumerate() {
        g.bytes.borrow_mut()[0x1000 + k * 8..0x1008 + k * 8].copy_from_slice(&v.to_le_bytes());
    }
    let mut ctx = regs(N::IRET.0, &[]);
    ctx.rsp = sp;
    let action = enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(action, Action::Continue);
    assert_eq!((ctx.rip, ctx.rsp, ctx.gpr[crate::domain::vcpu::reg::RAX]), (0x40_5000, BASE + 0x1800, 7));
    assert_eq!(g.reads.get(), 1, "one read for the 72-byte frame");
}

#[test]
fn the_list_is_preempted_between_entries_and_continues_from_the_first_not_run() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    for i in 0..5 {
        put_entry(&g, i, N::XEN_VERSION.0, &[7, 0]);
    }
    w.hooks.preempt_batch_after = Some(8);
    let mut ctx = regs(N::MULTICALL.0, &[LIST, 5]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(ctx.rip, RIP - 2, "the multicall is executed again");
    assert_eq!((ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (LIST + 2 * 64, 3));
    assert_eq!((result(&g, 1), result(&g, 2)), (4096, 0x5555));
    let (rax, entries) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST + 128, 3]);
    assert_eq!((rax, entries), (0, 2));
    assert!((0..5).all(|i| result(&g, i) == 4096));
}

#[test]
fn a_preempted_entry_gets_its_continuation_written_back_and_finishes_like_a_direct_call() {
    let mut w = World::new(256);
    let f = w.give(D1, 1);
    let g = FakeGuest::new(64 * 1024);
    let reqs = BASE + 4096;
    for i in 0..10u64 {
        g.put_u64s(reqs + i * 16, &[f[0].to_maddr() + i * 8, 0x100 + i]);
    }
    let pdone = BASE + 60_000;
    put_entry(&g, 0, N::MMU_UPDATE.0, &[reqs, 10, pdone, SELF]);
    put_entry(&g, 1, N::XEN_VERSION.0, &[0, 0]);
    w.hooks.preempt_batch_after = Some(2);
    let mut ctx = regs(N::MULTICALL.0, &[LIST, 2]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(ctx.rip, RIP - 2);
    assert_eq!((ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (LIST, 2), "the multicall resumes at the preempted entry");
    // The guest's entry now holds mmu_update's continuation.
    assert_eq!(g.u64_at(LIST), N::MMU_UPDATE.0);
    assert_eq!(result(&g, 0), N::MMU_UPDATE.0 as i64);
    assert_eq!(g.u64_at(LIST + 16), reqs + 3 * 16);
    assert_eq!(g.u64_at(LIST + 24), 7 | u64::from(MMU_UPDATE_PREEMPTED));
    assert_eq!(result(&g, 1), 0x5555, "the next entry waits");
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MULTICALL.0, &[LIST, 2]);
    assert_eq!(rax, 0);
    assert_eq!((result(&g, 0), g.u32_at(pdone)), (0, 10));
    assert!((0..10).all(|i| w.read(f[0], i) == 0x100 + i as u64));
    assert_eq!(result(&g, 1), 0x0004_0011);
    w.check();
}

#[test]
fn a_yield_inside_the_list_lets_others_run_and_the_rest_is_a_continuation() {
    let mut w = World::new(64);
    let g = FakeGuest::new(8192);
    put_entry(&g, 0, N::SCHED_OP.0, &[0, 0]);
    put_entry(&g, 1, N::XEN_VERSION.0, &[0, 0]);
    let mut ctx = regs(N::MULTICALL.0, &[LIST, 2]);
    assert_eq!(enter(&mut w, D0, &g, &mut Sink::default(), &mut ctx), Action::Yield);
    assert_eq!(result(&g, 0), 0);
    assert_eq!((ctx.rip, ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (RIP - 2, LIST + 64, 1));
    assert_eq!(result(&g, 1), 0x5555);
}
