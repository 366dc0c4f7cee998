//! Preemption with continuations (issue 8, F5): a long hypercall stops
//! between two pieces of work, rewrites its argument registers to describe
//! what is left, and the guest's re-executed hypercall finishes it with the
//! same result as an unpreempted one.

use super::*;
use crate::mm::tests::world::{D0, D1};
use abi::hypercall::HypercallNr as N;
use abi::mmu::{MMUEXT_CLEAR_PAGE, MMU_UPDATE_PREEMPTED};
use proptest::prelude::*;

const SELF: u64 = 0x7FF0;

/// Domain 1 with `n` fresh frames and a guest holding `n_reqs` requests
/// writing word i of frame i % n with 0x100 + i.
fn mmu_world(n: usize, n_reqs: u64) -> (World, Vec<Mfn>, FakeGuest) {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let f = w.give(D1, n);
    let g = FakeGuest::new(64 * 1024);
    for i in 0..n_reqs {
        let frame = f[i as usize % n];
        g.put_u64s(BASE + i * 16, &[frame.to_maddr() + (i % 512) * 8, 0x100 + i]);
    }
    (w, f, g)
}

#[test]
fn a_preempted_mmu_update_points_its_arguments_at_the_requests_left_and_reports_progress() {
    let (mut w, f, g) = mmu_world(1, 10);
    w.hooks.preempt_batch_after = Some(2);
    let pdone = BASE + 60_000;
    let mut ctx = regs(N::MMU_UPDATE.0, &[BASE, 10, pdone, SELF]);
    assert_eq!(enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx), Action::Continue);
    assert_eq!(ctx.rip, RIP - 2, "the instruction is executed again");
    assert_eq!(ctx.gpr[reg::RAX], N::MMU_UPDATE.0);
    assert_eq!(ctx.gpr[reg::RDI], BASE + 3 * 16, "three requests done");
    assert_eq!(ctx.gpr[reg::RSI], 7 | u64::from(MMU_UPDATE_PREEMPTED));
    assert_eq!(g.u32_at(pdone), 3);
    assert_eq!((w.read(f[0], 2), w.read(f[0], 3)), (0x102, 0));
    // The guest executes it again with the registers as left.
    ctx.rip = RIP;
    assert_eq!(enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx), Action::Continue);
    assert_eq!(ctx.gpr[reg::RDI], BASE + 6 * 16);
    assert_eq!(g.u32_at(pdone), 6, "pdone counts from the start of the whole call");
}

#[test]
fn a_preempted_mmu_update_finishes_with_the_result_of_an_unpreempted_one() {
    let (mut w, f, g) = mmu_world(2, 40);
    w.hooks.preempt_batch_after = Some(4);
    let pdone = BASE + 60_000;
    let (rax, entries) = run(&mut w, D1, &g, &mut Sink::default(), N::MMU_UPDATE.0, &[BASE, 40, pdone, SELF]);
    assert_eq!((rax, g.u32_at(pdone)), (0, 40));
    assert_eq!(entries, 8, "five requests per entry");
    assert!((0..40).all(|i| w.read(f[i as usize % 2], (i % 512) as usize) == 0x100 + i));
    w.check();
}

#[test]
fn a_preempted_mmuext_op_continues_after_the_operations_done() {
    let mut w = World::new(256);
    let f = w.give(D1, 6);
    for &m in &f {
        w.poke(m, 0, 0xdead);
    }
    let g = FakeGuest::new(4096);
    for (i, m) in f.iter().enumerate() {
        g.put_u64s(BASE + i as u64 * 24, &[u64::from(MMUEXT_CLEAR_PAGE), m.0, 0]);
    }
    // A page clear costs 64 units: two per entry.
    w.hooks.preempt_batch_after = Some(64);
    let pdone = BASE + 2048;
    let mut ctx = regs(N::MMUEXT_OP.0, &[BASE, 6, pdone, SELF]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(ctx.rip, RIP - 2);
    assert_eq!((ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (BASE + 2 * 24, 4 | u64::from(MMU_UPDATE_PREEMPTED)));
    assert_eq!((w.read(f[1], 0), w.read(f[2], 0)), (0, 0xdead));
    ctx.rip = RIP;
    let mut entries = 1;
    while {
        enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
        ctx.rip == RIP - 2
    } {
        ctx.rip = RIP;
        entries += 1;
    }
    assert_eq!((ctx.gpr[reg::RAX], g.u32_at(pdone), entries + 1), (0, 6, 3));
    assert!(f.iter().all(|&m| w.read(m, 0) == 0));
}

/// A `xen_memory_reservation` at `BASE + 3072` for `n` order-0 extents
/// whose array is at `BASE`.
fn reservation(g: &FakeGuest, n: u64) -> u64 {
    let arg = BASE + 3072;
    g.put_u64s(arg, &[BASE, n, 0, u64::from(DomId::SELF.0)]);
    arg
}

#[test]
fn a_preempted_increase_reservation_carries_its_progress_in_the_command() {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let g = FakeGuest::new(4096);
    let arg = reservation(&g, 10);
    w.hooks.preempt_batch_after = Some(2);
    let mut ctx = regs(N::MEMORY_OP.0, &[0, arg]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(ctx.rip, RIP - 2);
    assert_eq!(ctx.gpr[reg::RDI], 3 << abi::memory::MEMOP_EXTENT_SHIFT, "sub-op 0, start extent 3");
    assert_eq!(ctx.gpr[reg::RSI], arg);
    assert_eq!(w.doms[1].tot_pages, 3);
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MEMORY_OP.0, &[ctx.gpr[reg::RDI], arg]);
    assert_eq!(rax, 10, "the extents of the whole call, the first three included");
    assert_eq!(w.doms[1].tot_pages, 10);
    assert_eq!((0..10).map(|i| g.u64_at(BASE + i * 8)).collect::<Vec<_>>(), (100..110).collect::<Vec<_>>());
    w.check();
}

#[test]
fn a_preempted_console_write_continues_with_the_bytes_left() {
    let mut w = World::new(16);
    let g = FakeGuest::new(4096);
    let text: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    g.put(BASE, &text);
    w.hooks.preempt_batch_after = Some(100);
    let mut out = Sink::default();
    let mut ctx = regs(N::CONSOLE_IO.0, &[abi::console::CONSOLEIO_WRITE, 1000, BASE]);
    enter(&mut w, D0, &g, &mut out, &mut ctx);
    assert_eq!(ctx.rip, RIP - 2);
    assert_eq!((ctx.gpr[reg::RSI], ctx.gpr[reg::RDX]), (1000 - 256, BASE + 256), "two chunks written");
    assert_eq!(out.0, text[..256]);
    let (rax, entries) = run(&mut w, D0, &g, &mut out, N::CONSOLE_IO.0, &[0, 1000 - 256, BASE + 256]);
    assert_eq!((rax, entries), (0, 3));
    assert_eq!(out.0, text, "every byte once, in order");
}

#[test]
fn an_unpreempted_hypercall_leaves_its_arguments_alone() {
    let (mut w, _, g) = mmu_world(1, 3);
    let mut ctx = regs(N::MMU_UPDATE.0, &[BASE, 3, 0, SELF]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!((ctx.rip, ctx.gpr[reg::RAX], ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (RIP, 0, BASE, 3));
}

/// One step of the equivalence property: a hypercall and its arguments.
#[derive(Clone, Debug)]
enum Step {
    /// `n` requests from request `first`, the one at `bad` (if any) broken.
    Mmu {
        first: u64,
        n: u64,
        bad: Option<u64>,
    },
    Increase {
        n: u64,
    },
    Decrease {
        n: u64,
    },
    Populate {
        n: u64,
    },
    Console {
        len: u64,
    },
    /// `n` frames (the domain's own first, then others) for extents of `order`.
    Exchange {
        n: u64,
        order: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..60u64, 1..40u64, proptest::option::of(0..40u64)).prop_map(|(first, n, bad)| Step::Mmu { first, n, bad }),
        (1..12u64).prop_map(|n| Step::Increase { n }),
        (1..12u64).prop_map(|n| Step::Decrease { n }),
        (1..12u64).prop_map(|n| Step::Populate { n }),
        (1..2000u64).prop_map(|len| Step::Console { len }),
        (1..16u64, 0..3u32).prop_map(|(n, order)| Step::Exchange { n, order }),
    ]
}

/// Runs `steps` with batches preempted after `limit` units of work (never
/// if `None`); returns every result, the console output and the final state.
fn outcome(steps: &[Step], limit: Option<u32>) -> (Vec<(u64, u32)>, Vec<u8>, crate::mm::tests::world::Snapshot) {
    let (mut w, f, g) = mmu_world(3, 100);
    w.hooks.preempt_batch_after = limit;
    let mut out = Sink::default();
    let mut results = vec![];
    let pdone = BASE + 60_000;
    for s in steps {
        g.put(pdone, &[0; 4]);
        let (nr, args) = match *s {
            Step::Mmu { first, n, bad } => {
                if let Some(b) = bad {
                    // A frame domain 1 does not own.
                    g.put_u64s(BASE + (first + b) * 16, &[Mfn(250).to_maddr(), 0]);
                }
                (N::MMU_UPDATE.0, vec![BASE + first * 16, n, pdone, SELF])
            }
            Step::Increase { n } | Step::Decrease { n } | Step::Populate { n } => {
                let arr = BASE + 40_000;
                let op = match s {
                    Step::Increase { .. } => 0,
                    Step::Decrease { .. } => {
                        // Give back frames it has (some twice: those fail).
                        let mfns: Vec<u64> = (0..n).map(|i| f[i as usize % 3].0.max(100 + i)).collect();
                        g.put_u64s(arr, &mfns);
                        1
                    }
                    _ => {
                        g.put_u64s(arr, &(0..n).map(|i| 500 + i).collect::<Vec<_>>());
                        6
                    }
                };
                let res = BASE + 50_000;
                g.put_u64s(res, &[arr, n, 0, u64::from(DomId::SELF.0)]);
                (N::MEMORY_OP.0, vec![op, res])
            }
            Step::Console { len } => (N::CONSOLE_IO.0, vec![abi::console::CONSOLEIO_WRITE, len, BASE]),
            Step::Exchange { n, order } => {
                let (ins, outs, arg) = (BASE + 40_000, BASE + 45_000, BASE + 50_000);
                let n = n & !((1 << order) - 1);
                let mfns: Vec<u64> = f.iter().map(|m| m.0).chain(100..).take(n as usize).collect();
                g.put_u64s(ins, &mfns);
                g.put_u64s(outs, &(0..n).map(|i| 700 + i).collect::<Vec<_>>());
                let me = u64::from(DomId::SELF.0);
                g.put_u64s(arg, &[ins, n, 0, me, outs, n >> order, u64::from(order), me, 0]);
                (N::MEMORY_OP.0, vec![abi::memory::XENMEM_EXCHANGE, arg])
            }
        };
        let dom = if matches!(s, Step::Console { .. }) { D0 } else { D1 };
        let (rax, _) = run(&mut w, dom, &g, &mut out, nr, &args);
        results.push((rax, g.u32_at(pdone)));
        if let Step::Exchange { .. } = s {
            results.push((g.u64_at(BASE + 50_064), 0));
        }
    }
    w.check();
    (results, out.0, w.snapshot())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Preempting at every possible point, at random points, or never gives
    /// the same results, the same console output and the same final state.
    #[test]
    fn preemption_anywhere_changes_no_result(steps in proptest::collection::vec(step(), 1..6), limit in 1..50u32) {
        let never = outcome(&steps, None);
        let always = outcome(&steps, Some(0));
        let sometimes = outcome(&steps, Some(limit));
        prop_assert_eq!(&never, &always);
        prop_assert_eq!(&never, &sometimes);
    }
}

#[test]
fn a_preempted_exchange_keeps_its_arguments_and_records_progress_in_the_guest() {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let f = w.give(D1, 6);
    let g = FakeGuest::new(4096);
    let (ins, outs, arg) = (BASE, BASE + 1024, BASE + 2048);
    g.put_u64s(ins, &f.iter().map(|m| m.0).collect::<Vec<_>>());
    g.put_u64s(outs, &[500, 502, 504]);
    let me = u64::from(DomId::SELF.0);
    g.put_u64s(arg, &[ins, 6, 0, me, outs, 3, 1, me, 0]);
    w.hooks.preempt_batch_after = Some(2);
    let mut ctx = regs(N::MEMORY_OP.0, &[abi::memory::XENMEM_EXCHANGE, arg]);
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!(ctx.rip, RIP - 2);
    assert_eq!((ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (abi::memory::XENMEM_EXCHANGE, arg), "arguments unchanged");
    assert_eq!(g.u64_at(arg + 64), 4, "nr_exchanged: two order-1 chunks of two frames each");
    let (rax, _) = run(&mut w, D1, &g, &mut Sink::default(), N::MEMORY_OP.0, &[abi::memory::XENMEM_EXCHANGE, arg]);
    assert_eq!((rax, g.u64_at(arg + 64)), (0, 6));
    assert_eq!(w.doms[1].tot_pages, 6);
    assert!((0..3).all(|j| w.info(Mfn(g.u64_at(outs + j * 8))).owner() == D1));
    w.check();
}

/// A one-request `mmuext_op` (the single-request path) whose pin runs out
/// of validation budget continues as Xen's do: the instruction again, the
/// same request, the count with the continuation bit and nothing done.
#[test]
fn a_preempted_single_pin_continues_with_the_count_marked_and_then_pins() {
    let mut w = World::new(256);
    let f = w.give(D1, 3);
    let (l1, data) = (f[0], f[1]);
    for i in 0..8 {
        w.update(D1, l1, i, data.to_maddr() | crate::mm::tests::world::RO).unwrap();
    }
    let g = FakeGuest::new(4096);
    g.put_u64s(BASE, &[u64::from(abi::mmu::MMUEXT_PIN_L1_TABLE), l1.0, 0]);
    w.hooks.budget = Some(2);
    let mut ctx = regs(N::MMUEXT_OP.0, &[BASE, 1, 0, SELF]);
    assert_eq!(enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx), Action::Continue);
    assert_eq!(ctx.rip, RIP - 2, "the instruction is executed again");
    assert_eq!(ctx.gpr[reg::RAX], N::MMUEXT_OP.0);
    assert_eq!((ctx.gpr[reg::RDI], ctx.gpr[reg::RSI]), (BASE, 1 | u64::from(MMU_UPDATE_PREEMPTED)));
    w.hooks.budget = None;
    ctx.rip = RIP;
    enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    assert_eq!((ctx.rip, ctx.gpr[reg::RAX]), (RIP, 0), "the continuation pins the table");
    w.check();
}
