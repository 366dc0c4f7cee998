//! Event-channel rows: a loopback channel (an unbound port of domain 0's
//! own, bound to by domain 0 itself), `EVTCHNOP_send` on it with upcalls
//! masked (the sender's path: pending, selector and upcall_pending set),
//! then with upcalls unmasked (send → upcall to the event callback →
//! `iret` back), then a ping-pong round trip between the channel's two
//! ends (send on one → upcall, whose callback sends on the other → that
//! upcall, delivered again at the callback's `iret` → `iret` back), and
//! `set_timer_op` 1 µs ahead plus `SCHEDOP_block` through to the
//! VIRQ_TIMER upcall and the block's return. shared_info is mapped at an
//! empty bench-L1 slot; between iterations the bench clears what the send
//! set.

use crate::arch::{self, page_call, Timed};
use crate::fixture::{self, mmu_update, pte, Fixture, BENCH_VA, RWF};
use crate::ops::{ok, Bench, Sample};
use abi::event_channel::*;
use abi::hypercall::HypercallNr as N;
use abi::start_info::StartInfo;
use abi::DomId;

const SHARED_SLOT: usize = 509;
/// vCPU 0's vcpu_info word 0: upcall_pending (byte 0), upcall_mask (byte 1).
const UPCALL_MASKED: u64 = 1 << 8;
const PENDING_SEL: u64 = 8;
const PENDING: u64 = 2048;
const MASK: u64 = 2048 + 64 * 8;
/// How long the bench guest blocks after the event rows (see [`timer_row`]).
const IDLE_PAUSE_NS: u64 = 50_000_000;

const KEYS: [&str; 4] = ["evtchn_send", "evtchn_upcall", "evtchn_ping_pong", "timer_block"];

fn evtchn<T>(cmd: u64, op: &mut T) -> Timed {
    page_call(N::EVENT_CHANNEL_OP.0, [cmd, op as *mut T as u64, 0, 0, 0])
}

/// Sets up the channel and runs the rows (`n/a` where the hypervisor has
/// no event channels).
pub fn rows(b: &mut Bench, f: &Fixture, si: &StartInfo) {
    let mut unbound = AllocUnbound { dom: DomId::SELF, remote_dom: DomId::SELF, port: 0 };
    let t = evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut unbound);
    if t.rax != 0 {
        for key in KEYS {
            b.unavailable(key, t.rax);
        }
        return;
    }
    let si_va = BENCH_VA + SHARED_SLOT as u64 * 4096;
    if mmu_update(&[pte(f.l1, SHARED_SLOT, (si.shared_info & !0xFFF) | RWF)]) != 0 {
        fixture::fail("map shared_info", -1);
    }
    if let Err(e) = arch::event_setup(si_va) {
        fixture::fail("register the event callback", -i64::from(e.0));
    }
    let clear = || {
        arch::write(si_va, UPCALL_MASKED);
        arch::write(si_va + PENDING_SEL, 0);
        arch::write(si_va + PENDING, 0);
    };
    // Binding marks the new port pending (Xen's rule, for notifications
    // the unbound end may have missed): upcalls stay masked until a row
    // wants one.
    clear();
    let mut bind = BindInterdomain { remote_dom: DomId::SELF, pad: 0, remote_port: unbound.port, local_port: 0 };
    let t = evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut bind);
    if t.rax != 0 || unbound.port >= 64 || bind.local_port >= 64 {
        fixture::fail("bind a loopback event channel", t.rax);
    }
    clear();
    arch::write(si_va + MASK, 0);
    let port = bind.local_port;
    b.row(KEYS[0], 1, 1, || {
        let s = ok(evtchn(EVTCHNOP_SEND, &mut { port }));
        clear();
        s
    });
    b.row(KEYS[1], 1, 1, || {
        arch::write(si_va, 0);
        let s = ok(evtchn(EVTCHNOP_SEND, &mut { port }));
        // The callback cleared everything; a pending word still set means
        // no upcall came.
        let delivered = arch::read(si_va + PENDING) == 0;
        clear();
        if delivered {
            s
        } else {
            Sample::Failed(-1)
        }
    });
    b.row(KEYS[2], 1, 1, || {
        arch::write(si_va, 0);
        arch::arm_pong(unbound.port);
        let s = ok(evtchn(EVTCHNOP_SEND, &mut { port }));
        // Both upcalls came: the pong went out and the callback then
        // cleared what it set.
        let delivered = !arch::pong_armed() && arch::read(si_va + PENDING) == 0;
        clear();
        if delivered {
            s
        } else {
            Sample::Failed(-1)
        }
    });
    timer_row(b, si_va, clear);
    let _ = mmu_update(&[pte(f.l1, SHARED_SLOT, 0)]);
}

/// `set_timer_op(now + 1 µs)` + `SCHEDOP_block` through to wake-up: the
/// block unmasks events and returns after the VIRQ_TIMER upcall (or at
/// once, with the upcall on the way out, if the timer fired before it).
fn timer_row(b: &mut Bench, si_va: u64, clear: impl Fn()) {
    let mut bind = BindVirq { virq: virq::TIMER, vcpu: 0, port: 0 };
    let t = evtchn(EVTCHNOP_BIND_VIRQ, &mut bind);
    if t.rax != 0 || bind.port >= 64 {
        return b.unavailable(KEYS[3], t.rax.min(-1));
    }
    clear();
    b.row(KEYS[3], 1, 1, || {
        let s = ok(arch::timer_block(now_ns(si_va) + 1000));
        clear();
        s
    });
    // The idle pause the next rows rely on: 50 ms blocked, untimed. Both
    // hypervisors scrub freed frames when idle (Xen 4.17 since 4.10).
    let _ = arch::timer_block(now_ns(si_va) + IDLE_PAUSE_NS);
    clear();
    let _ = evtchn(EVTCHNOP_CLOSE, &mut { bind.port });
    clear();
}

/// System time in ns from vCPU 0's `vcpu_time_info` in the shared_info
/// mapping at `si` (the version protocol, pvclock arithmetic).
fn now_ns(si: u64) -> u64 {
    loop {
        let v0 = arch::read(si + 32);
        let (tsc, st, w) = (arch::read(si + 40), arch::read(si + 48), arch::read(si + 56));
        if v0 & 1 != 0 || arch::read(si + 32) != v0 {
            continue;
        }
        let (mul, shift) = (w as u32, (w >> 32) as u8 as i8);
        let d = arch::rdtsc().wrapping_sub(tsc);
        let d = if shift >= 0 { d << shift } else { d >> -shift };
        return st + ((u128::from(d) * u128::from(mul)) >> 32) as u64;
    }
}
